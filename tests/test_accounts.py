"""Accounts through the middleware, on every store: login, the per-user list, revocation, limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from webtest import TestApp

from wsgisession import ConfigurationError, SessionError, SessionMiddleware, Store, get_session
from wsgisession.config import default_genid
from wsgisession.events import Event

from .helpers import CORE_SECRET, set_cookie_of
from .helpers import open_session as open_on_core

SECRET = "accounts test secret, long enough to be safe"


class AccountsApp:
    """A WSGI app whose routes call the account API; ``self.sessions`` is its middleware."""

    def __init__(self, store: Store, clock: Any, **options: Any) -> None:
        self.sessions = SessionMiddleware(self, secret=SECRET, store=store, clock=clock, **options)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = get_session(environ)
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        route = environ["PATH_INFO"]
        if route == "/login":
            session.login(query["user"])
            body = "logged in"
        elif route == "/logout":
            session.logout()
            body = "logged out"
        elif route == "/set":
            session[query["key"]] = query["value"]
            body = "ok"
        elif route == "/others":
            body = str(self.sessions.revoke_all(session.user_id, keep=session))
        elif route == "/list":
            infos = self.sessions.sessions_of(session.user_id, current=session)
            body = "\n".join(f"{info.handle} {info.current} {info.user_agent}" for info in infos)
        else:  # /me
            body = f"{session.user_id} {session.get('cart')}"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body.encode()]


def open_session(store: Store, clock: Any, sid: str | None = None) -> tuple[Any, Any]:
    """A request's session on the core, with random ids (several sessions per test)."""
    return open_on_core(store, clock, sid, genid=default_genid)


def browser(app: AccountsApp, agent: str = "Test browser") -> TestApp:
    return TestApp(app.sessions, extra_environ={"HTTP_USER_AGENT": agent})


def cookie_of(browser: TestApp) -> str:
    return browser.cookies["connect.sid"]


def test_login_regenerates_the_id_binds_the_user_and_keeps_the_data(store, clock):
    app = AccountsApp(store, clock)
    alice = browser(app)
    alice.get("/set?key=cart&value=apples")
    anonymous = cookie_of(alice)
    old_id = next(iter(store.all()))
    alice.get("/login?user=alice")
    assert cookie_of(alice) != anonymous
    assert store.load(old_id) is None  # the old id is dead (fixation)
    assert alice.get("/me").text == "alice apples"
    (info,) = app.sessions.sessions_of("alice")
    assert info.created == info.authenticated_at == pytest.approx(clock())
    assert info.last_seen == pytest.approx(clock()) and info.expires == pytest.approx(clock() + store.ttl)
    assert info.user_agent == "Test browser"
    newcomer = browser(app)
    newcomer.get("/login?user=bob")  # a first request that logs in: a session is created
    assert app.sessions.events.counts["created"] == 2 and app.sessions.events.counts["login"] == 2


def test_sessions_of_lists_two_browsers_with_current_right(store, clock):
    app = AccountsApp(store, clock)
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    laptop.get("/login?user=alice")
    phone.get("/login?user=alice")
    for asker, agent in ((laptop, "Laptop"), (phone, "Phone")):
        lines = asker.get("/list").text.splitlines()
        assert sorted(line.split()[2] for line in lines) == ["Laptop", "Phone"]
        assert [line.split()[2] for line in lines if line.split()[1] == "True"] == [agent]
    infos = app.sessions.sessions_of("alice")  # asked with no request: none is current
    assert len(infos) == 2 and not any(info.current for info in infos)
    assert {info.user_id for info in infos} == {"alice"}
    ids = set(store.all())
    handles = {info.handle for info in infos}
    assert len(handles) == 2 and not handles & ids
    assert not any(handle in cookie for handle in handles for cookie in (cookie_of(laptop), cookie_of(phone)))
    assert app.sessions.sessions_of("bob") == []


def test_revoke_all_keeping_mine_logs_the_other_browser_out(store, clock):
    app = AccountsApp(store, clock)
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    laptop.get("/login?user=alice")
    phone.get("/login?user=alice")
    phone.get("/set?key=cart&value=pears")
    assert laptop.get("/others").text == "1"
    assert laptop.get("/me").text.startswith("alice")
    assert phone.get("/me").text == "None None"  # a fresh anonymous session at its next request
    response = phone.get("/set?key=cart&value=plums")
    assert set_cookie_of(response.headerlist) is None  # within the tombstone window: nothing stored or sent
    clock.advance(61)
    response = phone.get("/set?key=cart&value=plums")
    assert "connect.sid=" in set_cookie_of(response.headerlist)  # then a new id, as for any unknown id
    assert [info.user_agent for info in app.sessions.sessions_of("alice")] == ["Laptop"]
    assert app.sessions.revoke_all("alice") == 1
    assert laptop.get("/me").text == "None None"
    assert app.sessions.events.counts["revoked"] == 2


def test_revoke_one_session_by_its_handle(store, clock):
    app = AccountsApp(store, clock)
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    laptop.get("/login?user=alice")
    phone.get("/login?user=alice")
    (phones,) = [info for info in app.sessions.sessions_of("alice") if info.user_agent == "Phone"]
    assert app.sessions.revoke("bob", phones.handle) is False  # another user's handle ends nothing
    assert app.sessions.revoke("alice", phones.handle) is True
    assert app.sessions.revoke("alice", phones.handle) is False  # already ended
    assert app.sessions.revoke("alice", "not a handle") is False
    assert phone.get("/me").text == "None None"
    assert laptop.get("/me").text.startswith("alice")


def test_the_per_user_limit_ends_the_oldest_sessions(store, clock):
    app = AccountsApp(store, clock, max_sessions_per_user=2)
    first, second, third = browser(app, "first"), browser(app, "second"), browser(app, "third")
    for user_browser in (first, second, third):
        user_browser.get("/login?user=alice")
        clock.advance(1)
    assert first.get("/me").text == "None None"
    assert second.get("/me").text.startswith("alice") and third.get("/me").text.startswith("alice")
    assert sorted(info.user_agent for info in app.sessions.sessions_of("alice")) == ["second", "third"]
    second.get("/login?user=alice")  # logging in again replaces its own session: nobody else ends
    assert third.get("/me").text.startswith("alice")
    assert app.sessions.events.counts["evicted"] == 1


def test_logout_destroys_the_session_and_its_binding(store, clock):
    app = AccountsApp(store, clock)
    alice = browser(app)
    alice.get("/login?user=alice")
    response = alice.get("/logout")
    assert "Max-Age=0" in set_cookie_of(response.headerlist)
    assert app.sessions.sessions_of("alice") == [] and store.length() == 0
    assert alice.get("/me").text == "None None"


def test_a_revoked_session_cannot_come_back_through_a_request_in_flight(store, clock):
    first, core = open_session(store, clock)
    first.login("alice")
    core.close(first)
    sid = first.id
    for change in (True, False):  # a request that saves, and one that only touches
        in_flight, _ = open_session(store, clock, sid)
        assert in_flight.user_id == "alice"
        core.accounts.revoke_all("alice")
        if change:
            in_flight["cart"] = "stolen"
        headers = core.close(in_flight)
        assert store.load(sid) is None and set_cookie_of(headers) is None
        assert core.accounts.sessions_of("alice") == []
        restored, _ = open_session(store, clock)  # log in again for the second round
        restored.login("alice")
        core.close(restored)
        sid = restored.id


def test_authenticated_at_survives_merges(store, clock):
    session, core = open_session(store, clock)
    session.login("alice")
    core.close(session)
    sid, logged_in = session.id, session.authenticated_at
    clock.advance(30)
    first, first_core = open_session(store, clock, sid)
    second, second_core = open_session(store, clock, sid)
    first["cart"] = "apples"
    second["wishlist"] = "pears"
    first_core.close(first)
    second_core.close(second)  # finds the record changed: merges
    assert second_core.events.counts["merged"] == 1
    final, _ = open_session(store, clock, sid)
    assert (final["cart"], final["wishlist"]) == ("apples", "pears")
    assert final.user_id == "alice" and final.authenticated_at == pytest.approx(logged_in)


def test_reauthentication_gives_a_new_id_and_a_request_in_flight_cannot_undo_it(store, clock):
    session, core = open_session(store, clock)
    session.login("alice")
    core.close(session)
    old, logged_in = session.id, session.authenticated_at
    slow, _ = open_session(store, clock, old)
    slow.get("x")
    clock.advance(60)
    fresh, _ = open_session(store, clock, old)
    fresh.reauthenticated()
    core.close(fresh)
    assert fresh.id != old and store.load(old) is None  # ASVS 7.2.4: a new token
    slow["cart"] = "apples"
    assert set_cookie_of(core.close(slow)) is None  # its id is gone: nothing saved, no cookie
    assert store.load(old) is None
    (info,) = core.accounts.sessions_of("alice")
    assert info.authenticated_at == pytest.approx(logged_in + 60)


def test_reauthentication_freshness(store, clock):
    session, core = open_session(store, clock)
    assert session.user_id is None and session.authenticated_at is None
    assert not session.authenticated_within(300)
    with pytest.raises(SessionError, match="login"):
        session.reauthenticated()
    session.login("alice")
    assert session.authenticated_within(300)
    clock.advance(301)
    assert not session.authenticated_within(300)
    session.reauthenticated()
    assert session.authenticated_within(300) and session.authenticated_at == pytest.approx(clock())


@pytest.mark.parametrize("user_id", ["", 42, None, "x" * 257])
def test_login_refuses_what_is_not_a_user_id(user_id, clock):
    from wsgisession import MemoryStore

    session, _ = open_session(MemoryStore(clock=clock), clock)
    with pytest.raises(SessionError, match="user id"):
        session.login(user_id)


@pytest.mark.parametrize("user_id", ["ab\udcff", "\ud800", "x\udfff\ud800y"])
def test_a_user_id_utf8_cannot_encode_is_refused_before_the_store(user_id, clock, tmp_path):
    # (text decoded with errors="surrogateescape", as os.environ and sys.argv are, holds such surrogates)
    from wsgisession import SQLiteStore

    store = SQLiteStore(tmp_path / "s.sqlite3", clock=clock)  # whose UnicodeEncodeError was a 500
    try:
        session, core = open_session(store, clock)
        for call in (lambda: session.login(user_id), lambda: core.accounts.sessions_of(user_id),
                     lambda: core.accounts.revoke_all(user_id)):
            with pytest.raises(SessionError, match="user id must be encodable as UTF-8") as refused:
                call()
            assert user_id not in str(refused.value)
        assert session.user_id is None
        session.login("ab\u00ff")  # the character the surrogate stood for is fine
        core.close(session)
        assert [info.user_id for info in core.accounts.sessions_of("ab\u00ff")] == ["ab\u00ff"]
    finally:
        store.close()


def test_events_name_the_user_and_never_the_id(clock):
    from wsgisession import MemoryStore

    seen: list[Event] = []
    session, core = open_session(MemoryStore(clock=clock), clock)
    core.events.subscribe(seen.append)
    session.login("alice")
    session.reauthenticated()
    core.close(session)
    sid = session.id
    core.accounts.revoke_all("alice")
    names = [(event.name, event.user) for event in seen if event.user]
    assert names == [("login", "alice"), ("reauthenticated", "alice"), ("revoked", "alice")]
    assert all(sid not in repr(event) for event in seen)
    logout, core = open_session(MemoryStore(clock=clock), clock)
    core.events.subscribe(seen.append)
    logout.login("bob")
    logout.logout()
    assert seen[-1].name == "logout" and seen[-1].user == "bob" and seen[-2].name == "destroyed"


def test_handles_are_stable_across_processes_sharing_the_secret(clock):
    from wsgisession import MemoryStore

    store = MemoryStore(clock=clock)
    session, core = open_session(store, clock)
    session.login("alice")
    core.close(session)
    _, other_process = open_session(store, clock)
    assert [i.handle for i in core.accounts.sessions_of("alice")] == \
        [i.handle for i in other_process.accounts.sessions_of("alice")]
    assert CORE_SECRET not in repr(core.accounts.sessions_of("alice"))


class NoAccounts(Store):
    """A store of someone else's without iter_bound()."""

    def load(self, sid): return None
    def write(self, sid, record): pass
    def save(self, sid, record, version): return "v"
    def refresh(self, sid, expires_ms, version): pass
    def destroy(self, sid): return True
    def all(self): return {}
    def length(self): return 0
    def clear(self): pass
    def close(self): pass


def test_a_store_without_accounts_says_what_to_do(clock):
    with pytest.raises(ConfigurationError, match="iter_bound"):
        SessionMiddleware(lambda e, s: [], secret=SECRET, store=NoAccounts(), max_sessions_per_user=3)
    session, core = open_session(NoAccounts(), clock)
    with pytest.raises(ConfigurationError, match="iter_bound"):
        session.login("alice")
    with pytest.raises(ConfigurationError, match="iter_bound"):
        core.accounts.sessions_of("alice")


@pytest.mark.parametrize("limit", [0, -1, 2.5, "3", True])
def test_the_limit_must_be_a_positive_whole_number(limit):
    from wsgisession import MemoryStore

    with pytest.raises(ConfigurationError, match="max_sessions_per_user"):
        SessionMiddleware(lambda e, s: [], secret=SECRET, store=MemoryStore(), max_sessions_per_user=limit)


def test_logout_and_revocations_are_logged_with_the_salted_tag_never_the_id(caplog, clock):
    import logging

    from wsgisession import MemoryStore

    store = MemoryStore(clock=clock)
    app = AccountsApp(store, clock)
    laptop, phone = browser(app), browser(app)
    laptop.get("/login?user=alice")
    phone.get("/login?user=alice")
    ids = set(store.all())
    with caplog.at_level(logging.DEBUG, logger="wsgisession"):
        laptop.get("/others")
        laptop.get("/logout")
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.endswith(" revoked") for message in messages)
    assert any(message.endswith(" logged out") for message in messages)
    assert not any(sid in message or "alice" in message for sid in ids for message in messages)


def revocation_reaches_the_other_process(stores: list[Store], clock: Any) -> None:
    """Two processes: two stores on the same file or collection, each with its own middleware."""
    here, there = (AccountsApp(store, clock) for store in stores)
    user = browser(here)
    user.get("/login?user=alice")
    assert user.get("/me").text.startswith("alice")
    there_view = TestApp(there.sessions, extra_environ={"HTTP_COOKIE": f"connect.sid={cookie_of(user)}"})
    assert there_view.get("/me").text.startswith("alice")  # the other process serves it
    assert here.sessions.revoke_all("alice") == 1
    assert there_view.get("/me").text == "None None"  # and no longer, at its very next request
    for store in stores:
        store.close()


def test_a_revocation_reaches_every_process_sharing_an_sqlite_file(tmp_path, clock):
    from wsgisession import SQLiteStore

    revocation_reaches_the_other_process([SQLiteStore(tmp_path / "shared.sqlite3", clock=clock) for _ in range(2)],
                                         clock)


def test_a_revocation_reaches_every_process_sharing_a_collection(mongo_database, clock):
    from wsgisession import MongoStore

    revocation_reaches_the_other_process(
        [MongoStore(mongo_database["sessions"], clock=clock, auto_remove="disabled") for _ in range(2)], clock)


def test_concurrent_logins_agree_on_the_per_user_limit(store, clock):
    a, core_a = open_on_core(store, clock, genid=default_genid, max_sessions_per_user=1)
    b, core_b = open_on_core(store, clock, genid=default_genid, max_sessions_per_user=1)
    a.login("alice")
    clock.advance(1)
    b.login("alice")  # each login saves its session, then ends all but the newest
    core_a.close(a)
    core_b.close(b)
    (left,) = core_a.accounts.sessions_of("alice")
    assert left.handle == core_a.accounts.handle(b.id)


def test_a_login_whose_new_id_is_taken_never_merges_into_that_session(store, clock):
    victim, core = open_on_core(store, clock, genid=lambda request: "same-id")
    victim.login("alice")
    core.close(victim)
    attacker, other_core = open_on_core(store, clock, genid=lambda request: "same-id")  # a broken genid
    attacker.login("mallory")
    with pytest.raises(SessionError, match="genid"):
        other_core.close(attacker)
    assert store.load("same-id").account.user_id == "alice"


def test_logging_in_as_another_user_starts_from_empty_data(store, clock):
    session, core = open_session(store, clock)
    session["cart"] = "anonymous apples"
    session.login("alice")
    assert session["cart"] == "anonymous apples"  # an anonymous cart follows the login
    session["alice only"] = "x"
    core.close(session)
    switched, _ = open_session(store, clock, session.id)
    switched.login("bob")
    assert dict(switched) == {}
    core.close(switched)
    assert dict(open_session(store, clock, switched.id)[0]) == {}


def test_revoke_with_a_handle_that_is_not_ascii_is_false_not_an_error(store, clock):
    session, core = open_session(store, clock)
    session.login("alice")
    core.close(session)
    assert core.accounts.revoke("alice", "ünicode \udcff handle") is False
    assert len(core.accounts.sessions_of("alice")) == 1


# -- max_sessions_per_user: a login never ends its own session; or it is refused -----------------------


def descending_ids():
    """Each new id sorts before every earlier one: a login's key is then the smallest, which the
    per-user limit once broke ties with (the login ended itself)."""
    counter = iter(range(999_999, 0, -1))
    return lambda request: f"{next(counter):06d}-a-session-id-of-some-length"


def test_a_login_in_the_same_millisecond_as_another_never_ends_itself(store, clock):
    app = AccountsApp(store, clock, max_sessions_per_user=1, genid=descending_ids())
    first, second = browser(app, "first"), browser(app, "second")
    first.get("/login?user=alice")
    second.get("/login?user=alice")  # the same millisecond (the clock did not move), a smaller key
    assert second.get("/me").text.startswith("alice")  # its own session survived its login
    assert first.get("/me").text == "None None"  # the older one ended
    assert [info.user_agent for info in app.sessions.sessions_of("alice")] == ["second"]


def test_a_login_on_a_server_whose_clock_lags_never_ends_itself(store, clock):
    from .helpers import FakeClock

    lagging = FakeClock(clock() - 30)  # another app server, 30 s behind, on the same store
    ahead, behind = AccountsApp(store, clock), AccountsApp(store, lagging, max_sessions_per_user=1)
    first, second = browser(ahead, "first"), TestApp(behind.sessions, extra_environ={"HTTP_USER_AGENT": "second"})
    first.get("/login?user=alice")  # logged in at t
    second.get("/login?user=alice")  # logged in at t - 30 by its own clock: still the one kept
    assert second.get("/me").text.startswith("alice") and first.get("/me").text == "None None"
    assert behind.sessions.events.counts["evicted"] == 1


class RefusingApp(AccountsApp):
    """An app that shows TooManySessions' message, as a login page would."""

    def __call__(self, environ, start_response):
        from wsgisession import TooManySessions

        try:
            return super().__call__(environ, start_response)
        except TooManySessions as refused:
            start_response("409 Conflict", [("Content-Type", "text/plain")])
            return [f"{refused.limit} {refused.active} {refused}".encode()]


def test_the_refuse_policy_refuses_a_login_beyond_the_limit(store, clock):
    app = RefusingApp(store, clock, max_sessions_per_user=2, max_sessions_policy="refuse")
    first, second, third = browser(app, "first"), browser(app, "second"), browser(app, "third")
    for user_browser in (first, second):
        user_browser.get("/login?user=alice")
        clock.advance(1)
    third.get("/set?key=cart&value=pears")
    anonymous = cookie_of(third)
    refused = third.get("/login?user=alice", status=409)
    assert refused.text.startswith("2 2 This account is already signed in on 2 devices, the most allowed")
    assert "alice" not in refused.text and "Set-Cookie" not in refused.headers
    assert cookie_of(third) == anonymous and third.get("/me").text == "None pears"  # as it was, data kept
    assert sorted(info.user_agent for info in app.sessions.sessions_of("alice")) == ["first", "second"]
    second.get("/login?user=alice")  # logging in again in a browser that has a place: its own does not count
    assert app.sessions.events.counts["refused"] == 1 and app.sessions.events.counts["evicted"] == 0
    first.get("/logout")
    assert third.get("/login?user=alice").text == "logged in" and third.get("/me").text == "alice pears"


def test_two_logins_racing_for_the_last_place_are_both_refused(store, clock):
    """Both saved before either looks again: each sees the other, and neither gets in, whatever the
    clocks say; each browser's session goes on anonymous with its data."""
    from wsgisession import TooManySessions

    sessions, cores = [], []
    for _ in range(2):
        session, core = open_on_core(store, clock, genid=default_genid, max_sessions_per_user=1,
                                     max_sessions_policy="refuse")
        session["cart"] = "figs"
        sessions.append(session)
        cores.append(core)
    steps = [core._accounts.login(session._opened(), "alice", None) for session, core in zip(sessions, cores)]
    pending = [next(steps[0]), next(steps[1])]
    listed = [0, 0]

    def step(i):  # run login i's pending store operation, and take its next one
        if pending[i][0] == "iter_bound":
            listed[i] += 1
        pending[i] = steps[i].send(getattr(store, pending[i][0])(*pending[i][1:]))

    def until_listing(i, n):  # run login i up to (not into) its n-th look at alice's sessions
        while not (pending[i][0] == "iter_bound" and listed[i] == n - 1):
            step(i)

    for i in (0, 1):
        until_listing(i, 1)
    step(0), step(1)  # both look before either saved: nobody there
    for i in (0, 1):
        until_listing(i, 2)  # both saved, neither has looked again
    step(0), step(1)  # both look again, and each sees the other, before either undoes its login
    for i in (0, 1):
        with pytest.raises(TooManySessions):
            while True:
                step(i)
    assert cores[0].accounts.sessions_of("alice") == []
    for session, core in zip(sessions, cores):
        assert session.user_id is None and session["cart"] == "figs"
        assert set_cookie_of(core.close(session)) is not None  # anonymous, under another new id


def test_the_policy_must_be_one_of_two(clock):
    from wsgisession import MemoryStore

    with pytest.raises(ConfigurationError, match="max_sessions_policy must be 'end_oldest'.*or 'refuse'"):
        SessionMiddleware(lambda e, s: [], secret=SECRET, store=MemoryStore(), max_sessions_per_user=1,
                          max_sessions_policy="block")
