"""A small real Flask app on wsgisession.flask, with Flask-Login: what tests/test_flask.py drives.

JSON replies. ``/count`` is the visit counter; ``/login?user=alice`` (any known user, no password: a
test) is Flask-Login's ``login_user``, ``/reauth`` its ``confirm_login``, ``/logout`` its
``logout_user``, ``/me`` who Flask-Login and wsgisession say is logged in; ``/flash?msg=`` and
``/messages`` are Flask's flash messages; ``/set?k=<json>`` and ``/read`` the data; ``/sync/set?...``
loads the session, waits at ``app.config["BARRIER"]`` for the other requests, then sets its keys;
``/flags`` reports Flask's SessionMixin flags; ``/permanent`` sets ``session.permanent``; ``/vary``
has a Vary of its own; ``/store?kind=`` stores a value that is not JSON (the app's error handlers
answer 422, or 500); ``/stream`` writes to the session while its body streams; ``/plain`` never
touches the session. No
``app.secret_key`` unless a test sets one (for Flask-Login's remember cookie).
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from typing import Any

from flask import Flask, flash, get_flashed_messages, jsonify, request, session, stream_with_context
from flask_login import LoginManager, UserMixin, confirm_login, current_user, login_required, login_user, logout_user

from wsgisession import SessionMiddleware, Store
from wsgisession.flask import install

SECRET = "the flask test secret: long enough not to warn"
# Values Flask's cookie session took (its tagged JSON) and JSON has no type for.
NOT_JSON = {"bytes": b"\xff", "uuid": uuid.UUID(int=7), "datetime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            "date": date(2026, 1, 2), "set": {1, 2}}
USERS = ("alice", "bob")


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def create_app(store: Store, config: dict[str, Any] | None = None, **options: Any) -> tuple[Flask, SessionMiddleware]:
    """A fresh app on ``store`` (``config``: app.config keys set before ``install``; ``options``: install's)."""
    app = Flask(__name__)
    app.config.update(config or {})
    login_manager = LoginManager(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return User(user_id) if user_id in USERS else None

    sessions = install(app, secret=SECRET, store=store, **options)

    def me() -> dict[str, Any]:
        return {"user": current_user.get_id(), "user_id": session.user_id, "data": dict(session)}

    @app.get("/count")
    def count() -> Any:
        session["cuenta"] = session.get("cuenta", 0) + 1
        return jsonify(cuenta=session["cuenta"], id=session.id)

    @app.get("/login")
    def login() -> Any:
        login_user(User(request.args["user"]), remember=request.args.get("remember") == "1")
        return jsonify(me())

    @app.get("/reauth")
    @login_required
    def reauth() -> Any:
        confirm_login()
        return jsonify(at=session.authenticated_at, **me())

    @app.get("/logout")
    def logout() -> Any:
        logout_user()
        return jsonify(me())

    @app.get("/me")
    def whoami() -> Any:
        return jsonify(me())

    @app.get("/flash")
    def add_flash() -> Any:
        flash(request.args["msg"], request.args.get("category", "message"))
        return jsonify("flashed")

    @app.get("/messages")
    def messages() -> Any:
        return jsonify(get_flashed_messages(with_categories=request.args.get("categories") == "1"))

    @app.get("/set")
    def set_keys() -> Any:
        for key, value in request.args.items():
            session[key] = json.loads(value)
        return jsonify(dict(session))

    @app.get("/read")
    def read() -> Any:
        return jsonify(dict(session))

    @app.get("/sync/set")
    def sync_set() -> Any:
        session.get("n")  # loaded: every request of the test has read the same record before any saves
        app.config["BARRIER"].wait(15)
        for key, value in request.args.items():
            session[key] = json.loads(value)
        return jsonify("ok")

    @app.get("/flags")
    def flags() -> Any:
        before = {"accessed": session.accessed, "modified": session.modified, "new": session.new}
        if "write" in request.args:
            session.setdefault("list", []).append(request.args["write"])  # a nested edit
        return jsonify(before=before, after={"modified": session.modified, "permanent": session.permanent})

    @app.get("/permanent")
    def permanent() -> Any:
        session.permanent = request.args.get("on", "1") == "1"
        if "note" in request.args:  # a change of the data in the same request
            session["note"] = request.args["note"]
        return jsonify(permanent=session.permanent, max_age=session.cookie.max_age)

    @app.get("/vary")
    def vary() -> Any:
        response = jsonify(session.setdefault("seen", True))
        response.vary.add("Accept-Encoding")  # the app's own Vary
        return response

    @app.get("/store")
    def store_value() -> Any:
        """Store a value that is not JSON (``kind``), at the top level or (``nested``) inside a list."""
        value = NOT_JSON[request.args["kind"]]
        if "nested" in request.args:
            session.setdefault("list", []).append(value)
        else:
            session["value"] = value
        return jsonify("stored")

    @app.errorhandler(TypeError)
    def not_json(error: TypeError) -> Any:  # the app handles a value that is not JSON (a view's)
        return jsonify(error=str(error)), 422

    @app.errorhandler(500)
    def failed(error: Any) -> Any:  # ...and one found as Flask saves the session
        return jsonify(error=str(getattr(error, "original_exception", error))), 500

    @app.get("/stream")
    def stream() -> Any:
        @stream_with_context
        def body() -> Any:
            yield "headers sent; "
            session["streamed"] = True  # after the headers: saved when the body is closed
            yield "done"

        return app.response_class(body(), mimetype="text/plain")

    @app.get("/plain")
    def plain() -> Any:
        return jsonify("no session used")

    return app, sessions
