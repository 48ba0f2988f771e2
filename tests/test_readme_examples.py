"""The README's WSGI, Flask and Django examples run as pasted, the way the README says to run them.

Each is the code block after a ``<!-- readme-example: KIND FILE -->`` marker. The WSGI and Flask
apps are run from a fresh directory with ``SESSION_SECRET`` set; the Django block is pasted at the
end of the ``settings.py`` of a project ``django-admin startproject`` has just made, then
``manage.py check``, ``migrate`` and a login to the admin through Django's test Client.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from webtest import TestApp

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECRET = "the README examples' secret, long enough to be safe"


def examples() -> dict[str, str]:
    """The marked examples, by kind (``wsgi``, ``flask``, ``django``)."""
    text = README.read_text(encoding="utf-8")
    return {kind: code for kind, _, code in
            re.findall(r"<!-- readme-example: (\w+) (\S+) -->\n```python\n(.*?)```\n", text, re.S)}


EXAMPLES = examples()


def test_the_readme_marks_the_three_examples():
    assert set(EXAMPLES) == {"wsgi", "flask", "django"}


@pytest.fixture
def fresh_directory(tmp_path, monkeypatch):
    """A new directory as the current one (the examples keep sessions.sqlite3 there), SESSION_SECRET set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    return tmp_path


def run_example(kind: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": "app", "__file__": str(Path.cwd() / "app.py")}
    exec(compile(EXAMPLES[kind], f"README.md ({kind} example)", "exec"), namespace)
    return namespace


def test_the_wsgi_example_counts_visits(fresh_directory):
    namespace = run_example("wsgi")
    client = TestApp(namespace["app"])
    assert [client.get("/").text for _ in range(2)] == ["Hola has visto esta página 1", "Hola has visto esta página 2"]
    assert (fresh_directory / "sessions.sqlite3").exists()
    namespace["app"].store.close()


def test_the_flask_example_counts_visits(fresh_directory):
    namespace = run_example("flask")
    client = namespace["app"].test_client()
    assert [client.get("/").text for _ in range(2)] == ["Hola has visto esta página 1", "Hola has visto esta página 2"]
    namespace["sessions"].store.close()


CLIENT_LOGIN = """
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()  # (as Django's docs say for the test Client in a shell: 'testserver' is allowed)
client = Client()
assert client.login(username="admin", password="a password for the README test"), "login failed"
page = client.get("/admin/")
assert page.status_code == 200, page.status_code
cookie = client.cookies["connect.sid"].value
assert cookie.startswith("s%3A"), cookie
from wsgisession import SQLiteStore
from django.conf import settings
store = SQLiteStore(settings.BASE_DIR / "sessions.sqlite3")
print("logged in", [bound.account.user_id for bound in store.iter_bound()], store.length())
"""


def test_the_django_settings_paste_into_a_new_project(tmp_path):
    env = {**os.environ, "SESSION_SECRET": SECRET, "PYTHONPATH": str(ROOT), "DJANGO_SUPERUSER_PASSWORD":
           "a password for the README test"}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*args: str, cwd: Path) -> str:
        done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("-m", "django", "startproject", "mysite", cwd=tmp_path)
    project = tmp_path / "mysite"
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n" + EXAMPLES["django"], encoding="utf-8")
    assert "System check identified no issues" in run("manage.py", "check", cwd=project)
    run("manage.py", "migrate", "--verbosity", "0", cwd=project)
    run("manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com", cwd=project)
    said = run("manage.py", "shell", "--command", CLIENT_LOGIN, cwd=project).splitlines()
    assert "logged in ['1'] 1" in said  # admin (pk 1) bound by wsgisession's accounts, one session stored
