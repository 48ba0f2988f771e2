from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgisession.cookies import (
    cookie_values,
    decode_uri_component,
    encode_uri_component,
    parse_cookie_header,
    render_set_cookie,
)
from wsgisession.signing import unsign

from .vectorfiles import express

UNSIGN = express()["unsign"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("", {}, id="empty"),
        pytest.param("a", {}, id="too short"),
        pytest.param("a=1; b=2", {"a": "1", "b": "2"}, id="two"),
        pytest.param("a=1;b=2", {"a": "1", "b": "2"}, id="no space"),
        pytest.param(" a = 1 ;\tb=\t2 ", {"a": "1", "b": "2"}, id="blanks trimmed"),
        pytest.param("a=x y", {"a": "x y"}, id="inner space kept"),
        pytest.param("a=b=c", {"a": "b=c"}, id="equals in value"),
        pytest.param('a="quoted"', {"a": "quoted"}, id="quotes stripped"),
        pytest.param('a="', {"a": ""}, id="lone quote"),
        pytest.param("a=1; a=2", {"a": "1"}, id="first duplicate wins"),
        pytest.param("flag; a=1", {"a": "1"}, id="pair without equals skipped"),
        pytest.param("a=1; flag; b=2", {"a": "1", "b": "2"}, id="middle flag skipped"),
        pytest.param("a%2Eb=1", {"a%2Eb": "1"}, id="names not decoded"),
        pytest.param("a=%3a%3A", {"a": "::"}, id="hex either case"),
        pytest.param("a=x+y", {"a": "x+y"}, id="plus is not space"),
        pytest.param("a=%ZZ%3A", {"a": "%ZZ%3A"}, id="bad escape keeps raw"),
        pytest.param("a=%C0%BA", {"a": "%C0%BA"}, id="overlong utf8 keeps raw"),
        pytest.param("a=%ED%A0%80", {"a": "%ED%A0%80"}, id="surrogate keeps raw"),
        pytest.param("a=%C3%B1", {"a": "ñ"}, id="utf8 decoded"),
        pytest.param("a=%C3", {"a": "%C3"}, id="truncated utf8 keeps raw"),
        pytest.param("a=%20x%20", {"a": " x "}, id="decoded after trimming"),
        pytest.param('json={"a":1}; sid=1', {"json": '{"a":1}', "sid": "1"}, id="json from another app"),
        pytest.param("a=\xc3\xb1", {"a": "\xc3\xb1"}, id="latin-1 bytes kept"),
    ],
)
def test_parse_cookie_header(header, expected):
    assert parse_cookie_header(header) == expected


@pytest.mark.parametrize("case", UNSIGN, ids=[c["note"] for c in UNSIGN])
def test_express_getcookie_replica_matches_every_vector(case):
    """cookie.parse + the unsign loop, exactly as express-session's getcookie (first duplicate)."""
    value = parse_cookie_header(case["cookie_header"]).get("connect.sid")
    sid = unsign(value[2:], case["secrets"]) if value and value.startswith("s:") else None
    assert (sid or None) == case["expected_sid"]


def test_cookie_values_lists_every_duplicate_in_order():
    assert cookie_values("x=0; a=1; b=2; a=%3A", "a") == ["1", ":"]
    assert cookie_values("b=2", "a") == []


def test_one_bad_cookie_does_not_hide_ours():
    header = 'bad"cookie; other={"json": [1,2]}; =nameless; connect.sid=s%3Aabc.def; last=1'
    assert parse_cookie_header(header)["connect.sid"] == "s:abc.def"


def test_encode_uri_component_matches_javascript():
    assert encode_uri_component("s:a+b/c=d") == "s%3Aa%2Bb%2Fc%3Dd"
    assert encode_uri_component("it's (ok)!*~.-_") == "it's%20(ok)!*~.-_"
    assert encode_uri_component("ñ🍣") == "%C3%B1%F0%9F%8D%A3"


def test_render_set_cookie_in_npm_cookie_order():
    expires = datetime(2026, 1, 22, 12, 34, 56, 789000, tzinfo=timezone.utc)
    header = render_set_cookie(
        "connect.sid", "s:abc", max_age=60, domain="sub.example.com", path="/", expires=expires,
        http_only=True, secure=True, partitioned=True, priority="medium", same_site="strict",
    )
    assert header == (
        "connect.sid=s%3Aabc; Max-Age=60; Domain=sub.example.com; Path=/; "
        "Expires=Thu, 22 Jan 2026 12:34:56 GMT; HttpOnly; Secure; Partitioned; Priority=Medium; SameSite=Strict"
    )
    assert render_set_cookie("a", "b") == "a=b"


def test_render_refuses_a_bad_name():
    with pytest.raises(ValueError):
        render_set_cookie("bad name", "x")


@given(st.text())
def test_parser_never_raises(header):
    for name, value in parse_cookie_header(header).items():
        assert isinstance(name, str) and isinstance(value, str)


@given(st.binary())
def test_parser_never_raises_on_latin1_bytes(raw):
    parse_cookie_header(raw.decode("latin-1"))


@given(st.text())
def test_decode_inverts_encode(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be percent-encoded
    assert decode_uri_component(encode_uri_component(text)) == text


def _decode_run_by_run(text):
    """ECMAScript's decodeURIComponent, literally: each run of %XX escapes decoded on its own."""
    import re

    parts, pos = [], 0
    for run in re.finditer(r"(?:%[0-9A-Fa-f]{2})+", text):
        if "%" in text[pos:run.start()]:
            raise ValueError
        parts += [text[pos:run.start()], bytes.fromhex(run.group().replace("%", "")).decode("utf-8")]
        pos = run.end()
    if "%" in text[pos:]:
        raise ValueError
    return "".join(parts + [text[pos:]])


@given(st.lists(st.sampled_from(["%", "3A", "C3", "B1", "E2", "82", "AC", "F0", "9F", "8D", "A3", "ZZ", "a", "ñ",
                                 "\xb1", "\xc3", "+", " ", "ED", "A0", "80", "c0", "af"])).map("".join))
def test_decode_matches_the_run_by_run_definition(text):
    try:
        expected = _decode_run_by_run(text)
    except ValueError:
        with pytest.raises(ValueError):
            decode_uri_component(text)
    else:
        assert decode_uri_component(text) == expected
