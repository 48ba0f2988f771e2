"""Cookie signing with the semantics of the npm package ``cookie-signature``.

``sign(value, secret)`` returns ``value + "." + mac``, where ``mac`` is the HMAC-SHA256 of the
UTF-8 value under the UTF-8 secret, in standard base64 with every ``=`` stripped (43 characters).
``unsign`` splits at the *last* dot, rebuilds the expected string and compares the two exactly
and in constant time, so padded or base64url variants of a valid signature are rejected, as
express-session rejects them.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence

__all__ = ["Signer", "sign", "unsign"]

SecretLike = str | bytes


def _key(secret: SecretLike) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


class Signer:
    """Signs with the first secret and verifies with every secret, in order (key rotation).

    The keyed HMAC is set up once per secret, and copied for each ``sign`` or ``unsign``::

        signer = Signer(["new secret", "old secret"])
        signer.unsign(signer.sign("abc"))  # -> "abc"
    """

    __slots__ = ("_macs",)

    def __init__(self, secrets: Sequence[SecretLike]) -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        self._macs = tuple(hmac.new(_key(s), digestmod=hashlib.sha256) for s in secrets)

    def _signature(self, keyed: hmac.HMAC, value: str) -> str:
        mac = keyed.copy()
        mac.update(value.encode("utf-8", "surrogatepass"))
        return binascii.b2a_base64(mac.digest(), newline=False).decode("ascii").rstrip("=")

    def sign(self, value: str) -> str:
        """Return ``value.mac`` signed with the first secret."""
        return value + "." + self._signature(self._macs[0], value)

    def unsign(self, signed: str) -> str | None:
        """Return the value if some secret signed it exactly so, else None."""
        dot = signed.rfind(".")
        if dot < 0:
            return None
        # signed == value + "." + signature exactly iff the part after the last dot is it.
        value = signed[:dot]
        given = signed[dot + 1 :].encode("utf-8", "surrogatepass")
        for mac in self._macs:
            if hmac.compare_digest(self._signature(mac, value).encode("ascii"), given):
                return value
        return None


def sign(value: str, secret: SecretLike) -> str:
    """Sign ``value`` with ``secret`` exactly as cookie-signature's ``sign`` does."""
    return Signer([secret]).sign(value)


def unsign(signed: str, secrets: SecretLike | Iterable[SecretLike]) -> str | None:
    """Return the value signed in ``signed`` by any of ``secrets``, or None."""
    if isinstance(secrets, (str, bytes)):
        secrets = [secrets]
    return Signer(list(secrets)).unsign(signed)
