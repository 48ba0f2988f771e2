from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgisession.signing import Signer, sign, unsign

from .vectorfiles import express

SIGN = express()["sign"]


@pytest.mark.parametrize("case", SIGN, ids=[c["note"] for c in SIGN])
def test_sign_matches_cookie_signature(case):
    assert sign(case["value"], case["secret"]) == case["signed"]
    assert unsign(case["signed"], case["secret"]) == case["value"]


def test_bytes_secret_signs_like_its_utf8_text():
    assert sign("abc", "ñ secret") == sign("abc", "ñ secret".encode())


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: s + "=", id="padding re-added"),
        pytest.param(lambda s: s.replace("+", "-").replace("/", "_"), id="base64url"),
        pytest.param(lambda s: s[:-1], id="truncated"),
        pytest.param(lambda s: s + ".junk", id="extra text"),
        pytest.param(lambda s: s.split(".")[0], id="no signature"),
        pytest.param(lambda s: "x" + s, id="value changed"),
    ],
)
def test_unsign_rejects_anything_but_the_exact_string(tamper):
    signed = sign("value+with/chars", "s3cret")
    assert unsign(tamper(signed), "s3cret") is None


def test_rotation_first_signs_all_verify():
    signer = Signer(["new", "old"])
    assert signer.sign("sid") == sign("sid", "new")
    assert signer.unsign(sign("sid", "old")) == "sid"
    assert Signer(["new"]).unsign(sign("sid", "old")) is None


def test_split_at_last_dot():
    assert unsign(sign("a.b.c", "k"), "k") == "a.b.c"


def test_a_signer_needs_a_secret():
    with pytest.raises(ValueError):
        Signer([])


@given(value=st.text(), secret=st.text(min_size=1) | st.binary(min_size=1))
def test_unsign_inverts_sign(value, secret):
    assert unsign(sign(value, secret), [secret]) == value


@given(signed=st.text(), secret=st.text(min_size=1))
def test_unsign_never_raises_and_only_accepts_real_signatures(signed, secret):
    value = unsign(signed, secret)
    assert value is None or sign(value, secret) == signed
