"""RedisStore's keys: connect-redis's session keys, and wsgisession's own keys beside them.

connect-redis keeps a session at ``prefix + sid`` (``sess:`` by default), its value the session
JSON, and reads every key under ``prefix`` as a session (``all()``, ``length()``, ``clear()``
scan ``prefix*``). So what wsgisession keeps besides the JSON lives under another prefix,
``meta_prefix`` (``wsgisession:`` by default), which must not overlap ``prefix``:

- ``<meta>m:<tag>``: a hash beside each session written from Python: its creation time and the
  account it is bound to (``session.login``). Expressed in the session key's hash tag, so on a
  Redis Cluster it lives in the session's slot and one Lua script reads or writes both. Unbound,
  it expires a grace after its session; bound, it has no TTL (an Express app may keep the session
  alive without ever touching it) and is deleted once its session is found gone (``scripts.py``).
- ``<meta>t:<tag>``: a tombstone (``bury``), in the same slot, the window's end as its value.
- ``<meta>u:<user id>``: a sorted set of one user's session keys (the user index), scored by when
  each was added; in a slot of its own on a Cluster (see ``store.py`` on how it stays right).

``<tag>`` is the session key itself when it already holds a Redis hash tag (``{...}``, say a
prefix ``{app}sess:``), else the key wrapped in braces: either way its slot is the session key's.
"""

from __future__ import annotations

from ...errors import ConfigurationError

__all__ = ["Keys", "hash_tagged"]


def _has_hash_tag(key: str) -> bool:
    """Whether Redis Cluster hashes ``key`` by a ``{tag}`` inside it (the first ``{``, the first ``}``
    after it, something between) rather than by the whole key."""
    start = key.find("{")
    if start < 0:
        return False
    end = key.find("}", start + 1)
    return end > start + 1


def hash_tagged(key: str) -> str:
    """A string that, appended to a prefix without braces, hashes to ``key``'s cluster slot."""
    return key if _has_hash_tag(key) else "{" + key + "}"


class Keys:
    """The key layout of one RedisStore (``prefix`` and ``meta_prefix`` checked here)."""

    def __init__(self, prefix: str, meta_prefix: str) -> None:
        for name, value in (("prefix", prefix), ("meta_prefix", meta_prefix)):
            if not isinstance(value, str):
                raise ConfigurationError(f"{name} must be a str, like 'sess:', not {type(value).__name__}.")
        if not meta_prefix or "{" in meta_prefix or "}" in meta_prefix:
            raise ConfigurationError("meta_prefix must be a non-empty str without braces, like 'wsgisession:': "
                                     "wsgisession keeps its index and tombstones under it.")
        if meta_prefix.startswith(prefix) or prefix.startswith(meta_prefix):
            raise ConfigurationError(
                f"prefix {prefix!r} and meta_prefix {meta_prefix!r} overlap: connect-redis reads every key under "
                "prefix as a session, so wsgisession's own keys need a prefix of their own; choose two "
                "prefixes neither of which starts the other (the defaults are 'sess:' and 'wsgisession:').")
        self.prefix = prefix
        self.meta_prefix = meta_prefix

    def session(self, key: str) -> str:
        return self.prefix + key

    def meta(self, key: str) -> str:
        return f"{self.meta_prefix}m:{hash_tagged(self.prefix + key)}"

    def tombstone(self, key: str) -> str:
        return f"{self.meta_prefix}t:{hash_tagged(self.prefix + key)}"

    def user(self, user_id: str) -> str:
        return f"{self.meta_prefix}u:{user_id}"

    def pair(self, key: str) -> tuple[str, str]:
        """The session key and its meta hash (one cluster slot): the KEYS of most scripts."""
        session = self.prefix + key
        return session, f"{self.meta_prefix}m:{hash_tagged(session)}"

    def slotted(self, key: str) -> tuple[str, str, str]:
        """The session key and its two companions, all in one cluster slot."""
        return self.session(key), self.meta(key), self.tombstone(key)

    @property
    def user_pattern(self) -> str:
        return _glob_escape(self.meta_prefix) + "u:*"

    @property
    def session_pattern(self) -> str:
        return _glob_escape(self.prefix) + "*"

    @property
    def meta_pattern(self) -> str:
        return _glob_escape(self.meta_prefix) + "*"

    def user_of(self, index_key: str) -> str:
        return index_key[len(self.meta_prefix) + 2:]

    @property
    def meta_hash_pattern(self) -> str:
        return _glob_escape(self.meta_prefix) + "m:*"

    def key_of_meta(self, meta_key: str) -> str | None:
        """The session key (without prefix) whose meta hash is ``meta_key``; None if it is no
        meta hash of this layout. (``<tag>`` is the session key, braced unless it holds a hash tag:
        each reading is checked by building the meta key back.)"""
        head = self.meta_prefix + "m:"
        if not meta_key.startswith(head):
            return None
        tag = meta_key[len(head):]
        for full in (tag[1:-1] if len(tag) > 1 and tag[0] == "{" and tag[-1] == "}" else None, tag):
            if full is not None and full.startswith(self.prefix) and self.meta(full[len(self.prefix):]) == meta_key:
                return full[len(self.prefix):]
        return None


def _glob_escape(text: str) -> str:
    """``text`` matched literally by SCAN's MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
