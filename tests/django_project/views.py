"""The test project's views: each exercises one thing an app does with request.session."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wsgisession import TooManySessions


def text(body: object) -> HttpResponse:
    return HttpResponse(str(body), content_type="text/plain; charset=utf-8")


def visit(request):
    """The express-session tutorial's counter."""
    request.session["n"] = request.session.get("n", 0) + 1
    return text(request.session["n"])


def show(request):
    return JsonResponse(dict(request.session))


def key(request):
    """Django's idiom for "give this visitor a session key": save the (empty) session if it has none."""
    if not request.session.session_key:
        request.session.save()
    return text(request.session.session_key)


@csrf_exempt  # (the CSRF test has its own form)
@require_POST
def sign_in(request):
    user = authenticate(request, username=request.POST["username"], password=request.POST["password"])
    if user is None:
        return HttpResponseForbidden("wrong password")
    try:
        login(request, user)
    except TooManySessions as refused:  # max_sessions_policy="refuse"
        return HttpResponse(str(refused), status=409)
    return text(user.username)


@csrf_exempt
@require_POST
def sign_out(request):
    logout(request)
    return text("bye")


def whoami(request):
    """Who Django says is logged in, and who wsgisession's accounts say the session belongs to."""
    username = request.user.get_username()  # (first: Django's session-hash check may log the session out)
    bound = request.session.wsgisession.user_id
    devices = 0 if bound is None else len(request.session.accounts.sessions_of(bound))
    return JsonResponse({"user": username, "bound": bound, "devices": devices,
                         "n": request.session.get("n")})


@csrf_exempt
@require_POST
def change_password(request):
    """Django's PasswordChangeView in short: this session stays logged in, the user's others do not."""
    user = request.user
    user.set_password(request.POST["password"])
    user.save()
    update_session_auth_hash(request, user)
    return text("changed")


def add_message(request):
    messages.info(request, request.GET["text"])
    return text("added")


def show_messages(request):
    return text("|".join(message.message for message in messages.get_messages(request)))


def form(request):
    return text(get_token(request))


@require_POST
def submit(request):  # CSRF-protected (CsrfViewMiddleware)
    return text("accepted")


def race(request):
    """Load the session, wait until the other request has loaded it too, then change one key."""
    request.session.get("n")
    settings.RACE_BARRIER.wait(timeout=10)
    request.session[request.GET["key"]] = True
    return text("set")


def expiry(request):
    if "seconds" in request.GET:
        request.session.set_expiry(int(request.GET["seconds"]) if request.GET["seconds"] else None)
    return JsonResponse({"age": request.session.get_expiry_age(),
                         "at_browser_close": request.session.get_expire_at_browser_close()})


def stream(request):
    """A streamed body that first uses the session after its headers went out."""

    def chunks() -> Iterator[bytes]:
        yield b"first "
        request.session["streamed"] = True
        yield b"second"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def async_visit(request):
    """The counter, through the async API (an async view; Django's own alogin() uses the same)."""
    await request.session.aset("n", await request.session.aget("n", 0) + 1)
    user = await request.auser()
    return JsonResponse({"n": await request.session.aget("n"), "user": user.get_username()})


def fail(request):
    """A view that changes the session, then answers 500 (``?raise=1``: raises, and Django makes the 500)."""
    request.session["half"] = "done"
    if "raise" in request.GET:
        raise RuntimeError("the view failed halfway")
    return HttpResponse("failed", status=500)
