"""The express-session tutorial's visit counter, and account pages, on wsgisession, served by waitress.

    python3 demo.py                      # sessions in ./sessions.sqlite3 (SESSION_DB to change)
    SESSION_STORE=redis://127.0.0.1:6379/0 python3 demo.py   # any store URL: redis://, mongodb://, sqlite:///
    MONGODB_URI=mongodb://127.0.0.1:27017/wsgisession python3 demo.py   # sessions in MongoDB (as before)

Open http://127.0.0.1:8080/ and reload: the count goes up. Restart the demo: it goes on, because
the sessions live in a database. Delete the ``connect.sid`` cookie: a new session starts at 1.

    GET  /                          the counter: "Hola has visto esta página N"
    GET  /login?user=NAME           log in as NAME (demo only: no password), then to /sessions
    GET  /logout                    log out (record destroyed, cookie expired), then to /
    GET  /sessions                  your sessions: browser, times, "End" one, log out the others
    POST /sessions/revoke           end one of them (fields: handle, csrf)
    POST /sessions/revoke-others    end all but this one (field: csrf)
    GET  /metrics                   the session events, in Prometheus's text format

Log in under one name in two browsers (or a private window) and end one from the other.
Environment: PORT (8080), HOST (127.0.0.1), SESSION_SECRET, SESSION_STORE, SESSION_DB, MONGODB_URI.
"""

from __future__ import annotations

import hmac
import html
import logging
import os
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from wsgisession import Session, SessionMiddleware, get_session
from wsgisession.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

logger = logging.getLogger("demo")

USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # ASCII only: \w would take any Unicode letter
MAX_FORM = 4096  # bytes: the forms here send a handle and a token
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
# The pages list user agents, which any client can set: escaped, and no script may run anyway.
PRIVATE = [("Cache-Control", "no-store"),
           ("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")]


def counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """GET / counts this browser's visits in session["cuenta"]."""
    if environ.get("PATH_INFO", "/") != "/":
        body = b"Not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    session = get_session(environ)
    session["cuenta"] = session.get("cuenta", 0) + 1
    body = f"Hola has visto esta página {session['cuenta']}".encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class Refused(Exception):
    """A request the page cannot serve: answered with ``status`` and a one-line plain-text reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def respond(start_response: Any, status: str, text: str, content_type: str = TEXT,
            headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
    return [body]


def redirect(start_response: Any, location: str) -> list[bytes]:
    """303: the browser GETs ``location`` (after a form, a reload does not post it again)."""
    return respond(start_response, "303 See Other", f"See {location}\n", headers=[("Location", location)])


def read_form(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The url-encoded body of a POST, at most MAX_FORM bytes."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused("400 Bad Request", "Bad Content-Length.") from None
    if length > MAX_FORM:
        raise Refused("413 Content Too Large", f"A form here is at most {MAX_FORM} bytes.")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return parse_qs(body.decode("ascii"), max_num_fields=10)
    except ValueError:  # UnicodeDecodeError too: a url-encoded form is ASCII
        raise Refused("400 Bad Request", "Bad form.") from None


def csrf_token(session: Session) -> str:
    """The session's token for its forms, created on first need."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(16)
    return token


def when(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def post_button(action: str, token: str, label: str, **fields: str) -> str:
    hidden = "".join(f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
                     for name, value in {"csrf": token, **fields}.items())
    return f'<form method="post" action="{action}">{hidden}<button type="submit">{label}</button></form>'


def render_page(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en">\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"<h1>{title}</h1>\n<p><em>A demo: anyone can log in under any name, without a password.</em></p>\n"
            f'{body}\n<p><a href="/">Back to the counter</a></p>\n</html>\n')


LOGIN_FORM = """<p>You are not logged in.</p>
<form method="get" action="/login">
<label>Name <input name="user" required maxlength="64" pattern="[A-Za-z0-9._@\\-]+"></label>
<button type="submit">Log in</button> (1 to 64 letters, digits or <code>._-@</code>)
</form>"""


class Demo:
    """The demo's pages, inside the SessionMiddleware that the account pages ask for sessions.

    ::

        app = Demo(store, secret()).sessions    # the middleware: the WSGI app to serve
    """

    def __init__(self, store: Any, secret: str) -> None:
        self.sessions = SessionMiddleware(self.route, secret=secret, store=store)
        self.routes = {  # path -> (methods, page); None: any method, as the tutorial's counter
            "/": (None, counter),
            "/login": (("GET",), self.login),
            "/logout": (("GET",), self.logout),
            "/sessions": (("GET", "HEAD"), self.list_sessions),
            "/sessions/revoke": (("POST",), self.revoke),
            "/sessions/revoke-others": (("POST",), self.revoke_others),
            "/metrics": (("GET", "HEAD"), self.metrics),
        }

    def route(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", "/"))
        if route is None:
            return respond(start_response, "404 Not Found", "Not found\n")
        methods, page = route
        if methods is not None and environ["REQUEST_METHOD"] not in methods:
            return respond(start_response, "405 Method Not Allowed", "Method not allowed\n",
                           headers=[("Allow", ", ".join(methods))])
        try:
            return page(environ, start_response)
        except Refused as refused:
            return respond(start_response, refused.status, refused.reason + "\n")

    def login(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # Demo only: no password, so anyone can be anyone. A real app checks the credentials, sent
        # by POST with a CSRF token, and only then calls session.login().
        names = parse_qs(environ.get("QUERY_STRING", "")).get("user", [])
        if len(names) != 1 or not USER_NAME.fullmatch(names[0]):
            raise Refused("400 Bad Request", "user: 1 to 64 letters, digits or ._-@")
        session = get_session(environ)
        session.login(names[0])  # a new id (the old record goes), bound to the user
        session["csrf"] = secrets.token_urlsafe(16)  # and a new token: none from before the login
        return redirect(start_response, "/sessions")

    def logout(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # A GET, to keep the demo small: a real app logs out by POST, with the CSRF token, so that
        # another site cannot log its visitors out.
        get_session(environ).logout()  # record destroyed; the middleware expires the cookie
        return redirect(start_response, "/")

    def list_sessions(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = get_session(environ)
        user = session.user_id
        body = LOGIN_FORM if user is None else self.render_sessions(session, user)
        return respond(start_response, "200 OK", render_page("Your sessions", body), HTML, PRIVATE)

    def render_sessions(self, session: Session, user: str) -> str:
        token = csrf_token(session)
        rows = []
        for info in self.sessions.sessions_of(user, current=session):
            action = ("<strong>this device</strong>" if info.current
                      else post_button("/sessions/revoke", token, "End", handle=info.handle))
            rows.append(f"<tr><td>{html.escape(info.user_agent or 'unknown browser')}</td>"
                        f"<td>{when(info.created)}</td><td>{when(info.last_seen)}</td>"
                        f"<td>{when(info.expires)}</td><td>{action}</td></tr>")
        return (f"<p>Logged in as <strong>{html.escape(user)}</strong>. Visits counted on "
                f"<a href=\"/\">/</a>: {html.escape(str(session.get('cuenta', 0)))}.</p>\n"
                "<table>\n<thead><tr><th>Browser</th><th>Logged in</th><th>Last seen</th><th>Expires</th>"
                "<th></th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
                + post_button("/sessions/revoke-others", token, "Log out my other devices")
                + '\n<p><a href="/logout">Log out</a></p>')

    def posted_form(self, environ: dict[str, Any]) -> tuple[Session, str, dict[str, list[str]]]:
        """The session, its user and the POSTed form, once its CSRF token is checked."""
        fields = read_form(environ)
        session = get_session(environ)
        user = session.user_id
        if user is None:
            raise Refused("403 Forbidden", "You are not logged in (any more).")
        expected, given = session.get("csrf"), fields.get("csrf", [""])[0]
        # bytes: compare_digest refuses non-ASCII str, and the form's field is the client's
        if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), given.encode()):
            raise Refused("403 Forbidden", "Bad or missing CSRF token: reload the page and try again.")
        return session, user, fields

    def revoke(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        _, user, fields = self.posted_form(environ)
        self.sessions.revoke(user, fields.get("handle", [""])[0])  # False if it had ended: same page
        return redirect(start_response, "/sessions")

    def revoke_others(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session, user, _ = self.posted_form(environ)
        self.sessions.revoke_all(user, keep=session)
        return redirect(start_response, "/sessions")

    def metrics(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # Open here, for the demo. In production it belongs behind auth or on an internal port:
        # the counts tell anyone how many people log in.
        return respond(start_response, "200 OK", self.sessions.metrics(), METRICS_CONTENT_TYPE)


def make_store() -> Any:
    """The store SESSION_STORE names (any URL open_store takes), else MongoStore when MONGODB_URI is
    set, else the embedded SQLiteStore."""
    url = os.environ.get("SESSION_STORE")
    if url:
        from wsgisession.stores.url import open_store

        return open_store(url)
    uri = os.environ.get("MONGODB_URI")
    if uri:
        from wsgisession import MongoStore

        return MongoStore.from_url(uri)
    from wsgisession import SQLiteStore

    return SQLiteStore(os.environ.get("SESSION_DB", "sessions.sqlite3"))


DEVELOPMENT_SECRET = "wsgisession demo: development only, set SESSION_SECRET in production"


def secret() -> str:
    """SESSION_SECRET, or a fixed development secret (so sessions survive restarts) with a loud warning."""
    value = os.environ.get("SESSION_SECRET")
    if value:
        return value
    logger.warning(
        "SESSION_SECRET is not set: using a PUBLIC development secret, so anyone can forge session "
        "cookies. Set SESSION_SECRET to a long random string before serving real users, e.g. "
        "SESSION_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
    return DEVELOPMENT_SECRET


def make_app(store: Any = None) -> tuple[SessionMiddleware, Any]:
    """The middleware (the WSGI app to serve) and its store (``make_store()`` unless given)."""
    store = make_store() if store is None else store
    return Demo(store, secret()).sessions, store


def main() -> None:
    import waitress

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    app, store = make_app()
    logger.info("listening on http://%s:%d/ with sessions in %r", host, port, store)
    try:
        waitress.serve(app, host=host, port=port, ident="wsgisession-demo")
    finally:
        store.close()


if __name__ == "__main__":
    main()
