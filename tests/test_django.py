"""wsgisession.django: a real Django 5.2 project (tests/django_project) on wsgisession's sessions.

Each scenario runs over the WSGI application (``get_wsgi_application()``, through WebTest) and
over Django's test Client, logging in through the login view, ``client.login()`` or
``client.force_login()``. Django is set up once, by the ``project`` fixture, with its files in a
temporary directory; each test gets its own sessions file (``override_settings``), and each
Client and application builds its own middleware, so a test's settings apply to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import django  # a test dependency (setup.cfg): missing, this module fails rather than skips
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from webtest import TestApp

from wsgisession import CookieOptions, MemoryStore, SQLiteStore, Store, StoreUnavailable
from wsgisession.config import SessionConfig
from wsgisession.cookies import encode_uri_component
from wsgisession.signing import sign, unsign

from .helpers import sessions_left_to_the_collector

SECRET = "the django project's session secret, 32+ bytes"  # settings.SESSION_SECRET
PASSWORD = "Wonderland-1865"
NAME = "connect.sid"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Django, set up once for this module: settings from tests.django_project, files in a temporary directory."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment, teardown_test_environment

    directory = tmp_path_factory.mktemp("django_project")
    zone = os.environ.get("TZ")  # Django sets the process's time zone (TIME_ZONE): the rest of the suite gets it back
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SETTINGS_MODULE", "tests.django_project.settings")
        patch.setenv("WSGISESSION_DJANGO_DIR", str(directory))
        django.setup()
        assert settings.DATABASES["default"]["NAME"] == directory / "db.sqlite3"
        setup_test_environment()
        call_command("migrate", verbosity=0)
        try:
            yield directory
        finally:
            teardown_test_environment()
            if zone is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = zone
            time.tzset()


class Site:
    """One test's sessions file, read directly to see what the store holds."""

    def __init__(self, path) -> None:
        self.sessions = SQLiteStore(path)

    @staticmethod
    def sid(cookie: str | None) -> str | None:
        """The id a connect.sid cookie value carries, verified as express-session would."""
        value = unquote(cookie or "")
        return unsign(value[2:], SECRET) if value.startswith("s:") else None

    def data(self, cookie: str | None) -> dict[str, Any] | None:
        loaded = self.sessions.load(self.sid(cookie) or "")
        return None if loaded is None else json.loads(loaded.text)


@pytest.fixture
def site(project, tmp_path):
    path = tmp_path / "sessions.sqlite3"
    with override_settings(WSGISESSION={"secret": SECRET, "store": f"sqlite:///{path}"}):
        site = Site(path)
        yield site
        site.sessions.close()
    from django.contrib.auth.models import User

    User.objects.all().delete()


@pytest.fixture
def alice(site):
    from django.contrib.auth.models import User

    return User.objects.create_user("alice", password=PASSWORD)


# -- two ways to drive the project, one interface ----------------------------------------------------


class Page:
    def __init__(self, status: int, text: str, headers: dict[str, str]) -> None:
        self.status, self.text, self.headers = status, text, headers

    def json(self) -> Any:
        return json.loads(self.text)


class WebTestBrowser:
    """A browser on the WSGI application Django's wsgi.py serves (WebTest, lint on)."""

    def __init__(self, app: Any = None) -> None:
        from django.core.wsgi import get_wsgi_application

        self.app = TestApp(app or get_wsgi_application())

    def get(self, path: str, status: int | str = 200) -> Page:
        return self._page(self.app.get(path, status=status))

    def post(self, path: str, data: dict[str, str], status: int | str = 200) -> Page:
        return self._page(self.app.post(path, data, status=status))

    @staticmethod
    def _page(response: Any) -> Page:
        return Page(response.status_int, response.text, {k: v for k, v in response.headers.items() if k != "Set-Cookie"})

    @property
    def cookie(self) -> str | None:
        return self.app.cookies.get(NAME) or None

    def login(self, username: str) -> None:
        assert self.post("/login/", {"username": username, "password": PASSWORD}).text == username

    def logout(self) -> None:
        self.post("/logout/", {})

    def with_cookie(self, app: Any) -> WebTestBrowser:
        twin = WebTestBrowser(app)
        if self.cookie:
            twin.app.set_cookie(NAME, self.cookie)
        return twin

    def restart(self) -> WebTestBrowser:
        """The same browser on a new application (a new middleware, a new store over the same file)."""
        return self.with_cookie(None)

    def twin(self) -> WebTestBrowser:
        """Another tab of this browser, on the same application."""
        return self.with_cookie(self.app.app)


class ClientBrowser:
    """Django's test Client; ``how`` it logs in: the login view, ``client.login()`` or ``force_login()``."""

    def __init__(self, how: str = "view", **options: Any) -> None:
        self.how, self.options = how, options
        self.client = Client(**options)

    def get(self, path: str, status: int = 200) -> Page:
        return self._page(self.client.get(path), status)

    def post(self, path: str, data: dict[str, str], status: int = 200) -> Page:
        return self._page(self.client.post(path, data), status)

    @staticmethod
    def _page(response: Any, status: int) -> Page:
        assert response.status_code == status, response.content
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return Page(response.status_code, content.decode(), dict(response.items()))

    @property
    def cookie(self) -> str | None:
        morsel = self.client.cookies.get(NAME)
        return morsel.coded_value if morsel is not None and morsel.coded_value else None

    def login(self, username: str) -> None:
        from django.contrib.auth.models import User

        if self.how == "view":
            assert self.post("/login/", {"username": username, "password": PASSWORD}).text == username
        elif self.how == "client.login":
            assert self.client.login(username=username, password=PASSWORD)
        else:
            self.client.force_login(User.objects.get(username=username))

    def logout(self) -> None:
        if self.how == "view":
            self.post("/logout/", {})
        else:
            self.client.logout()

    def restart(self) -> ClientBrowser:
        """A new Client (so a new handler, middleware and store) holding this one's cookie."""
        twin = ClientBrowser(self.how, **self.options)
        if self.cookie:
            twin.client.cookies[NAME] = self.cookie
        return twin

    twin = restart  # (a Client has its handler: its twin is another)


DRIVERS = ["webtest", "client", "client.login", "client.force_login"]


def make_browser(driver: str) -> WebTestBrowser | ClientBrowser:
    if driver == "webtest":
        return WebTestBrowser()
    return ClientBrowser("view" if driver == "client" else driver)


@pytest.fixture(params=DRIVERS)
def driver(request, site) -> str:
    return request.param


@pytest.fixture(params=["webtest", "client"])
def plain_driver(request, site) -> str:
    """For scenarios without a login."""
    return request.param


# -- the scenarios --------------------------------------------------------------------------------------


def test_a_login_regenerates_the_id_and_binds_the_session_to_the_user(driver, site, alice):
    browser = make_browser(driver)
    assert browser.get("/visit/").text == "1"
    anonymous = site.sid(browser.cookie)
    assert anonymous is not None and site.sessions.load(anonymous) is not None
    browser.login("alice")
    logged_in = site.sid(browser.cookie)
    assert logged_in not in (None, anonymous)
    assert site.sessions.load(anonymous) is None  # the old id is dead
    assert browser.get("/whoami/").json() == {"user": "alice", "bound": str(alice.pk), "devices": 1, "n": 1}
    [bound] = site.sessions.iter_bound(str(alice.pk))
    assert bound.key == logged_in


def test_the_session_survives_a_restart(driver, site, alice):
    browser = make_browser(driver)
    browser.login("alice")
    browser.get("/visit/")
    restarted = browser.restart()
    assert restarted.get("/whoami/").json() == {"user": "alice", "bound": str(alice.pk), "devices": 1, "n": 1}
    assert restarted.get("/visit/").text == "2"


def test_logout_destroys_the_record(driver, site, alice):
    browser = make_browser(driver)
    browser.login("alice")
    sid = site.sid(browser.cookie)
    assert site.sessions.load(sid) is not None
    browser.logout()
    assert site.sessions.load(sid) is None
    assert list(site.sessions.iter_bound(str(alice.pk))) == []
    assert browser.cookie is None  # expired by the response (a Client's logout() drops it)
    assert browser.get("/whoami/").json()["user"] == ""


def test_a_password_change_keeps_this_session_and_ends_the_users_others(driver, site, alice):
    here, elsewhere = make_browser(driver), make_browser(driver)
    here.login("alice")
    elsewhere.login("alice")
    before, other = site.sid(here.cookie), site.sid(elsewhere.cookie)
    assert here.get("/whoami/").json()["devices"] == 2
    here.post("/password/", {"password": "Looking-Glass-1871"})
    after = site.sid(here.cookie)
    assert after != before and site.sessions.load(before) is None  # update_session_auth_hash: cycle_key()
    assert here.get("/whoami/").json() == {"user": "alice", "bound": str(alice.pk), "devices": 2, "n": None}
    # Django's hash check flushes the other session: wsgisession's logout() ends it for good.
    assert elsewhere.get("/whoami/").json() == {"user": "", "bound": None, "devices": 0, "n": None}
    assert site.sessions.load(other) is None
    assert [bound.key for bound in site.sessions.iter_bound(str(alice.pk))] == [after]


def test_messages_appear_once(plain_driver, site):
    browser = make_browser(plain_driver)
    browser.get("/messages/add/?text=hola")
    browser.get("/messages/add/?text=adios")
    assert browser.get("/messages/").text == "hola|adios"
    assert browser.get("/messages/").text == ""


def test_csrf_tokens_in_the_session(plain_driver, site):
    browser = WebTestBrowser() if plain_driver == "webtest" else ClientBrowser(enforce_csrf_checks=True)
    token = browser.get("/form/").text
    assert site.data(browser.cookie)["_csrftoken"]  # CSRF_USE_SESSIONS: the secret is in the session...
    assert "csrftoken" not in (browser.app.cookies if plain_driver == "webtest" else browser.client.cookies)
    assert browser.post("/submit/", {}, status=403).status == 403  # ...and checked from there
    assert browser.post("/submit/", {"csrfmiddlewaretoken": token}).text == "accepted"


def test_concurrent_requests_keep_each_others_keys(plain_driver, site):
    browser = make_browser(plain_driver)
    browser.get("/visit/")
    other_tab = browser.twin()
    with override_settings(RACE_BARRIER=threading.Barrier(2)), ThreadPoolExecutor(2) as pool:
        results = [pool.submit(tab.get, f"/race/?key={key}") for tab, key in ((browser, "a"), (other_tab, "b"))]
        assert [result.result(timeout=30).text for result in results] == ["set", "set"]
    assert browser.get("/show/").json() == {"n": 1, "a": True, "b": True}


def test_the_cookie_is_express_sessions(plain_driver, site):
    browser = make_browser(plain_driver)
    browser.get("/visit/")
    value = unquote(browser.cookie)
    assert value.startswith("s:") and value == "s:" + sign(site.sid(browser.cookie), SECRET)
    assert site.data(browser.cookie)["cookie"] == {"originalMaxAge": None, "expires": None, "secure": False,
                                                   "httpOnly": True, "path": "/", "sameSite": "lax"}


def test_an_async_view_uses_the_async_api(plain_driver, site, alice):
    browser = make_browser(plain_driver)
    browser.login("alice")
    assert browser.get("/async/").json() == {"n": 1, "user": "alice"}
    assert browser.get("/visit/").text == "2"


# -- Django's test Client: its own session API -------------------------------------------------------


def test_client_session_reads_and_writes_the_browsers_session(site):
    client = Client()
    session = client.session  # a new session, saved, its cookie set
    session["basket"] = ["tea"]
    session.save()
    assert client.get("/show/").json() == {"basket": ["tea"]}
    client.get("/visit/")
    assert client.session["n"] == 1 and client.session.session_key == client.cookies[NAME].value


def test_client_login_with_a_wrong_password_fails(site, alice):
    client = Client()
    assert not client.login(username="alice", password="wrong")
    assert client.get("/whoami/").json()["user"] == ""


# -- expiry, streaming, outages ----------------------------------------------------------------------


def test_set_expiry_is_the_cookies_max_age(site):
    browser = WebTestBrowser()
    response = browser.app.get("/expiry/?seconds=300")
    assert response.json == {"age": 300, "at_browser_close": False}
    [cookie] = response.headers.getall("Set-Cookie")
    assert re.search(r"; Max-Age=(299|300);", cookie)  # (whole seconds left, as express renders them)
    assert site.data(browser.cookie)["cookie"]["originalMaxAge"] == 300_000  # express's milliseconds
    assert browser.get("/expiry/?seconds=0").json() == {"age": 14 * 86400, "at_browser_close": True}  # store's ttl
    assert browser.get("/expiry/?seconds=").json()["at_browser_close"] is True  # None: the configured (None)
    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore(), "cookie": {"max_age": 600}}):
        fresh = WebTestBrowser()
        assert fresh.get("/expiry/").json() == {"age": 600, "at_browser_close": False}
        assert fresh.get("/expiry/?seconds=60").json()["age"] == 60
        assert fresh.get("/expiry/?seconds=").json()["age"] == 600


def test_a_streamed_body_saves_what_it_changed(site):
    browser = WebTestBrowser()
    browser.get("/visit/")
    response = browser.app.get("/stream/")
    assert response.text == "first second" and response.headers["Vary"] == "Cookie"
    assert browser.get("/show/").json() == {"n": 1, "streamed": True}


class DownStore(MemoryStore):
    """A store that cannot be reached."""

    def load(self, sid):
        raise StoreUnavailable("the store is down")

    def save(self, sid, record, version):
        raise StoreUnavailable("the store is down")


@pytest.mark.parametrize("csrf_in_session", [False, True], ids=["view", "middleware"])
def test_a_store_outage_is_a_503(plain_driver, site, csrf_in_session):
    cookie = encode_uri_component("s:" + sign("some-id", SECRET))
    with override_settings(WSGISESSION={"secret": SECRET, "store": DownStore()}, CSRF_USE_SESSIONS=csrf_in_session):
        # The store fails in the view, in CsrfViewMiddleware (reading the CSRF secret), or when saving.
        if plain_driver == "webtest":
            browsers = [WebTestBrowser(), WebTestBrowser()]
            browsers[0].app.set_cookie(NAME, cookie)
        else:
            browsers = [ClientBrowser(raise_request_exception=False), ClientBrowser(raise_request_exception=False)]
            browsers[0].client.cookies[NAME] = cookie
        for browser in browsers:
            page = browser.get("/visit/", status=503)
            assert page.text.startswith("Service temporarily unavailable: the session store cannot be reached.")
            assert page.headers["Retry-After"] == "5" and page.headers["Cache-Control"] == "no-store"


# -- the session API, through the engine ------------------------------------------------------------------


def test_the_engine_session_has_djangos_api(site):
    from wsgisession.django import SessionStore

    session = SessionStore()
    assert not session.accessed and session.session_key is None and session.is_empty()
    assert session.accessed  # (is_empty() looked)
    session["k"] = 1
    assert session.modified and session.session_key is None and not session.is_empty()
    session.save()
    key = session.session_key
    assert key is not None and site.sid(key) is not None and session.exists(key)
    again = SessionStore(key)
    assert dict(again) == {"k": 1} and again.load() == {"k": 1} and not again.modified
    assert SessionStore(unquote(key))["k"] == 1  # a Morsel's decoded value names it too
    again.set_test_cookie()
    assert again.test_cookie_worked() and again.modified
    again.delete_test_cookie()
    again.cycle_key()
    assert again.session_key is None and again["k"] == 1  # not stored under the new key yet
    again.save()
    assert not session.exists(key) and again.session_key not in (None, key)
    again.set_expiry(timedelta(hours=1))
    assert 3599 <= again.get_expiry_age() <= 3600 and not again.get_expire_at_browser_close()
    assert again.get_expiry_date() > django.utils.timezone.now() + timedelta(minutes=59)
    again.set_expiry(django.utils.timezone.now() - timedelta(days=1))  # in the past: at once
    assert again.get_expiry_age() == 0
    assert asyncio.run(again.aget("k")) == 1 and asyncio.run(again.ahas_key("k"))
    asyncio.run(again.aset("j", 2))
    assert asyncio.run(again.apop("j")) == 2
    other = SessionStore()
    other.save()
    again.delete(other.session_key)  # another session, by its key
    assert not again.exists(other.session_key) and again["k"] == 1
    again.flush()
    assert again.session_key is None and dict(again) == {} and bool(again)  # truthy when empty, as SessionBase
    SessionStore.clear_expired()  # manage.py clearsessions
    with pytest.raises(KeyError, match="reserved"):
        again["cookie"] = {}  # express-session's own key


def test_the_async_api_is_djangos_written_out(site):
    """Every async method of Django's SessionBase, each its synchronous twin run in a thread."""
    from django.contrib.sessions.backends.base import SessionBase

    from wsgisession.django import SessionStore

    def coroutines(cls: type) -> set[str]:
        return {name for name in dir(cls)
                if not name.startswith("_") and inspect.iscoroutinefunction(getattr(cls, name))}

    assert coroutines(SessionStore) == coroutines(SessionBase)

    async def scenario() -> None:
        session = SessionStore()
        await session.aset("k", 1)
        assert await session.asetdefault("j", 2) == 2 and await session.aget("j") == 2
        await session.aupdate({"m": 3})
        assert await session.ahas_key("m") and list(await session.akeys()) == ["k", "j", "m"]
        assert list(await session.avalues()) == [1, 2, 3] and dict(await session.aitems()) == {"k": 1, "j": 2, "m": 3}
        assert await session.apop("m") == 3 and await session.apop("m", None) is None
        await session.aset_test_cookie()
        assert await session.atest_cookie_worked()
        await session.adelete_test_cookie()
        await session.asave()
        key = session.session_key
        assert key is not None and await session.aexists(key)
        await session.acycle_key()
        await session.acreate()
        assert session.session_key not in (None, key) and not await session.aexists(key)
        assert await session.aload() == {"k": 1, "j": 2}
        await session.aset_expiry(60)
        assert await session.aget_expiry_age() == 60 and not await session.aget_expire_at_browser_close()
        assert await session.aget_expiry_date() > django.utils.timezone.now() + timedelta(seconds=59)
        other = SessionStore()
        await other.asave()
        await session.adelete(other.session_key)
        assert not await session.aexists(other.session_key)
        await session.aflush()
        assert session.session_key is None and await session.aload() == {}
        await SessionStore.aclear_expired()

    asyncio.run(scenario())


def test_the_async_client_logs_in_and_out(site, alice):
    from django.test import AsyncClient

    async def scenario() -> list[Any]:
        client = AsyncClient()
        await client.get("/visit/")
        assert await client.alogin(username="alice", password=PASSWORD)
        seen = [json.loads((await client.get("/async/")).content)]
        await client.alogout()
        seen.append(json.loads((await client.get("/whoami/")).content))
        return seen

    assert asyncio.run(scenario()) == [{"n": 2, "user": "alice"}, {"user": "", "bound": None, "devices": 0, "n": None}]
    assert list(site.sessions.iter_bound(str(alice.pk))) == []


class NoAccountsStore(MemoryStore):
    """A store of one's own without iter_bound()."""

    iter_bound = Store.iter_bound  # not implemented


def test_a_store_without_accounts_still_gets_a_new_id_at_login(site, alice):
    with override_settings(WSGISESSION={"secret": SECRET, "store": NoAccountsStore()}):
        browser = WebTestBrowser()
        browser.get("/visit/")
        before = browser.cookie
        browser.login("alice")
        assert browser.cookie != before
        assert browser.get("/whoami/").json() == {"user": "alice", "bound": None, "devices": 0, "n": 1}


# -- settings ----------------------------------------------------------------------------------------------


def middleware():
    from wsgisession.django import SessionMiddleware

    return SessionMiddleware(lambda request: None)


@pytest.mark.parametrize(("changes", "message"), [
    pytest.param({"WSGISESSION": None}, "needs settings.WSGISESSION", id="no-WSGISESSION"),
    pytest.param({"WSGISESSION": {"secret": SECRET, "store": MemoryStore(), "trust_proxy": True}},
                 "SECURE_PROXY_SSL_HEADER", id="trust_proxy"),
    pytest.param({"WSGISESSION": {"secret": SECRET, "store": MemoryStore(), "unset": "destroy"}},
                 "no option 'unset'; unset: the session is request.session", id="unset"),
    pytest.param({"WSGISESSION": {"secret": SECRET, "store": MemoryStore(), "header": "X-Session-Token"}},
                 "no option 'header'; header: ids in a header are the WSGI and ASGI", id="header"),
    pytest.param({"WSGISESSION": {"store": MemoryStore()}}, "secret is required", id="no-secret"),
    pytest.param({"WSGISESSION": {"secret": SECRET, "store": "memcached://x"}}, "unsupported store", id="bad-url"),
    pytest.param({"WSGISESSION": {"secret": SECRET, "store": MemoryStore(), "cookie": {"maxage": 1}}},
                 "unexpected keyword", id="bad-cookie-field"),
    pytest.param({"SESSION_ENGINE": "django.contrib.sessions.backends.db"}, "SESSION_ENGINE", id="engine"),
    pytest.param({"SESSION_COOKIE_NAME": "sessionid"}, "set SESSION_COOKIE_NAME = 'connect.sid'", id="name-unset"),
    pytest.param({"SESSION_COOKIE_NAME": "sid", "WSGISESSION": {"secret": SECRET, "store": MemoryStore(),
                                                                "name": "other"}}, "contradicts", id="name"),
    pytest.param({"SESSION_COOKIE_SECURE": True, "WSGISESSION": {"secret": SECRET, "store": MemoryStore(),
                                                                 "cookie": CookieOptions()}}, "contradicts",
                 id="secure"),
    pytest.param({"SESSION_COOKIE_AGE": 60, "SESSION_EXPIRE_AT_BROWSER_CLOSE": True}, "both set", id="age"),
    pytest.param({"SESSION_SERIALIZER": "x.Pickle"}, "JSON", id="serializer"),
])
def test_configuration_errors_say_what_to_do(site, changes, message):
    with override_settings(**changes), pytest.raises(ImproperlyConfigured, match=message):
        middleware()


def test_wsgisession_takes_sessionconfigs_options_but_the_one_django_supplies():
    """WSGISESSION's keys are SessionConfig's options, in its order, less ``unset`` (the session is
    request.session: nothing removes it) and ``header`` (the adapter reads the cookie). The WSGI
    adapter's own options are not SessionConfig's."""
    from wsgisession.django.config import OPTIONS

    options = [field.name for field in dataclasses.fields(SessionConfig) if field.init]
    assert [name for name in options if name not in OPTIONS] == ["unset", "header"]
    assert list(OPTIONS) == [name for name in options if name in OPTIONS]
    assert "trust_proxy" not in options and "environ_key" not in options


def test_djangos_changed_session_settings_set_the_cookie(site):
    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore(), "cookie": {"path": "/app"}},
                           SESSION_COOKIE_NAME="sid", SESSION_COOKIE_AGE=3600, SESSION_COOKIE_SECURE=True,
                           SESSION_COOKIE_SAMESITE="Strict", SESSION_SAVE_EVERY_REQUEST=True):
        config = middleware().core.config
    assert config.name == "sid" and config.rolling is True
    assert config.cookie == CookieOptions(path="/app", max_age=3600, secure=True, same_site="strict")


def test_saving_an_empty_session_gives_it_a_key_and_a_cookie(plain_driver, site):
    browser = make_browser(plain_driver)
    first = browser.get("/key/").text
    assert first and site.sid(browser.cookie) is not None  # the cookie went out with the explicit save
    assert browser.get("/key/").text == first and site.sessions.length() == 1  # no new record per request


def test_an_outage_is_logged_once_with_the_stores_own_error(site, caplog):
    from wsgisession.django.middleware import SessionMiddleware as DjangoSessions

    cookie = encode_uri_component("s:" + sign("some-id", SECRET))
    with override_settings(WSGISESSION={"secret": SECRET, "store": DownStore()}, CSRF_USE_SESSIONS=True):
        counted = []
        original = DjangoSessions.__init__

        def spying(self, get_response):  # the middleware instance of this application, to read its counts
            original(self, get_response)
            counted.append(self.events)

        with pytest.MonkeyPatch.context() as patch, caplog.at_level("WARNING", logger="wsgisession"):
            patch.setattr(DjangoSessions, "__init__", spying)
            browser = WebTestBrowser()
            browser.app.set_cookie(NAME, cookie)
            browser.get("/visit/", status=503)  # CsrfViewMiddleware reads the session first, then Django's 500 page
    warnings = [r.getMessage() for r in caplog.records if "session store unavailable" in r.getMessage()]
    assert warnings == ["session store unavailable: the store is down"]
    assert counted and counted[-1].counts["store_error"] == 1


# -- issue 23: what Django's own tests and a review found ----------------------------------------------


def test_a_lifetime_set_before_login_is_kept(driver, site, alice):
    """set_expiry() then login(): the login's new id keeps the lifetime, as Django's cycle_key() keeps the expiry."""
    browser = make_browser(driver)
    browser.get("/expiry/?seconds=3600")
    browser.login("alice")
    stored = site.data(browser.cookie)
    assert stored["_auth_user_id"] == str(alice.pk) and stored["cookie"]["originalMaxAge"] == 3_600_000


def test_cycle_key_keeps_the_expiry(site):
    from wsgisession.django import SessionStore

    session = SessionStore()
    session.set_expiry(3600)
    session.save()
    session.cycle_key()
    assert not session.get_expire_at_browser_close() and 3599 <= session.get_expiry_age() <= 3600


@pytest.mark.parametrize("how", ["500", "raise"])
def test_a_failed_request_stores_nothing_and_sets_no_cookie(site, how):
    """As Django's middleware: a 5xx response (a view that raised included) saves nothing, so no half-done change."""
    path = "/fail/" + ("?raise=1" if how == "raise" else "")
    fresh = WebTestBrowser()
    fresh.app.get(path, status=500)
    assert fresh.cookie is None and site.sessions.length() == 0
    browser = WebTestBrowser()
    browser.get("/visit/")
    response = browser.app.get(path, status=500)
    assert response.headers.getall("Set-Cookie") == [] and response.headers["Vary"] == "Cookie"
    assert browser.get("/show/").json() == {"n": 1}  # the half-done change was not stored
    client = ClientBrowser(raise_request_exception=False)
    client.get("/visit/")
    client.get(path, status=500)
    assert client.get("/show/").json() == {"n": 1}


def _through_middleware(view: Any, *, cookie: str | None = None, secure: bool = False) -> tuple[Any, Any]:
    """(the request, the response) of ``view`` through a new wsgisession middleware (Django's own tests' way)."""
    from django.test import RequestFactory

    from wsgisession.django import SessionMiddleware

    headers = {} if cookie is None else {"HTTP_COOKIE": f"{NAME}={cookie}"}
    request = RequestFactory().get("/", secure=secure, **headers)
    return request, SessionMiddleware(view)(request)


def _touching(request: Any) -> Any:
    from django.http import HttpResponse

    request.session["hello"] = "world"
    return HttpResponse("ok")


def test_the_session_cookie_is_a_real_morsel(site):
    """response.cookies[name] reads like any Morsel, and what other middleware changes on it is what is sent."""
    import pickle
    from http.cookies import Morsel

    options = {"max_age": 600, "domain": "example.com", "same_site": "strict", "priority": "high"}
    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore(), "cookie": options,
                                       "clock": lambda: 1_800_000_000.0}):
        request, response = _through_middleware(_touching, secure=True)
    morsel = response.cookies[NAME]
    assert isinstance(morsel, Morsel) and morsel.key == NAME and site.sid(morsel.coded_value) is not None
    assert (morsel["max-age"], morsel["domain"], morsel["path"], morsel["samesite"], morsel["priority"]) == (
        600, "example.com", "/", "Strict", "High")
    assert morsel["secure"] is True and morsel["httponly"] is True and morsel["expires"].endswith(" GMT")
    assert morsel.coded_value == request.session.session_key  # the stored session's key (it was just saved)
    morsel["samesite"] = "None"  # another middleware's change...
    morsel["httponly"] = ""
    sent = str(response.cookies)
    assert "SameSite=None" in sent and "HttpOnly" not in sent and "Priority=High" in sent  # ...is what Django sends
    assert str(pickle.loads(pickle.dumps(response.cookies))) == sent  # (the cache middleware pickles responses)


def test_session_key_is_set_once_the_middleware_stored_the_session(site):
    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore()}):
        request, response = _through_middleware(_touching)
    assert request.session.session_key is not None
    assert request.session.session_key == response.cookies[NAME].coded_value


def test_save_every_request_renews_the_cookie_of_every_request(site):
    from django.http import HttpResponse

    store = MemoryStore()
    with override_settings(WSGISESSION={"secret": SECRET, "store": store}, SESSION_SAVE_EVERY_REQUEST=True):
        request, response = _through_middleware(_touching)
        cookie = response.cookies[NAME].coded_value
        _, untouched = _through_middleware(lambda request: HttpResponse("never uses the session"), cookie=cookie)
        _, stranger = _through_middleware(lambda request: HttpResponse("no cookie"))
    assert untouched.cookies[NAME].coded_value == cookie and untouched.headers["Vary"] == "Cookie"
    assert NAME not in stranger.cookies  # no session to renew: nothing is created


def test_accessed_and_modified_behave_as_djangos_flags(site):
    from django.http import HttpResponse

    from wsgisession.django import SessionStore

    session = SessionStore()
    session["k"] = 1
    session.accessed = session.modified = False
    assert not session.accessed and not session.modified
    assert session.get("k") == 1 and session.accessed and not session.modified
    session.save()
    session.flush()
    assert session.modified and session.session_key is None  # flush() is a change, as Django's

    def quiet(request: Any) -> Any:  # reads the session, then says the response does not depend on it
        request.session.get("k")
        request.session.accessed = False
        return HttpResponse("same for everyone")

    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore()}):
        _, response = _through_middleware(quiet)
    assert "Vary" not in response.headers  # as Django's middleware: Vary only if accessed


# -- express-session 1.19's dynamic cookie options ------------------------------------------------------


def per_host_cookie(request):
    """WSGISESSION["cookie"] as a callable: the HttpRequest in a request, None outside one (the test Client's engine)."""
    PER_HOST_CALLS.append(None if request is None else type(request).__name__)
    if request is not None and request.get_host() == "shop.example":
        return {"max_age": 600, "same_site": "strict"}
    return CookieOptions()


PER_HOST_CALLS: list[str | None] = []


def test_a_cookie_callable_is_called_with_the_httprequest(site):
    PER_HOST_CALLS.clear()
    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore(), "cookie": per_host_cookie},
                           ALLOWED_HOSTS=["*"]):
        browser = WebTestBrowser()
        response = browser.app.get("/expiry/?seconds=", extra_environ={"HTTP_HOST": "shop.example"})
        assert response.json == {"age": 600, "at_browser_close": False}  # set_expiry(None): the request's max_age
        [cookie] = browser.app.get("/visit/", extra_environ={"HTTP_HOST": "shop.example"}).headers.getall("Set-Cookie")
        assert "SameSite=Strict" in cookie and "Max-Age=" in cookie
        browser.app.reset()
        plain = browser.app.get("/visit/", extra_environ={"HTTP_HOST": "www.example"})
        assert "SameSite=Lax" in plain.headers["Set-Cookie"] and "Max-Age" not in plain.headers["Set-Cookie"]
        assert PER_HOST_CALLS == ["WSGIRequest"] * 3
        client = Client()
        client.session["cart"] = ["book"]  # the engine, outside a request: the callable gets None
        assert PER_HOST_CALLS[-1] is None


def test_a_cookie_callable_and_djangos_cookie_settings_contradict(site):
    with override_settings(SESSION_COOKIE_SECURE=True, WSGISESSION={"secret": SECRET, "store": MemoryStore(),
                                                                   "cookie": per_host_cookie}), \
            pytest.raises(ImproperlyConfigured, match="SESSION_COOKIE_SECURE and WSGISESSION.*return those from"):
        middleware()


def test_a_login_refused_by_the_session_limit_logs_nobody_in(site, alice):
    """max_sessions_policy="refuse": TooManySessions comes out of django.contrib.auth.login(), and
    neither Django nor wsgisession's accounts see the refused browser as logged in."""
    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore(), "max_sessions_per_user": 1,
                                        "max_sessions_policy": "refuse"}):
        first, second = WebTestBrowser(), WebTestBrowser()
        first.login("alice")
        second.get("/visit/")
        refused = second.post("/login/", {"username": "alice", "password": PASSWORD}, status=409)
        assert refused.text.startswith("This account is already signed in on 1 device")
        assert second.get("/whoami/").json()["user"] == "" and second.get("/whoami/").json()["bound"] is None
        assert second.get("/visit/").text == "2"  # its anonymous session goes on
        assert first.get("/whoami/").json() == {**first.get("/whoami/").json(), "user": "alice", "devices": 1}


def test_a_request_leaves_no_reference_cycle(site):
    """request -> session -> request would be a cycle, every request's objects then freed by the
    garbage collector instead of at once: the session holds the HttpRequest only when a genid or a
    cookie callable of the app's may read it (test_a_cookie_callable_is_called_with_the_httprequest)."""
    def request():
        _, response = _through_middleware(_touching)
        assert response.status_code == 200 and NAME in response.cookies

    with override_settings(WSGISESSION={"secret": SECRET, "store": MemoryStore()}):
        assert sessions_left_to_the_collector(request) == []
