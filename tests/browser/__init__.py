"""The browser suite's machinery: headless Chromium from Debian (chromium.py), the servers and small
WSGI apps the tests start on loopback ports (servers.py), the https certificate made at test time
(tls.py) and the pytest fixtures (fixtures.py). The tests are tests/test_browser_*.py; their
screenshots go to tests/browser/artifacts/ (git-ignored)."""
