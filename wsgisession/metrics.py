"""The lifecycle counters (events.py) in Prometheus's text exposition format, with no dependency.

Serve them on a route of your own (behind whatever protects your other internal routes)::

    def metrics(environ, start_response):
        body = sessions.metrics().encode()       # sessions: the SessionMiddleware
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [body]

One counter family, ``wsgisession_session_events_total``, with an ``event`` label per event:
``login``, ``logout``, ``revoked``, ``created``, ``destroyed``, ``bad_signature``,
``unknown_id``, ``merged``, ``conflict``, ``store_error``... (every key of ``EVENTS``).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FAMILY = "wsgisession_session_events_total"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(counts: Mapping[str, int]) -> str:
    """``counts`` (``middleware.events.counts``) as a Prometheus text exposition."""
    lines = [f"# HELP {_FAMILY} Session lifecycle events since the process started, by event.",
             f"# TYPE {_FAMILY} counter"]
    lines += [f'{_FAMILY}{{event="{_label(name)}"}} {int(count)}' for name, count in counts.items()]
    return "\n".join(lines) + "\n"
