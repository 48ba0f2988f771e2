"""Encryption at rest (wsgisession.crypto): connect-mongo 6's two formats, as unit tests.

It shows that:

* documents the real Node packages wrote (vectors E: kruptein, F: WebCrypto) open with our codecs;
  scenario D shows the transformId idea (``_id`` is ``'sess:' + sid``);
* a decoder written here from the spec alone (docs express-compat.md 5.7, no code shared with
  wsgisession.crypto) opens Node's documents, which validates it, and then opens what we write,
  field by field and byte for byte (kruptein's double encoding included);
* any change to a ciphertext, truncation or garbage raises DecryptionError and nothing else
  (exhaustively over single bytes, and with Hypothesis), and any text round-trips;
* rotation: the first secret encrypts, all decrypt, and ``open`` says when a retired one did;
* keys are derived once and kept (PBKDF2 calls counted, never timed), and only once they have
  opened a document: a forged one costs a derivation per secret and keeps nothing, and a salt
  of any length but kruptein's 128 bytes is refused before deriving;
* bad options, and a missing ``cryptography``, raise ConfigurationError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import string
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

import wsgisession.crypto
from wsgisession.crypto import DecryptionError, KrupteinCrypto, WebCryptoAdapter
from wsgisession.errors import ConfigurationError

from .vectorfiles import load

SCENARIOS = load("connect-mongo-6.0.json")["scenarios"]
E, F = SCENARIOS["E_crypto_kruptein"], SCENARIOS["F_crypto_webcrypto"]
E_DOCUMENT, F_DOCUMENT = E["stored_document"]["session"], F["stored_document"]["session"]
E_PLAINTEXT = E["decoded_envelope"]["independent_plaintext"]  # P: a JSON string holding the session JSON
E_SESSION = json.loads(E_PLAINTEXT)
F_SESSION = F["decoded"]["independent_plaintext"]
SECRET = "squirrel"

WEB = WebCryptoAdapter(SECRET)  # connect-mongo's defaults; its 310,000-round key is derived once
KRUPTEIN = KrupteinCrypto(SECRET)


def fast_web(secret, **options) -> WebCryptoAdapter:
    """A WebCryptoAdapter whose key costs 1,000 rounds, for tests that make many."""
    return WebCryptoAdapter(secret, **{"iterations": 1000, **options})


MAKERS = {"webcrypto": fast_web, "kruptein": KrupteinCrypto}
SESSIONS = {
    "node F": F_SESSION,
    "node E": E_SESSION,
    "empty object": "{}",
    "non-ASCII": json.dumps({"nombre": "Zoë ✓ 日本語 😀", "ß": "ü\u2028"}, ensure_ascii=False),
    "quotes and backslashes": json.dumps({"q": 'say "hi"', "path": "C:\\temp\\new", "u": "\\u0041"}),
    "escaped control chars": json.dumps({"ctl": "\x00\x01\b\f\n\r\t\x1f\x7f"}),
    "raw control chars": '{"raw":"\x00\x1f\n\t\x7f"}',  # not JSON, but a codec carries any text
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | bytes) -> bytes:
    return base64.b64decode(text, validate=True)


def js_stringify(text: str) -> str:
    """JSON.stringify(text), as ECMA-262's QuoteJSONString writes it: how Node double-encodes."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return '"' + "".join(short.get(c) or (f"\\u{ord(c):04x}" if c < " " else c) for c in text) + '"'


def rejects(codec, text: str) -> bool:
    """True if ``open`` raises DecryptionError, False if it opens; any other exception propagates."""
    try:
        codec.decrypt_rotating(text)
    except DecryptionError:
        return True
    return False


def flipped(raw: bytes, index: int, mask: int = 0x01) -> bytes:
    return raw[:index] + bytes([raw[index] ^ mask]) + raw[index + 1:]


# -- an independent decoder (and encoder), from express-compat.md 5.7 only ---------------------


@cache
def pbkdf2(hash_name: str, secret: str, salt: bytes, rounds: int) -> bytes:
    return hashlib.pbkdf2_hmac(hash_name, secret.encode("utf-8"), salt, rounds, 32)


def spec_webcrypto_open(raw: bytes, secret: str = SECRET, iterations: int = 310_000) -> str:
    """iv (12) ‖ AES-256-GCM ciphertext ‖ tag (16); key = PBKDF2-HMAC-SHA256 over the default salt."""
    key = pbkdf2("sha256", secret, b"connect-mongo:webcrypto-default-salt", iterations)
    return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode("utf-8")


def der_element(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, content, where the next element starts) of the DER element at ``pos``."""
    tag, length, pos = data[pos], data[pos + 1], pos + 2
    if length & 0x80:  # long form: the low bits say how many length bytes follow
        width = length & 0x7F
        length, pos = int.from_bytes(data[pos: pos + width], "big"), pos + width
    assert pos + length <= len(data), "element runs past the end"
    return tag, data[pos: pos + length], pos + length


def der_octet_strings(data: bytes) -> list[bytes]:
    """The OCTET STRINGs of the one SEQUENCE that is ``data``."""
    tag, body, end = der_element(data, 0)
    assert (tag, end) == (0x30, len(data)), "one SEQUENCE"
    fields, pos = [], 0
    while pos < len(body):
        tag, content, pos = der_element(body, pos)
        assert tag == 0x04, "OCTET STRINGs only"
        fields.append(content)
    return fields


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    width = 0 if n < 0x80 else (n.bit_length() + 7) // 8  # long form: 0x80 | how many length bytes follow
    length = bytes([n]) if not width else bytes([0x80 | width]) + n.to_bytes(width, "big")
    return bytes([tag]) + length + content


def envelope(fields: list[bytes], outer: int = 0x30, inner: int = 0x04) -> str:
    return b64(der(outer, b"".join(der(inner, field) for field in fields)))


def mac_of(key: bytes, ct_text: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, ct_text, "sha512").digest())


def spec_kruptein_open(session: str, secret: str = SECRET) -> str:
    """P, the plaintext, after checking the HMAC of the ct text; P is a JSON string literal."""
    ct, mac, iv, salt, at, aad = der_octet_strings(unb64(session))
    key = pbkdf2("sha512", secret, salt, 15_000)
    assert hmac.compare_digest(mac_of(key, ct), mac), "hmac"
    return AESGCM(key).decrypt(iv, unb64(ct) + at, unb64(aad)).decode("utf-8")


def spec_kruptein_seal(plaintext: bytes, secret: str = SECRET, iv: bytes = bytes(12), salt: bytes | None = None) -> str:
    """An envelope of any plaintext, as kruptein builds one (to test what a reader accepts)."""
    salt = os.urandom(128) if salt is None else salt
    aad = hmac.new(os.urandom(128), plaintext, "sha512").digest()
    key = pbkdf2("sha512", secret, salt, 15_000)
    sealed = AESGCM(key).encrypt(bytes(12), plaintext, aad)  # the real IV, then ``iv`` is stored
    ct = base64.b64encode(sealed[:-16])
    return envelope([ct, mac_of(key, ct), iv, salt, sealed[-16:], base64.b64encode(aad)])


# -- 1. Node's documents ------------------------------------------------------------------------


def test_node_documents_open_with_our_codecs():
    assert KRUPTEIN.decrypt_rotating(E_DOCUMENT) == (E_SESSION, False)
    assert WEB.decrypt_rotating(F_DOCUMENT) == (F_SESSION, False)
    assert json.loads(E_SESSION)["cuenta"] == json.loads(F_SESSION)["cuenta"] == 1
    assert E_DOCUMENT == E["steps"][0]["docs_after"][0]["session"]  # what the real store stored
    assert F_DOCUMENT == F["steps"][0]["docs_after"][0]["session"]


def test_transform_id_stores_the_sid_behind_a_prefix():
    step = SCENARIOS["D_transformId_interval"]["steps"][0]
    sid = step["body"]["sid"]
    assert step["docs_after"][0]["_id"] == "sess:" + sid
    assert step["db_calls"][0]["args"][0] == {"_id": "sess:" + sid}


# -- 2. the independent decoder: first on Node's documents, then on ours -------------------------


def test_spec_decoder_reads_node_kruptein_document_as_recorded():
    recorded = E["decoded_envelope"]
    ct, mac, iv, salt, at, aad = der_octet_strings(unb64(E_DOCUMENT))
    assert (ct.decode(), mac.decode(), aad.decode()) == (
        recorded["ct_ascii_base64"], recorded["hmac_ascii_base64"], recorded["aad_ascii_base64"])
    assert (iv.hex(), len(salt), at.hex()) == (recorded["iv_hex"], recorded["salt_len"], recorded["at_hex"])
    assert spec_kruptein_open(E_DOCUMENT) == E_PLAINTEXT == js_stringify(E_SESSION)


def test_spec_decoder_reads_node_webcrypto_document_as_recorded():
    raw = unb64(F_DOCUMENT)
    assert raw[:12].hex() == F["decoded"]["iv_hex"]
    assert len(raw) == 12 + len(F_SESSION.encode()) + 16
    assert spec_webcrypto_open(raw) == F_SESSION


@pytest.mark.parametrize("session", SESSIONS.values(), ids=SESSIONS)
def test_spec_decoder_opens_our_webcrypto(session):
    raw = unb64(WEB.encrypt(session))
    assert len(raw) == 12 + len(session.encode()) + 16
    assert spec_webcrypto_open(raw) == session


@pytest.mark.parametrize("session", SESSIONS.values(), ids=SESSIONS)
def test_spec_decoder_opens_our_kruptein_double_encoded_like_node(session):
    plaintext = spec_kruptein_open(KRUPTEIN.encrypt(session))
    assert plaintext == js_stringify(session)  # JSON.stringify of the session JSON, byte for byte
    assert json.loads(plaintext) == session


def test_our_kruptein_envelope_has_the_spec_field_sizes():
    ct, mac, iv, salt, at, aad = der_octet_strings(unb64(KRUPTEIN.encrypt(F_SESSION)))
    assert (len(iv), len(salt), len(at)) == (12, 128, 16)
    assert (len(unb64(aad)), len(unb64(mac))) == (64, 64)
    assert len(unb64(ct)) == len(js_stringify(F_SESSION).encode())
    for text in (ct, mac, aad):  # ASCII base64 text, canonical
        assert base64.b64encode(unb64(text)) == text


def test_a_json_string_plaintext_is_read_as_the_json_it_holds():
    """As connect-mongo's parseDecryptedPayload does: encoded once or twice, the same session."""
    assert KRUPTEIN.decrypt(spec_kruptein_seal(F_SESSION.encode())) == F_SESSION
    assert KRUPTEIN.decrypt(spec_kruptein_seal(js_stringify(F_SESSION).encode())) == F_SESSION
    assert WEB.decrypt(WEB.encrypt(js_stringify(F_SESSION))) == F_SESSION


# -- 3. tampering, truncation, garbage ------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_webcrypto_rejects_every_single_byte_change(mask):
    for document in (WEB.encrypt(F_SESSION), F_DOCUMENT):  # iv, ciphertext and tag
        raw = unb64(document)
        assert [i for i in range(len(raw)) if not rejects(WEB, b64(flipped(raw, i, mask)))] == []


def test_kruptein_rejects_every_single_byte_change():
    codec = KrupteinCrypto(SECRET)  # each changed salt costs one derivation: keep them out of KRUPTEIN
    for document in (codec.encrypt(F_SESSION), E_DOCUMENT):  # DER headers and all six fields
        raw = unb64(document)
        assert [i for i in range(len(raw)) if not rejects(codec, b64(flipped(raw, i)))] == []


def changed(field: bytes) -> bytes:
    """Base64 text stays valid base64 (so the check behind the parser is what refuses it)."""
    if field.isascii() and field[:1].isalnum():
        return (b"B" if field[:1] == b"A" else b"A") + field[1:]
    return flipped(field, len(field) // 2)


@pytest.mark.parametrize("index", range(6), ids=["ct", "hmac", "iv", "salt", "at", "aad"])
def test_kruptein_rejects_a_change_to_each_field(index):
    for document in (KRUPTEIN.encrypt(E_SESSION), E_DOCUMENT):
        fields = der_octet_strings(unb64(document))
        fields[index] = changed(fields[index])
        assert rejects(KRUPTEIN, envelope(fields))


@pytest.mark.parametrize("codec, document", [(WEB, F_DOCUMENT), (KRUPTEIN, E_DOCUMENT)], ids=MAKERS)
def test_truncations_and_extensions_are_rejected(codec, document):
    raw = unb64(document)
    assert [n for n in range(len(raw)) if not rejects(codec, b64(raw[:n]))] == []
    assert [n for n in range(len(document)) if not rejects(codec, document[:n])] == []
    assert rejects(codec, b64(raw + b"\x00")) and rejects(codec, document + "A")


GARBAGE = ["", " ", "not base64!", "====", "été", "\x00", "{}", F_SESSION,
           *(b64(random.Random(n).randbytes(n)) for n in (1, 12, 27, 28, 29, 44, 100, 600))]


@pytest.mark.parametrize("codec", [WEB, KRUPTEIN], ids=MAKERS)
def test_garbage_is_rejected(codec):
    assert [text for text in GARBAGE if not rejects(codec, text)] == []
    assert rejects(codec, E_DOCUMENT if codec is WEB else F_DOCUMENT)  # the other format


def test_kruptein_rejects_malformed_der():
    fields = der_octet_strings(unb64(KRUPTEIN.encrypt(F_SESSION)))
    for bad in (envelope(fields[:5]), envelope([*fields, b"extra"]), envelope([]),
                envelope(fields, outer=0x31), envelope(fields, inner=0x05),
                b64(unb64(envelope(fields)) + b"\x04\x00"), b64(der(0x04, b"".join(fields)))):
        assert rejects(KRUPTEIN, bad)
    assert KRUPTEIN.decrypt(envelope(fields)) == F_SESSION  # the helper itself builds good envelopes


@pytest.mark.parametrize("iv_length", [4, 8, 129])
def test_kruptein_rejects_an_iv_of_an_unusable_length(iv_length):
    # the HMAC covers only ct, so the iv can be replaced without the key
    assert rejects(KRUPTEIN, spec_kruptein_seal(b'"{}"', iv=bytes(iv_length)))


def json_string_literal(text: str) -> bool:
    try:
        return text.startswith('"') and isinstance(json.loads(text), str)
    except ValueError:
        return False


@given(st.text())
def test_kruptein_round_trips_any_text(text):
    assert KRUPTEIN.decrypt_rotating(KRUPTEIN.encrypt(text)) == (text, False)


@given(st.text().filter(lambda text: not json_string_literal(text)))
def test_webcrypto_round_trips_any_text_but_a_json_string(text):
    assert WEB.decrypt_rotating(WEB.encrypt(text)) == (text, False)


@given(st.one_of(st.text(), st.binary().map(b64), st.text(alphabet="0123456789abcdef"),
                 st.lists(st.binary(max_size=140), max_size=8).map(envelope)))
def test_open_of_any_string_raises_only_decryption_error(text):
    for codec in (WEB, fast_web(SECRET, encoding="hex"), fast_web(SECRET, encoding="base64url"), KRUPTEIN):
        with pytest.raises(DecryptionError):
            codec.decrypt_rotating(text)


# -- 4. rotation --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS)
def test_rotation(make):
    old, new, both = make("old"), make("new"), make(["new", "old"])
    by_old, by_both = old.encrypt(F_SESSION), both.encrypt(E_SESSION)
    assert both.decrypt_rotating(by_old) == (F_SESSION, True)
    assert both.decrypt(by_old) == F_SESSION
    assert both.decrypt_rotating(by_both) == new.decrypt_rotating(by_both) == (E_SESSION, False)
    assert rejects(old, by_both)
    assert rejects(new, by_old)


def test_a_retired_secret_opens_node_documents():
    assert KrupteinCrypto(["new", SECRET]).decrypt_rotating(E_DOCUMENT) == (E_SESSION, True)
    assert WebCryptoAdapter(("new", SECRET)).decrypt_rotating(F_DOCUMENT) == (F_SESSION, True)


# -- 5. keys are derived once -------------------------------------------------------------------


@pytest.fixture
def derivations(monkeypatch):
    """The hash of each PBKDF2 call wsgisession.crypto makes (hashlib patched for this test only)."""
    calls, real = [], hashlib.pbkdf2_hmac

    def counting(hash_name, *args, **kwargs):
        calls.append(hash_name)
        return real(hash_name, *args, **kwargs)

    monkeypatch.setattr(wsgisession.crypto.hashlib, "pbkdf2_hmac", counting)
    return calls


def test_kruptein_derives_one_key_for_the_sessions_it_wrote(derivations):
    codec = KrupteinCrypto(SECRET)
    sessions = [json.dumps({"n": n}) for n in range(50)]
    stored = [codec.encrypt(session) for session in sessions]
    for _ in range(3):
        assert [codec.decrypt_rotating(text) for text in stored] == [(session, False) for session in sessions]
    assert derivations == ["sha512"]
    assert codec.decrypt(E_DOCUMENT) == codec.decrypt(E_DOCUMENT) == E_SESSION  # Node's salt: one more
    assert derivations == ["sha512", "sha512"]


@pytest.mark.parametrize("length", [0, 1, 127, 129, 256, 1 << 20])
def test_kruptein_refuses_a_salt_of_another_length_before_deriving(derivations, length):
    forged = spec_kruptein_seal(b'"{}"', salt=os.urandom(length))  # kruptein's formulas would open it
    assert len(der_octet_strings(unb64(forged))[3]) == length
    derivations.clear()  # (the helper's own, hashlib being one module)
    assert rejects(KrupteinCrypto(SECRET), forged)
    assert derivations == []


def test_a_forged_kruptein_document_costs_a_derivation_per_secret_and_keeps_nothing(derivations):
    codec = KrupteinCrypto(["new", SECRET])
    codec.KEPT = 3  # a small cache, so that anything a forgery kept would push Node's key out
    forged = [spec_kruptein_seal(b'"{}"', secret=f"not ours {n}") for n in range(4)]
    assert codec.decrypt_rotating(E_DOCUMENT) == (E_SESSION, True)
    derivations.clear()
    for _ in range(2):  # read again: nothing was kept, so each costs as much again
        assert all(rejects(codec, text) for text in forged)
        assert len(derivations) == 2 * len(forged)  # one per secret and document
        derivations.clear()
    assert codec.decrypt_rotating(E_DOCUMENT) == (E_SESSION, True)  # its key is still kept
    assert derivations == []


def test_kruptein_keeps_a_retired_key_once_it_has_opened_a_document(derivations):
    codec = KrupteinCrypto(["new", SECRET])
    assert [codec.decrypt_rotating(E_DOCUMENT) for _ in range(3)] == [(E_SESSION, True)] * 3
    assert derivations == ["sha512", "sha512"]  # "new" (which does not open it, so is not kept), then SECRET


def test_webcrypto_derives_its_key_at_first_use_only(derivations):
    for first_use in ("encrypt", "decrypt"):
        codec = WebCryptoAdapter(SECRET)
        assert derivations == []
        if first_use == "encrypt":
            codec.encrypt(F_SESSION)
        assert [codec.decrypt(F_DOCUMENT) for _ in range(3)] == [F_SESSION] * 3
        assert [codec.decrypt(codec.encrypt(s)) for s in SESSIONS.values()] == list(SESSIONS.values())
        assert derivations == ["sha256"]
        derivations.clear()


def test_webcrypto_derives_a_retired_key_only_when_a_ciphertext_needs_it(derivations):
    codec, by_old = fast_web(["new", "old"]), fast_web("old").encrypt(F_SESSION)
    derivations.clear()  # the "old" adapter's own
    assert [codec.decrypt(codec.encrypt(s)) for s in SESSIONS.values()] == list(SESSIONS.values())
    assert len(derivations) == 1
    assert [codec.decrypt_rotating(by_old) for _ in range(3)] == [(F_SESSION, True)] * 3
    assert len(derivations) == 2


# -- 6. configuration -----------------------------------------------------------------------------

BAD_OPTIONS = [
    *(pytest.param(make, (secret,), {}, "secret", id=f"{name} secret={secret!r}")
      for name, make in MAKERS.items() for secret in ("", b"", [], (), ["a", ""], ["a", 5], None, 5)),
    *(pytest.param(fast_web, ("x",), {"iterations": n}, "iterations", id=f"iterations={n!r}")
      for n in (0, -1, "10", True, 1.5)),
    *(pytest.param(fast_web, ("x",), {"encoding": e}, "encoding", id=f"encoding={e!r}")
      for e in ("utf8", "base32", "HEX", None)),
    *(pytest.param(fast_web, ("x",), {"salt": s}, "salt", id=f"salt={s!r}") for s in ("", b"", None)),
]


@pytest.mark.parametrize("make, args, kwargs, word", BAD_OPTIONS)
def test_bad_options_are_configuration_errors(make, args, kwargs, word):
    with pytest.raises(ConfigurationError, match=word):
        make(*args, **kwargs)


@pytest.mark.parametrize("iv_length", [8, 11, 129])
def test_an_unusable_iv_length_is_a_configuration_error(iv_length):
    with pytest.raises(ConfigurationError, match="iv_length"):
        fast_web("x", iv_length=iv_length)


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("encoding, decode, alphabet", [
    ("hex", bytes.fromhex, "0123456789abcdef"),
    ("base64url", unb64url, string.ascii_letters + string.digits + "-_"),
])
def test_other_encodings_round_trip(encoding, decode, alphabet):
    codec = fast_web(SECRET, encoding=encoding)
    for session in SESSIONS.values():
        text = codec.encrypt(session)
        assert set(text) <= set(alphabet)
        assert codec.decrypt_rotating(text) == (session, False)
        assert spec_webcrypto_open(decode(text), iterations=1000) == session


def test_repr_never_shows_a_secret():
    secrets = ["hunter2-secret", "retired-secret"]
    for codec in (fast_web(secrets), KrupteinCrypto(secrets), WebCryptoAdapter(b"hunter2-secret")):
        assert "hunter2" not in repr(codec) and "retired" not in repr(codec)
        assert "hunter2" not in str(codec)


# -- 7. without the extra --------------------------------------------------------------------------

WITHOUT_CRYPTOGRAPHY = textwrap.dedent("""
    import sys
    sys.modules["cryptography"] = None  # as if it were not installed
    import wsgisession
    from wsgisession.crypto import KrupteinCrypto, WebCryptoAdapter
    for make in (WebCryptoAdapter, KrupteinCrypto):
        try:
            make("x")
        except wsgisession.ConfigurationError as exc:
            print(type(exc).__name__, exc)
        else:
            print("no error")
""")


def test_without_cryptography_a_codec_names_the_extra():
    done = subprocess.run([sys.executable, "-c", WITHOUT_CRYPTOGRAPHY], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("ConfigurationError") and "wsgisession-express[crypto]" in line for line in lines)
