"""Express sharing in one real browser: one tab alternates between ``python demo.py`` and the Express
peer (express-session + connect-mongo, tests/interop/server.js), and the count is exact.

Both listen on 127.0.0.1, on two ports: browsers scope cookies by host, not by port, so the tab's
single ``connect.sid`` goes to both, as it would to two services behind one site. They share the
secret and the MongoDB collection. One MongoDB-protocol server is enough here (FerretDB, or the
server of WSGISESSION_TEST_MONGODB_URI): what this test adds to tests/test_interop.py, which runs
on both servers, is the browser's cookie jar, not the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from selenium.webdriver.common.by import By

from .browser.chromium import Browser
from .browser.fixtures import browsers_fixture, certificate_fixture  # noqa: F401  (fixtures)
from .browser.servers import DemoProcess
from .interop.harness import SECRET, App, Cluster
from .mongo_fixtures import MONGO_SERVERS, Servers

COUNT = re.compile(r"^Hola has visto esta página (\d+)$")


@pytest.fixture
def shared(mongo_servers: Servers, tmp_path: Path) -> Iterator[tuple[DemoProcess, App, Cluster]]:
    """demo.py and the Express peer on one fresh database, with one secret."""
    cluster = Cluster(mongo_servers.uri(MONGO_SERVERS[0]), tmp_path)  # "ferretdb" (or "external")
    demo: DemoProcess | None = None
    try:
        (node,) = cluster.start(("node", {}))
        demo = DemoProcess(tmp_path, MONGODB_URI=cluster.url, SESSION_SECRET=SECRET)
        demo.start()
        yield demo, node, cluster
    finally:
        try:
            if demo is not None:
                demo.stop()
                print(f"----- demo.py log -----\n{demo.log_text()}")
        finally:
            cluster.close()


def test_one_tab_alternates_between_the_python_demo_and_express_and_the_count_is_exact(
        browsers: Callable[..., Browser], shared: tuple[DemoProcess, App, Cluster]) -> None:
    demo, node, cluster = shared
    browser = browsers("shared")
    sid = None
    for visit in range(1, 9):
        if visit % 2:  # the Python demo
            browser.get(demo.url("/"))
            match = COUNT.match(browser.wait_text("Hola has visto esta página").strip())
            assert match, browser.text()
            assert int(match.group(1)) == visit, f"visit {visit} on demo.py"
        else:  # the Express peer: {"cuenta": n, "id": sid}
            browser.get(f"http://127.0.0.1:{node.port}/inc")
            reply = json.loads(browser.wait(lambda b: b.driver.find_element(By.TAG_NAME, "pre").text, "the JSON"))
            assert reply["cuenta"] == visit, f"visit {visit} on Express: {reply}"
            assert sid is None or reply["id"] == sid
            sid = reply["id"]
        jar = [c for c in browser.cookies() if c["name"] == "connect.sid"]
        assert len(jar) == 1 and jar[0]["domain"] == "127.0.0.1", jar  # one cookie, for both ports
        value = unquote(jar[0]["value"])
        assert value.startswith("s:")
        if sid is not None:
            assert value[2:].rsplit(".", 1)[0] == sid  # the same session id on both sides
    document = cluster.document(sid)  # type: ignore[arg-type]
    assert document is not None
    stored = json.loads(document["session"]) if isinstance(document["session"], str) else document["session"]
    assert stored["cuenta"] == 8
