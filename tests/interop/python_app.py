"""The Python twin of server.js: the same routes under SessionMiddleware, on waitress.

Configured from the same environment variables as server.js (PORT, SECRETS, COOKIE, PROXY, and the
store: STORE ``mongo`` (the default: MongoStore on MONGODB_URL, COLLECTION, TOUCH_AFTER,
AUTO_REMOVE), ``redis`` (RedisStore on REDIS_URL, PREFIX, TTL) or ``postgres`` (PostgresStore on
POSTGRES_URL, TABLE, TTL), each the Python side of server.js's store); COOKIE holds *express*
cookie options, which are mapped to CookieOptions here (maxAge in ms -> max_age in seconds, ...).
Missing keys get express's defaults, not wsgisession's, so both twins start from the same
configuration.

Encryption at rest and hashed ids, read exactly as server.js reads them (absent: off):
AT_REST_CRYPTO is JSON ``{"kind": "webcrypto" | "kruptein", "secret": "<non-empty string>"}``,
``crypto=WebCryptoAdapter(secret)`` (Node: ``cryptoAdapter: createWebCryptoAdapter({secret})``) or
``crypto=KrupteinCrypto(secret)`` (Node: the legacy ``crypto: {secret}``); AT_REST_TRANSFORM
``"sha256"`` is ``transform_id=`` the hex SHA-256 of the id (Node: the same ``transformId``).

Accounts: GET /login?user=U is ``session.login`` (server.js's twin is a Node login that binds its
session through the collection); GET /account (``session.user_id``) and, outside any session, an
admin's GET /sessions-of?user=U and POST /revoke-all?user=U (the middleware's ``sessions_of`` and
``revoke_all``) are Python's only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import sys
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from wsgisession import CookieOptions, MongoStore, SessionMiddleware, get_session
from wsgisession.serialization import datetime_to_ms, format_iso

_EXPRESS_COOKIE_KEYS = {"maxAge": "max_age", "secure": "secure", "httpOnly": "http_only", "sameSite": "same_site",
                        "path": "path", "domain": "domain", "partitioned": "partitioned", "priority": "priority"}


class BadRequest(Exception):
    pass


def cookie_options(express: dict[str, Any]) -> CookieOptions:
    """Express cookie options as CookieOptions, with express's defaults for what is missing."""
    unknown = set(express) - set(_EXPRESS_COOKIE_KEYS)
    if unknown:
        raise SystemExit(f"COOKIE has options this twin does not map: {sorted(unknown)}")
    options: dict[str, Any] = {"secure": False, "same_site": None}  # express: not Secure, no SameSite
    for key, value in express.items():
        options[_EXPRESS_COOKIE_KEYS[key]] = value
    if options.get("max_age") is not None:
        options["max_age"] = options["max_age"] / 1000
    if options["same_site"] is True:
        options["same_site"] = "strict"
    elif options["same_site"] is False:
        options["same_site"] = None
    return CookieOptions(**options)


def describe(session: Any) -> dict[str, Any]:
    cookie = session.cookie
    expires = cookie.expires
    return {"id": session.id, "data": dict(session),
            "cookie": {"originalMaxAge": cookie.original_max_age,
                       "expires": None if expires is None else format_iso(datetime_to_ms(expires))}}


def account(session: Any) -> dict[str, Any]:
    return {"id": session.id, "user": session.user_id, "authenticatedAt": session.authenticated_at,
            "data": dict(session)}


def user_of(query: dict[str, str]) -> str:
    user = query.get("user", "")
    if not user:
        raise BadRequest("user is required")
    return user


def handle(method: str, path: str, query: dict[str, str], body: bytes, session: Any) -> tuple[str, Any]:
    """Route one request; return (status, JSON body). Mirrors server.js route by route."""
    if (method, path) == ("GET", "/inc"):
        session["cuenta"] = session.get("cuenta", 0) + 1
        return "200 OK", {"cuenta": session["cuenta"], "id": session.id}
    if (method, path) == ("GET", "/session"):
        return "200 OK", describe(session)
    if (method, path) == ("POST", "/set"):
        data = json.loads(body or b"null")
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        session.update(data)
        return "200 OK", describe(session)
    if (method, path) == ("GET", "/max-age"):
        try:
            ms = float(query.get("ms", ""))
        except ValueError:
            raise BadRequest("ms must be a number >= 0") from None
        if not ms >= 0:
            raise BadRequest("ms must be a number >= 0")
        ms = int(ms) if ms.is_integer() else ms
        session.cookie.max_age = ms / 1000
        session["maxAgeMs"] = ms  # a data change, as in server.js
        return "200 OK", describe(session)
    if (method, path) == ("GET", "/regenerate"):
        session.regenerate()  # keeps the data (server.js copies it across)
        return "200 OK", describe(session)
    if (method, path) == ("GET", "/destroy"):
        sid = session.id
        session.destroy()
        return "200 OK", {"destroyed": sid}
    if (method, path) == ("GET", "/login"):
        session.login(user_of(query))  # keeps the data, as regenerate() does
        return "200 OK", account(session)
    if (method, path) == ("GET", "/account"):
        return "200 OK", account(session)
    return "404 Not Found", {"error": "not found"}


def respond(start_response: Any, status: str, reply: Any) -> list[bytes]:
    data = json.dumps(reply, separators=(",", ":")).encode("ascii")  # escapes even lone surrogates
    start_response(status, [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    try:
        status, reply = handle(environ["REQUEST_METHOD"], environ["PATH_INFO"], query, body, get_session(environ))
    except (BadRequest, json.JSONDecodeError) as exc:
        status, reply = "400 Bad Request", {"error": str(exc)}
    return respond(start_response, status, reply)


def with_admin_routes(middleware: SessionMiddleware) -> Any:
    """The middleware, plus the routes of an admin page that act on a user's sessions, not on the
    requester's own: GET /sessions-of?user=U and POST /revoke-all?user=U."""

    def admin(environ: dict[str, Any], start_response: Any) -> Any:
        route = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if route not in (("GET", "/sessions-of"), ("POST", "/revoke-all")):
            return middleware(environ, start_response)
        try:
            user = user_of(dict(parse_qsl(environ.get("QUERY_STRING", ""))))
        except BadRequest as exc:
            return respond(start_response, "400 Bad Request", {"error": str(exc)})
        if route[1] == "/sessions-of":
            return respond(start_response, "200 OK", [dataclasses.asdict(info) for info in middleware.sessions_of(user)])
        return respond(start_response, "200 OK", {"revoked": middleware.revoke_all(user)})

    return admin


def fail(message: str) -> NoReturn:
    """Exit 2 with the message, as server.js does on a bad configuration."""
    print(f"interop python_app cannot start: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def sha256_id(sid: str) -> str:
    """AT_REST_TRANSFORM=sha256: the stored _id, as server.js's transformId computes it."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def at_rest_options(env: Any) -> dict[str, Any]:
    """MongoStore's crypto/transform_id for AT_REST_CRYPTO and AT_REST_TRANSFORM (none when both are absent)."""
    options: dict[str, Any] = {}
    if env.get("AT_REST_CRYPTO"):
        usage = 'AT_REST_CRYPTO must be JSON {"kind": "webcrypto" | "kruptein", "secret": "<non-empty string>"}'
        try:
            spec = json.loads(env["AT_REST_CRYPTO"])
        except ValueError:
            spec = None
        if not (isinstance(spec, dict) and set(spec) == {"kind", "secret"}
                and spec["kind"] in ("webcrypto", "kruptein") and isinstance(spec["secret"], str) and spec["secret"]):
            fail(usage)
        from wsgisession.crypto import KrupteinCrypto, WebCryptoAdapter

        options["crypto"] = (WebCryptoAdapter if spec["kind"] == "webcrypto" else KrupteinCrypto)(spec["secret"])
    transform = env.get("AT_REST_TRANSFORM")
    if transform:
        if transform != "sha256":
            fail('AT_REST_TRANSFORM must be "sha256"')
        options["transform_id"] = sha256_id
    return options


def ttl_option(env: Any) -> dict[str, float]:
    """TTL (seconds, as server.js reads it for connect-redis and connect-pg-simple) as the store's ``ttl``."""
    if not env.get("TTL"):
        return {}
    try:
        ttl = float(env["TTL"])
    except ValueError:
        ttl = 0
    if not ttl > 0:
        fail("TTL must be seconds > 0")
    return {"ttl": ttl}


def store_from_env(env: Any) -> Any:
    """The store STORE names, configured as server.js configures its own from the same variables."""
    kind = env.get("STORE") or "mongo"
    if kind == "mongo":
        if not env.get("MONGODB_URL"):
            fail("MONGODB_URL (with the database in its path) is required")
        return MongoStore.from_url(env["MONGODB_URL"], collection=env.get("COLLECTION") or "sessions",
                                   touch_after=float(env.get("TOUCH_AFTER") or 0),
                                   auto_remove=env.get("AUTO_REMOVE") or "interval", **at_rest_options(env))
    if env.get("AT_REST_CRYPTO") or env.get("AT_REST_TRANSFORM"):
        fail(f"AT_REST_CRYPTO and AT_REST_TRANSFORM are connect-mongo's: server.js refuses them with STORE={kind}")
    if kind == "redis":
        from wsgisession import RedisStore

        if not env.get("REDIS_URL"):
            fail("REDIS_URL (redis://host:port) is required with STORE=redis")
        return RedisStore.from_url(env["REDIS_URL"], prefix=env.get("PREFIX", "sess:"), **ttl_option(env))
    if kind == "postgres":
        from wsgisession import PostgresStore

        if not env.get("POSTGRES_URL"):
            fail("POSTGRES_URL (postgresql://user@host:port/db) is required with STORE=postgres")
        return PostgresStore.from_url(env["POSTGRES_URL"], table=env.get("TABLE") or "session", **ttl_option(env))
    fail('STORE must be "mongo", "redis" or "postgres"')


def build() -> tuple[Any, int, Any, bool]:
    env = os.environ
    try:
        port = int(env["PORT"])
        secrets = json.loads(env["SECRETS"])
        express_cookie = json.loads(env.get("COOKIE") or "{}")
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"interop python_app cannot start: bad or missing PORT/SECRETS/COOKIE ({exc!r})")
    proxy = env.get("PROXY", "false")
    if proxy not in ("true", "false"):
        raise SystemExit('interop python_app cannot start: PROXY must be "true" or "false"')
    store = store_from_env(env)
    wrapped = SessionMiddleware(app, secret=secrets, store=store, cookie=cookie_options(express_cookie),
                                trust_proxy=proxy == "true", resave=False, save_uninitialized=False)
    return with_admin_routes(wrapped), port, store, proxy == "true"


def serve(wsgi: Any, port: int, store: Any, proxy: bool, label: str) -> None:
    """Check the store answers, then serve ``wsgi`` with waitress on 127.0.0.1:``port`` until SIGTERM
    (then close the store); the harness waits for the "listening on" line."""
    import waitress

    if (os.environ.get("STORE") or "mongo") == "mongo":
        try:
            store.collection.database.command("ping")
        except Exception as exc:
            fail(f"MongoDB at MONGODB_URL does not answer: {exc}")
    else:
        try:
            store.load("interop-startup-probe")  # a read of an id no one has: the store answers, or this fails
        except Exception as exc:
            fail(f"the {type(store).__name__} does not answer: {exc!r}")
    try:
        # waitress deletes X-Forwarded-* headers unless told otherwise; with PROXY=true the
        # middleware's trust_proxy (not waitress) is what must honour X-Forwarded-Proto.
        server = waitress.create_server(wsgi, host="127.0.0.1", port=port, threads=4,
                                        clear_untrusted_proxy_headers=not proxy)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc}")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # so the store is closed
    print(f"interop {label} listening on http://127.0.0.1:{port}/", flush=True)
    try:
        server.run()
    finally:
        store.close()


def main() -> None:
    wrapped, port, store, proxy = build()
    serve(wrapped, port, store, proxy, "python app")


if __name__ == "__main__":
    sys.exit(main())
