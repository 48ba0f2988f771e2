"""RedisStore: sessions in Redis, in connect-redis 9's format.

``store.py`` is the store (each operation a generator of Redis commands, driven by the redis-py
client or its asyncio twin); ``scripts.py`` the Lua scripts that make each operation one round
trip on one key's slot; ``keys.py`` the key layout (connect-redis's ``prefix + sid``, and
wsgisession's own keys under ``meta_prefix``).
"""

from .store import RedisStore

__all__ = ["RedisStore"]
