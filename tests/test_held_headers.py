"""Apps that call start_response before they use the session: the headers wait for the body.

PEP 3333 lets the headers go out as late as the first chunk of the body, so the middleware holds
an app's start_response until then when its session is not used yet. Such an app (many legacy
apps answer this way) gets a full session: saved, with its cookie and Vary header.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from webtest import TestApp

from wsgisession import MemoryStore, SessionMiddleware, StoreUnavailable, get_session

from .webapp import SECRET, make, session_id, set_cookies


def test_a_new_session_used_after_start_response_gets_its_cookie():
    store = MemoryStore()
    client, _ = make(store)
    response = client.get("/late")  # start_response, then the session, then a list body
    sid = session_id(response)
    assert sid is not None and store.get(sid)["late"] is True
    assert response.headers["Vary"] == "Cookie"
    assert client.get("/read").json == {"late": True}  # the browser got the cookie


def test_the_write_callable_passes_held_headers_on_first():
    store = MemoryStore()
    client, _ = make(store)
    response = client.get("/write")  # start_response, the session, then write()
    assert response.body == b"via write()" and store.get(session_id(response))["written"] is True


def counting_generator(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain")])
    session = get_session(environ)  # before the first chunk: still in time for the headers
    session["n"] = session.get("n", 0) + 1
    yield str(session["n"]).encode()
    yield b" done"


def test_a_generator_may_use_the_session_until_its_first_chunk():
    client = TestApp(SessionMiddleware(counting_generator, secret=SECRET, store=MemoryStore()))
    first = client.get("/")
    assert first.text == "1 done" and session_id(first) is not None
    assert client.get("/").text == "2 done"


def test_an_empty_body_passes_held_headers_on_at_its_end():
    def empty(environ, start_response):
        start_response("204 No Content", [])
        get_session(environ)["seen"] = True
        return iter([])

    store = MemoryStore()
    response = TestApp(SessionMiddleware(empty, secret=SECRET, store=store)).get("/", status=204)
    assert store.get(session_id(response))["seen"] is True


def test_an_error_page_replaces_held_headers():
    def failing(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        get_session(environ)["tried"] = True
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error page"]

    response = TestApp(SessionMiddleware(failing, secret=SECRET, store=MemoryStore())).get("/", status=500)
    assert response.body == b"error page" and len(set_cookies(response)) == 1


class Down(MemoryStore):
    def save(self, sid: str, session: Any, version: Any, **options: Any) -> Any:
        raise StoreUnavailable("down")


@pytest.mark.parametrize("path", ["/late", "/write"])
def test_a_store_failure_when_held_headers_go_out_is_a_503(path):
    client, _ = make(Down())
    response = client.get(path, status=503)
    assert response.headers["Retry-After"] and "Set-Cookie" not in response.headers


def test_a_store_failure_before_a_generators_first_chunk_is_a_503():
    client = TestApp(SessionMiddleware(counting_generator, secret=SECRET, store=Down()))
    response = client.get("/", status=503)
    assert response.headers["Retry-After"] and "Set-Cookie" not in response.headers


def test_after_a_503_the_store_is_not_tried_again_at_close():
    class Fails(MemoryStore):
        down = False
        saves = 0

        def save(self, *args: Any, **options: Any) -> Any:
            self.saves += 1
            if self.down:
                raise StoreUnavailable("down")
            return super().save(*args, **options)

    store = Fails()
    client = TestApp(SessionMiddleware(counting_generator, secret=SECRET, store=store))
    client.get("/")
    store.down, store.saves = True, 0
    client.get("/", status=503)  # WebTest closes the body: the save is not retried then
    assert store.saves == 1


def test_a_generator_that_raises_store_unavailable_before_its_first_chunk_is_a_503():
    def failing(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise StoreUnavailable("the app asked the store itself")
        yield b"never"

    client = TestApp(SessionMiddleware(failing, secret=SECRET, store=MemoryStore()))
    assert client.get("/", status=503).headers["Retry-After"]


def test_a_second_start_response_without_exc_info_is_an_error_even_while_held():
    def twice(environ, start_response):
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b""]

    with pytest.raises(AssertionError, match="exc_info"):
        TestApp(SessionMiddleware(twice, secret=SECRET, store=MemoryStore()), lint=False).get("/")
