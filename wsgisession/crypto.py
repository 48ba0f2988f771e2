"""Encryption at rest in connect-mongo 6's two formats (``pip install 'wsgisession-express[crypto]'``)::

    store = MongoStore.from_url(url, crypto=WebCryptoAdapter(["new secret", "old secret"]))

``WebCryptoAdapter`` is ``createWebCryptoAdapter``'s format, ``KrupteinCrypto`` the legacy
``crypto: {secret}`` one (kruptein 3), each class's docstring gives its format byte by byte. Only the session's JSON is encrypted: ids, expiries and times stay
queryable. Each takes one secret or a list: the first encrypts, all decrypt, in order (rotation).

A store accepts any object with ``encrypt(str) -> str`` and ``decrypt(str) -> str`` (raising on a
ciphertext it cannot open), as connect-mongo's ``cryptoAdapter`` does. These two also have
``decrypt_rotating``, which says whether a retired secret opened it, so the session is encrypted
again with the first secret at the end of the request.

Both also have ``binding_keys``: keys derived from their secrets with which ``AtRestStore``
authenticates a session's user binding (the account fields stored in clear beside the sealed
JSON), so that whoever can write the database cannot rebind a session to another user.

AES-GCM comes from ``cryptography`` (the standard library has none), imported when a codec is
made; PBKDF2 and HMAC from ``hashlib`` and ``hmac``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
from collections import OrderedDict
from typing import Any

from .errors import ConfigurationError

__all__ = ["BINDING_ROUNDS", "BINDING_SALT", "DEFAULT_SALT", "DecryptionError", "KrupteinCrypto", "WebCryptoAdapter"]

DEFAULT_SALT = "connect-mongo:webcrypto-default-salt"  # createWebCryptoAdapter's default
_TAG = 16  # bytes of GCM authentication tag, in both formats
_ENCODINGS = ("base64", "base64url", "hex")
# The binding keys: PBKDF2-HMAC-SHA256(secret, BINDING_SALT, BINDING_ROUNDS, 32 bytes), one per secret.
BINDING_SALT = b"wsgisession:account-seal"
BINDING_ROUNDS = 310_000


class DecryptionError(ValueError):
    """No secret opens the ciphertext: it was tampered with, written under another secret, or is not one."""


def _aesgcm() -> tuple[Any, type[Exception]]:
    """cryptography's AES-GCM and the exception a wrong key or a tampered ciphertext raises."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise ConfigurationError("encryption at rest needs the cryptography package: "
                                 "pip install 'wsgisession-express[crypto]'.") from exc
    return AESGCM, InvalidTag


def _secrets(secret: object, name: str) -> list[bytes]:
    """One secret or a list of them (the first encrypts) as bytes; ConfigurationError if there is none."""
    items = [secret] if isinstance(secret, (str, bytes)) else secret
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(s, (str, bytes)) and s for s in items):
        raise ConfigurationError(f"{name} needs a secret: a non-empty str or bytes, or a list of them "
                                 "(the first encrypts, all decrypt).")
    return [s.encode("utf-8") if isinstance(s, str) else bytes(s) for s in items]


def _session_json(plaintext: bytes) -> str:
    """The session's JSON in a plaintext: connect-mongo reads a JSON string literal as the JSON it holds
    (kruptein encodes twice), anything else as the JSON itself."""
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptionError("the plaintext is not UTF-8") from exc
    if text.startswith('"'):
        try:
            inner = json.loads(text)
        except ValueError:
            return text
        return inner if isinstance(inner, str) else text
    return text


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("not base64") from exc


class _BindingKeys:
    """``binding_keys()`` for a codec with ``_secrets`` and ``_lock``: derived once, at first use."""

    _secrets: list[bytes]
    _lock: threading.Lock
    _binding: tuple[bytes, ...] | None = None

    def binding_keys(self) -> tuple[bytes, ...]:
        """One key per secret, in order (the first seals, all verify), that authenticate a session's
        user binding (``AtRestStore``): PBKDF2-HMAC-SHA256(secret, ``BINDING_SALT``, ``BINDING_ROUNDS``).
        Apart from the encryption keys, so that a seal says nothing about them."""
        if self._binding is None:
            with self._lock:
                if self._binding is None:
                    self._binding = tuple(hashlib.pbkdf2_hmac("sha256", secret, BINDING_SALT, BINDING_ROUNDS, 32)
                                          for secret in self._secrets)
        return self._binding


class WebCryptoAdapter(_BindingKeys):
    """connect-mongo's ``createWebCryptoAdapter({secret, salt, iterations})``::

        key     = PBKDF2-HMAC-SHA256(secret, salt, iterations, 32 bytes)
        session = base64( iv (12 random bytes) ‖ AES-256-GCM(key, iv, the session's JSON) ‖ tag (16) )

    Each key is derived once, when first needed (310,000 rounds take a fraction of a second), and
    kept: a request costs one AES-GCM operation. ``iv_length`` and ``encoding`` (``"base64"``,
    ``"base64url"`` or ``"hex"``) are the adapter's ``ivLength`` and ``encoding``.
    """

    def __init__(self, secret: str | bytes | list[str | bytes] | tuple[str | bytes, ...], *,
                 salt: str | bytes = DEFAULT_SALT, iterations: int = 310_000, iv_length: int = 12,
                 encoding: str = "base64") -> None:
        self._secrets = _secrets(secret, "WebCryptoAdapter")
        if not isinstance(salt, (str, bytes)) or not salt:
            raise ConfigurationError("salt must be a non-empty str or bytes (the same as the Express app's).")
        for name, value, low, high in (("iterations", iterations, 1, 10**8), ("iv_length", iv_length, 12, 128)):
            if type(value) is not int or not low <= value <= high:
                raise ConfigurationError(f"{name} must be an int from {low} to {high}, not {value!r}.")
        if encoding not in _ENCODINGS:
            raise ConfigurationError(f"encoding must be one of {', '.join(_ENCODINGS)}, not {encoding!r}.")
        self._salt = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
        self._iterations, self._iv_length, self._encoding = iterations, iv_length, encoding
        self._aesgcm, self._invalid = _aesgcm()
        self._keys: list[Any] = [None] * len(self._secrets)  # derived on first use
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the secrets
        return f"WebCryptoAdapter(<{len(self._secrets)} secret(s)>, iterations={self._iterations})"

    def _key(self, index: int) -> Any:
        key = self._keys[index]
        if key is None:
            with self._lock:
                key = self._keys[index]
                if key is None:
                    raw = hashlib.pbkdf2_hmac("sha256", self._secrets[index], self._salt, self._iterations, 32)
                    key = self._keys[index] = self._aesgcm(raw)
        return key

    def _encode(self, data: bytes) -> str:
        if self._encoding == "hex":
            return data.hex()
        if self._encoding == "base64url":
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
        return base64.b64encode(data).decode("ascii")

    def _decode(self, text: str) -> bytes:
        try:
            if self._encoding == "hex":
                return bytes.fromhex(text)
            if self._encoding == "base64url":
                return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError(f"not {self._encoding}") from exc
        return _b64decode(text)

    def encrypt(self, plaintext: str) -> str:
        """The session's JSON, encrypted under the first secret."""
        iv = os.urandom(self._iv_length)
        return self._encode(iv + self._key(0).encrypt(iv, plaintext.encode("utf-8"), None))

    def decrypt_rotating(self, ciphertext: str) -> tuple[str, bool]:
        """The session's JSON, and whether a secret other than the first opened it; DecryptionError if none does."""
        data = self._decode(ciphertext)
        iv, sealed = data[: self._iv_length], data[self._iv_length:]
        if len(sealed) < _TAG:
            raise DecryptionError("too short")
        for index in range(len(self._secrets)):
            try:
                plaintext = self._key(index).decrypt(iv, sealed, None)
            except self._invalid:
                continue
            return _session_json(plaintext), index > 0
        raise DecryptionError("no secret opens it")

    def decrypt(self, ciphertext: str) -> str:
        """The session's JSON; DecryptionError if no secret opens the ciphertext."""
        return self.decrypt_rotating(ciphertext)[0]


class KrupteinCrypto(_BindingKeys):
    """connect-mongo's legacy ``crypto: {secret}`` (kruptein 3.0.8 with AES-256-GCM and SHA-512)::

        key     = PBKDF2-HMAC-SHA512(secret, salt (128 random bytes), 15000, 32 bytes)
        P       = UTF-8 of JSON.stringify(the session's JSON)    (a JSON string: encoded twice)
        aad     = HMAC-SHA512(128 random bytes, P)                (64 bytes)
        ct, at  = AES-256-GCM(key, iv (12 random bytes), P, aad)
        hmac    = HMAC-SHA512(key, base64(ct))                    (checked before decrypting)
        session = base64( DER SEQUENCE { OCTET STRING base64(ct), base64(hmac), iv, salt, at, base64(aad) } )

    kruptein draws a salt, so derives a key (15,000 rounds), per document. Here writes reuse one
    salt per process (a new one every 2**20 writes, well within AES-GCM's bound for random IVs)
    and reads keep the keys of the last 1024 salts: a returning browser whose session this process
    wrote costs one AES-GCM operation, not a PBKDF2. A document Node wrote costs one derivation
    the first time it is read.

    Why reads are guarded so: the HMAC is keyed with the derived key, so a document cannot be
    judged before a key is derived, and whoever can write the database can make documents up. A
    salt of any length but kruptein's 128 bytes is refused before any derivation (a 1 MiB one
    costs several derivations' worth of hashing), and a key is kept only once the HMAC it computes
    has verified: a forged document costs one derivation per secret, as a genuine one does the
    first time, and leaves nothing in memory.
    """

    ROUNDS = 15_000
    SALT = 128  # bytes: what kruptein draws, and the only length read
    KEPT = 1024  # keys kept, of the salts most recently used
    WRITES_PER_SALT = 1 << 20

    def __init__(self, secret: str | bytes | list[str | bytes] | tuple[str | bytes, ...]) -> None:
        self._secrets = _secrets(secret, "KrupteinCrypto")
        self._aesgcm, self._invalid = _aesgcm()
        # (secret's index, salt) -> (key, AES-GCM), least recently used first; only keys whose HMAC verified
        self._keys: OrderedDict[tuple[int, bytes], tuple[bytes, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._writer: tuple[bytes, bytes, Any] = (b"", b"", None)  # the writing salt, its key, its AES-GCM
        self._writes = self.WRITES_PER_SALT  # a salt is drawn at the first write

    def __repr__(self) -> str:  # never the secrets
        return f"KrupteinCrypto(<{len(self._secrets)} secret(s)>)"

    def _derive(self, index: int, salt: bytes) -> tuple[bytes, Any]:
        key = hashlib.pbkdf2_hmac("sha512", self._secrets[index], salt, self.ROUNDS, 32)
        return key, self._aesgcm(key)

    def _kept(self, index: int, salt: bytes) -> tuple[bytes, Any] | None:
        with self._lock:
            entry = self._keys.get((index, salt))
            if entry is not None:
                self._keys.move_to_end((index, salt))
            return entry

    def _keep(self, index: int, salt: bytes, entry: tuple[bytes, Any]) -> None:
        """Keep the key of a salt this process drew, or one whose HMAC verified (the lock held)."""
        self._keys[(index, salt)] = entry
        self._keys.move_to_end((index, salt))
        while len(self._keys) > self.KEPT:
            self._keys.popitem(last=False)

    def _writing(self) -> tuple[bytes, bytes, Any]:
        """The salt a write uses, with its key and AES-GCM: a new salt every WRITES_PER_SALT writes."""
        with self._lock:
            self._writes += 1
            if self._writes > self.WRITES_PER_SALT:
                salt = os.urandom(self.SALT)
                self._writer, self._writes = (salt, *self._derive(0, salt)), 1
            salt, key, aead = self._writer
            self._keep(0, salt, (key, aead))  # reading what this process wrote needs no derivation
            return salt, key, aead

    def encrypt(self, plaintext: str) -> str:
        """The session's JSON, encrypted under the first secret in kruptein's envelope."""
        salt, key, aead = self._writing()
        p = json.dumps(plaintext, ensure_ascii=False).encode("utf-8")
        aad = hmac.digest(os.urandom(128), p, "sha512")
        iv = os.urandom(12)
        sealed = aead.encrypt(iv, p, aad)
        ct = base64.b64encode(sealed[:-_TAG])
        mac = base64.b64encode(hmac.digest(key, ct, "sha512"))
        return base64.b64encode(_der([ct, mac, iv, salt, sealed[-_TAG:], base64.b64encode(aad)])).decode("ascii")

    def decrypt_rotating(self, ciphertext: str) -> tuple[str, bool]:
        """The session's JSON, and whether a secret other than the first opened it; DecryptionError if none does."""
        ct, mac, iv, salt, tag, aad = _undo_der(_b64decode(ciphertext))
        # (kruptein's iv is 12 bytes; AES-GCM takes 8 to 128 here)
        if len(salt) != self.SALT or not 12 <= len(iv) <= 128 or len(tag) != _TAG:
            raise DecryptionError("malformed envelope")
        aead, index = self._verified(ct, mac, salt)
        try:
            plaintext = aead.decrypt(iv, _b64decode(ct.decode("ascii")) + tag, _b64decode(aad.decode("ascii")))
        except (self._invalid, UnicodeDecodeError) as exc:
            raise DecryptionError("tampered with") from exc
        return _session_json(plaintext), index > 0

    def _verified(self, ct: bytes, mac: bytes, salt: bytes) -> tuple[Any, int]:
        """The AES-GCM of the first secret whose key's HMAC of ``ct`` is ``mac``, and the secret's index.

        Kept keys are tried first; a key derived here is kept only once its HMAC has verified.
        """
        kept = [self._kept(index, salt) for index in range(len(self._secrets))]
        for index, entry in enumerate(kept):
            if entry is not None and _mac_matches(entry[0], ct, mac):
                return entry[1], index
        for index, entry in enumerate(kept):
            if entry is None:
                entry = self._derive(index, salt)
                if _mac_matches(entry[0], ct, mac):
                    with self._lock:
                        self._keep(index, salt, entry)
                    return entry[1], index
        raise DecryptionError("no secret opens it (or it was tampered with)")

    def decrypt(self, ciphertext: str) -> str:
        """The session's JSON; DecryptionError if no secret opens the ciphertext."""
        return self.decrypt_rotating(ciphertext)[0]


def _mac_matches(key: bytes, ct: bytes, mac: bytes) -> bool:
    """kruptein's check: the base64 text of HMAC-SHA512(key, ct) is ``mac``."""
    return hmac.compare_digest(base64.b64encode(hmac.digest(key, ct, "sha512")), mac)


# -- DER, as much as kruptein's envelope needs: a SEQUENCE of OCTET STRINGs --------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | (n.bit_length() + 7) // 8]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def _der(parts: list[bytes]) -> bytes:
    return _tlv(0x30, b"".join(_tlv(0x04, part) for part in parts))


def _read_tlv(data: bytes, at: int, tag: int) -> tuple[bytes, int]:
    """The content of the element of type ``tag`` at ``at``, and where the next one starts."""
    if at + 2 > len(data) or data[at] != tag:
        raise DecryptionError("malformed envelope")
    n, at = data[at + 1], at + 2
    if n & 0x80:
        width = n & 0x7F
        if not 1 <= width <= 4 or at + width > len(data):
            raise DecryptionError("malformed envelope")
        n, at = int.from_bytes(data[at: at + width], "big"), at + width
    if at + n > len(data):
        raise DecryptionError("malformed envelope")
    return data[at: at + n], at + n


def _undo_der(data: bytes) -> list[bytes]:
    body, end = _read_tlv(data, 0, 0x30)
    if end != len(data):
        raise DecryptionError("malformed envelope")
    parts, at = [], 0
    while at < len(body):
        part, at = _read_tlv(body, at, 0x04)
        parts.append(part)
    if len(parts) != 6:
        raise DecryptionError("malformed envelope")
    return parts
