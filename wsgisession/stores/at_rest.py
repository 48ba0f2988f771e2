"""How a store keeps sessions at rest: ids through ``transform_id``, the session's JSON through ``crypto``.

connect-mongo's ``transformId`` and ``crypto``/``cryptoAdapter``, for every store: a record's key
is ``transform_id(sid)`` (a hash, say, so that a copy of the database holds no usable id) and its
text is ``crypto.encrypt(json)`` (``wsgisession.crypto``). Expiries, times and accounts stay in
clear, so the store can still query them. Each store applies both at its edges, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError, StoreUnavailable

__all__ = ["PLAIN", "AtRest"]

logger = logging.getLogger(__name__)


class AtRest:
    """A store's ``transform_id`` and ``crypto``; neither given, ids and JSON are kept as they are."""

    __slots__ = ("crypto", "transform_id", "_open")

    def __init__(self, crypto: Any = None, transform_id: Callable[[str], str] | None = None) -> None:
        if crypto is not None and not all(callable(getattr(crypto, name, None)) for name in ("encrypt", "decrypt")):
            raise ConfigurationError("crypto must have encrypt(str) -> str and decrypt(str) -> str, like "
                                     "wsgisession.crypto.WebCryptoAdapter(secret).")
        if transform_id is not None:
            if not callable(transform_id):
                raise ConfigurationError("transform_id must be a callable from a session id to the stored key, "
                                         "like lambda sid: hashlib.sha256(sid.encode()).hexdigest().")
            _checked(transform_id("a-session-id-to-check-transform_id"))
        self.crypto = crypto
        self.transform_id = transform_id
        # Our codecs say whether a retired secret opened a record; any other adapter only decrypts.
        self._open = getattr(crypto, "decrypt_rotating", None) or (lambda text: (crypto.decrypt(text), False))

    def key(self, sid: str) -> str:
        """The key the record of session ``sid`` is stored under."""
        return sid if self.transform_id is None else _checked(self.transform_id(sid))

    def seal(self, text: str) -> str:
        """The session's JSON as stored."""
        return text if self.crypto is None else self.crypto.encrypt(text)

    def open(self, stored: str) -> tuple[str, bool] | None:
        """The session's JSON, and whether it should be sealed again (a retired secret opened it);
        None (one warning) if no secret opens it: it then reads as missing. An OSError of the
        codec (one that calls a key service, say) is an outage: StoreUnavailable."""
        if self.crypto is None:
            return stored, False
        try:
            text, stale = self._open(stored)
        except OSError as exc:  # an adapter that calls out (a key service) failed: an outage, not bad data
            raise StoreUnavailable(f"the session store's crypto failed ({type(exc).__name__})") from exc
        except Exception:  # stored data is input: whatever a tampered record makes a codec raise
            logger.warning("ignored a session record that no secret decrypts (tampered with, written under "
                           "another secret, or not encrypted)")
            return None
        return (text, bool(stale)) if isinstance(text, str) else None


def _checked(key: object) -> str:
    if type(key) is not str or not key:
        raise ConfigurationError(f"transform_id returned {'an empty str' if key == '' else type(key).__name__}: "
                                 "it must return a non-empty str, the same for the same session id.")
    return key


PLAIN = AtRest()  # ids and JSON as they are
