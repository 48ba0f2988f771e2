from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgisession.serialization import datetime_to_ms, dumps, format_iso, loads, ms_to_datetime, parse_iso


def test_dumps_writes_what_json_stringify_writes():
    assert dumps({"cookie": {"originalMaxAge": None}, "ñ": "日本 🍣", "n": [1, -2, 0.5, True, None]}) == (
        '{"cookie":{"originalMaxAge":null},"ñ":"日本 🍣","n":[1,-2,0.5,true,null]}')


def test_lone_surrogates_are_escaped_like_json_stringify():
    text = dumps({"s": "cut \ud83c"})
    assert text == '{"s":"cut \\ud83c"}' and text.encode("utf-8")
    assert loads(text) == {"s": "cut \ud83c"}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"bytes", object()])
def test_non_json_values_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        dumps({"v": value})


def test_iso_dates_like_javascript():
    assert format_iso(1_768_480_496_789) == "2026-01-15T12:34:56.789Z"
    assert format_iso(0) == "1970-01-01T00:00:00.000Z"
    assert parse_iso("2026-01-15T12:34:56.789Z") == 1_768_480_496_789
    assert parse_iso("2026-01-15T12:34:56+00:00") == 1_768_480_496_000


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_iso_round_trip(ms):
    assert parse_iso(format_iso(ms)) == ms
    assert datetime_to_ms(ms_to_datetime(ms)) == ms


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_json_round_trip(value):
    assert loads(dumps(value)) == value
