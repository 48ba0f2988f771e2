"""The Flask twin of server.js: a Flask app with Flask-Login on wsgisession.flask, on waitress.

The environment contract of python_app.py (PORT, SECRETS, COOKIE holding *express* cookie options,
PROXY, the store: STORE and its variables, AT_REST_CRYPTO, AT_REST_TRANSFORM), read by its own
helpers. Routes: GET /inc and /session as server.js's; GET /login?user=U is Flask-Login's
``login_user`` (no password: a test), /logout its ``logout_user``, /me who Flask-Login and
wsgisession say is logged in.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, jsonify, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from tests.interop.python_app import cookie_options, describe, fail, serve, store_from_env
from wsgisession.flask import install


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def create_app(env: Any) -> tuple[Flask, Any]:
    try:
        secrets = json.loads(env["SECRETS"])
        express_cookie = json.loads(env.get("COOKIE") or "{}")
    except (KeyError, ValueError) as exc:
        fail(f"bad or missing SECRETS/COOKIE ({exc!r})")
    store = store_from_env(env)
    app = Flask(__name__)
    login_manager = LoginManager(app)
    login_manager.user_loader(User)
    install(app, secret=secrets, store=store, cookie=cookie_options(express_cookie),
            trust_proxy=env.get("PROXY") == "true")

    @app.get("/inc")
    def inc() -> Any:
        session["cuenta"] = session.get("cuenta", 0) + 1
        return jsonify(cuenta=session["cuenta"], id=session.id)

    @app.get("/session")
    def whole() -> Any:
        return jsonify(describe(session))

    @app.get("/login")
    def login() -> Any:
        login_user(User(request.args["user"]))
        return jsonify(id=session.id, user=current_user.get_id(), user_id=session.user_id)

    @app.get("/logout")
    def logout() -> Any:
        logout_user()
        return jsonify(id=session.id, user=current_user.get_id(), user_id=session.user_id)

    @app.get("/me")
    def me() -> Any:
        return jsonify(id=session.id, user=current_user.get_id(), user_id=session.user_id, data=dict(session))

    return app, store


def main() -> None:
    try:
        port = int(os.environ["PORT"])
    except (KeyError, ValueError):
        fail("PORT must be a port number")
    app, store = create_app(os.environ)
    serve(app, port, store, os.environ.get("PROXY") == "true", "flask app")


if __name__ == "__main__":
    main()
