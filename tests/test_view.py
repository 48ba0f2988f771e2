"""SessionView: the one mapping over a Session that the Flask and Django adapters share."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest

from wsgisession import MemoryStore, Session, StoreUnavailable
from wsgisession.config import SessionConfig
from wsgisession.core import SessionCore
from wsgisession.django.session_store import SessionStore
from wsgisession.flask import FlaskSession
from wsgisession.view import SessionView

SECRET = "a session secret of 32 bytes or more"
# What SessionView writes once: the mapping, the "changed so far" flag, and a repr without the id.
SHARED = ("__getitem__", "__setitem__", "__delitem__", "__iter__", "__len__", "__contains__", "get", "modified",
          "accessed", "__repr__")


class View(SessionView):
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _session(self) -> Session:
        return self.session


@pytest.fixture
def core() -> SessionCore:
    return SessionCore(SessionConfig(secret=SECRET, store=MemoryStore()))


@pytest.mark.parametrize("adapter", [FlaskSession, SessionStore])
def test_the_flask_and_django_views_share_the_one_mapping(adapter):
    assert issubclass(adapter, SessionView)
    for name in SHARED:
        assert name not in vars(adapter), f"{adapter.__name__} writes its own {name}"
        assert getattr(adapter, name) is getattr(SessionView, name)


def test_the_view_is_the_sessions_mapping(core):
    session = core.open(None, False, None)
    view = View(session)
    assert not view.modified and not session.loaded  # an unused session is not read to tell
    view["cart"] = ["book"]
    view["n"] = 1
    view["cart"].append("pen")
    assert dict(session) == {"cart": ["book", "pen"], "n": 1} and view.modified
    assert "n" in view and "x" not in view and view.get("x", 0) == 0 and len(view) == 2
    assert sorted(view) == ["cart", "n"]
    view.modified = True  # never needed (the data is compared), and changes nothing
    view.modified = False  # resets the flag, as in Django and Flask (what is saved still follows the data)
    assert not view.modified
    view["cart"].append("eraser")  # a nested edit counts
    assert view.modified
    view.modified = False
    view["n"] = 1  # setting a key counts, even to what it held (Django's and Flask's flag)
    assert view.modified
    del view["n"]
    assert view.pop("cart") == ["book", "pen", "eraser"] and dict(session) == {}
    assert view.modified
    with pytest.raises(KeyError, match="reserved"):
        view["cookie"] = {}  # the Session's own rules


def test_the_view_never_shows_the_id(core):
    session = core.open(None, False, None)
    view = View(session)
    view["k"] = 1
    assert repr(view) == f"<View {session!r}>" and session.id not in repr(view)


def test_a_view_names_its_session():
    class Nameless(SessionView):
        pass

    with pytest.raises(TypeError, match="_session"):
        Nameless()  # type: ignore[abstract]


def test_djangos_view_refuses_once_the_store_failed(core):
    """After a StoreUnavailable in the request, every read goes no further (Django's 500 page would try again)."""
    store = SessionStore(core=core, session=core.open(None, False, None))
    store["k"] = 1
    store.failed = error = StoreUnavailable("down")
    for use in (lambda: store["k"], lambda: store.get("k"), lambda: "k" in store, lambda: len(store),
                lambda: repr(store), lambda: store.modified, lambda: store.update(j=2)):
        with pytest.raises(StoreUnavailable, match="failed earlier") as raised:
            use()
        assert raised.value.__cause__ is error


@pytest.mark.parametrize(("value", "says"), [
    pytest.param(b"\xff", "a bytes, which is not JSON", id="bytes"),
    pytest.param({"when": datetime.date(2026, 1, 2)}, "value.isoformat()", id="nested-date"),
    pytest.param([uuid.UUID(int=1)], "str(value)", id="uuid-in-a-list"),
    pytest.param({1, 2}, "a list, e.g. sorted(value)", id="set"),
    pytest.param(float("nan"), "a NaN or an infinity", id="nan"),
])
def test_a_value_that_is_not_json_is_refused_as_it_is_set(core, value, says):
    """Django's request.session and Flask's session alike: a TypeError the view can handle, saying what to store."""
    session = core.open(None, False, None)
    view = View(session)
    view["kept"] = [1]
    with pytest.raises(TypeError, match="session\\['k'\\] holds") as refused:
        view["k"] = value
    assert says in str(refused.value) and "k" not in session and session["kept"] == [1]
    store = SessionStore(core=core, session=session)  # (Django's, the same view)
    with pytest.raises(TypeError, match=re.escape(says)):
        store["k"] = value
