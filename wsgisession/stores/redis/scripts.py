"""RedisStore's Lua scripts: each store operation on one session is one script on one slot.

Why scripts: a compare-and-set must read and write atomically (Redis runs a script without
interleaving any other command), and one EVALSHA is one round trip whatever the script does.
Every script takes the session key, its meta hash and its tombstone (``keys.py``: one cluster
slot) and ``now`` in epoch ms from the store's clock, so that an expiry is judged by the same clock
that set it (the contract kit's fake clock included). With the default clock, Redis's own expiry
agrees with it up to clock skew between the hosts, so WRITE and REFRESH, told so, trust it: a value
Redis still returns is live, and its expiry is not read (one ``PEXPIRETIME`` less per script).

Expiries are absolute (``PXAT``, ``PEXPIREAT``): ``now`` plus connect-redis's TTL, a whole number
of seconds (``ceil((cookie.expires - now) / 1000)``, else ``ttl``), computed by the store, so the
key's TTL is exactly what connect-redis would have set. A record's version is the SHA-1 of its
text as stored (Redis's ``redis.sha1hex``): connect-redis's own writes change it too, and the value
stays the plain session JSON that connect-redis reads.
"""

from __future__ import annotations

import hashlib

__all__ = ["BURY", "DESTROY", "FORGET", "LOAD", "PRUNE", "PRUNE_INDEX", "REFRESH", "SCRIPTS", "STATUS", "WRITE",
           "Script", "version_of"]


def version_of(stored: bytes) -> str:
    """The version of a stored value: what ``redis.sha1hex`` computes in the scripts."""
    return hashlib.sha1(stored).hexdigest()  # noqa: S324  (an identity of the text, not a security hash)


class Script:
    """A Lua script and its SHA-1, run with EVALSHA (EVAL, which caches it, when the server lacks it)."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324  (Redis names scripts by SHA-1)


# Shared preamble: the expiry of a key in epoch ms (-1: none, -2: no key). PEXPIRETIME is Redis
# 7.0's; older servers get it from PTTL and the server's TIME. Each redis.call inside a script
# costs the server 2 to 5 µs, several times the command itself (arguments and reply converted to
# and from Lua; a write command costs more than a read): a session is checked by one GET (its
# value, which most callers need anyway; a key of another type answers WRONGTYPE, caught by pcall)
# and one PEXPIRETIME (bench/redis_cost.py measures what a request costs the server).
_EXPIRY = """
local function expiry(key)
  local at = redis.pcall('PEXPIRETIME', key)
  if type(at) == 'number' then return at end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return ttl end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
end
local function live(key, now, trust)  -- a session: a string value whose expiry has not passed -> ok, expiry, value
  local value = redis.pcall('GET', key)
  if type(value) ~= 'string' then return false, -2 end  -- (none: false; another type: an error table)
  if trust then return true, -1, value end  -- (the store's clock is Redis's: what Redis still has is live)
  local at = expiry(key)
  return at < 0 or at > now, at, value
end
local function extend(key, at)  -- PEXPIREAT key at if that moves a set expiry later (no TTL, no key: nothing)
  local was = expiry(key)  -- (a read, then a write only if needed: cheaper than PEXPIREAT GT, a write each time)
  if was >= 0 and was < at then redis.call('PEXPIREAT', key, at) end
end
"""

# The meta hash's lifetime. An unbound one (a creation time only) outlives its session by ``grace``
# (ms) and moves with it on our writes, refreshes and loads (a load sees an Express touch, which
# moves the session only). A bound one (an account: field ``u``) has no TTL: the binding must last
# as long as the session, which an Express app alone may keep alive indefinitely (its SET ... EX and
# EXPIRE never touch the hash). It is deleted with its session by our scripts; when the session went
# without us (Redis expired it, an Express app destroyed it), by the next LOAD of it (the user
# index's reader loads every session it names before it prunes their entries: store.py), else by
# purge()'s sweep (FORGET). A meta hash whose session is not live is never read (every script checks
# the session first, and a write creating the session anew deletes it), so deleting it loses nothing.

# KEYS: session, meta. ARGV: now, grace (ms an unbound meta hash outlives its session).
# -> false; for an unbound session one string, '<expiry>|<created>|<value>' (created '' unknown): one
# bulk string costs redis-py a third less to parse than an array (bench/redis_cost.py, app µs); for
# a bound one {value, expiry, created, user, logged in, authenticated, user agent, seal}.
LOAD = Script("load", _EXPIRY + """
local now = tonumber(ARGV[1])
local ok, at, value = live(KEYS[1], now)
if not ok then redis.call('DEL', KEYS[2]) return false end  -- (a bound hash whose session went)
local meta = redis.call('HMGET', KEYS[2], 'c', 'u', 'l', 'a', 'ua', 's')
if at >= 0 and meta[1] and not meta[2] then  -- unbound: an Express touch (EXPIRE) moved the session
  extend(KEYS[2], at + tonumber(ARGV[2]))    -- only: keep the hash as long as the session plus grace
end
if not meta[2] then  -- (a created that is not digits, which no writer of ours leaves, reads as unknown)
  return string.format('%d|', at) .. (meta[1] and string.match(meta[1], '^%d+$') or '') .. '|' .. value
end
return {value, at, meta[1], meta[2], meta[3], meta[4], meta[5], meta[6]}
""")

# KEYS: session, meta. ARGV: now, mode ('w' write, 'c' create, 's' swap; in capitals when the store's
# clock is the system clock: the session's expiry is then Redis's to judge, not read here), version
# (sha1 of the value a swap expects), value, expires at (ms; <= now: delete, as connect-redis does with TTL <= 0),
# created ('' keep), grace; then, for a record with an account only (fewer arguments to send and
# convert for the others): user, logged in, authenticated, user agent ('' none; a user agent given
# is prefixed with '='), seal ('' none; AtRestStore's MAC of the binding, kept as text that never
# goes back, as the authentication time). -> 1 written, 0 refused (a conflict).
WRITE = Script("write", _EXPIRY + """
local now = tonumber(ARGV[1])
local mode = string.lower(ARGV[2])
local ok, _, value = live(KEYS[1], now, mode ~= ARGV[2])
if mode == 'c' and ok then return 0 end
if mode == 's' and (not ok or redis.sha1hex(value) ~= ARGV[3]) then return 0 end
if not ok then redis.call('DEL', KEYS[2]) end  -- a record created anew: no account, created now
local at = tonumber(ARGV[5])
if at <= now then redis.call('DEL', KEYS[1], KEYS[2]) return 1 end
redis.call('SET', KEYS[1], ARGV[4], 'PXAT', at)
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'c', ARGV[6])
elseif not ok then redis.call('HSET', KEYS[2], 'c', ARGV[1]) end
local bound = #ARGV > 7
if bound then
  local old = redis.call('HMGET', KEYS[2], 'u', 'l', 'a', 'ua', 's')
  local l, a, ua, s = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
  if old[1] then  -- stores/base.py's combine(): given fields replace, authentication never goes back
    if l == '' and old[2] then l = old[2] end
    if ua == '' and old[4] then ua = '=' .. old[4] end
    local oa = tonumber(old[3] or '')
    if oa and (a == '' or oa > tonumber(a)) then a = old[3] end
    if old[5] and (s == '' or old[5] > s) then s = old[5] end
  end
  redis.call('HSET', KEYS[2], 'u', ARGV[8])
  for field, value in pairs({l = l, a = a, s = s}) do
    if value == '' then redis.call('HDEL', KEYS[2], field) else redis.call('HSET', KEYS[2], field, value) end
  end
  if ua == '' then redis.call('HDEL', KEYS[2], 'ua') else redis.call('HSET', KEYS[2], 'ua', string.sub(ua, 2)) end
end
local mat = at + tonumber(ARGV[7])
-- Bound: no TTL; unbound: expires at mat (no hash: a no-op). A hash with a TTL is unbound and one
-- without is bound (nothing gives a bound one a TTL, nor leaves an unbound one without), so the
-- common case, an unbound session's expiry moving later, is one PEXPIREAT GT; when GT moves nothing
-- (bound, no hash, the same millisecond, an expiry moving earlier) one read tells which.
if bound then redis.call('PERSIST', KEYS[2])
elseif not ok then redis.call('PEXPIREAT', KEYS[2], mat)  -- (made anew above: unbound, no TTL yet)
elseif redis.pcall('PEXPIREAT', KEYS[2], mat, 'GT') ~= 1 and expiry(KEYS[2]) > mat then
  redis.call('PEXPIREAT', KEYS[2], mat)  -- (an unbound session's expiry moving earlier)
end
return 1
""")

# KEYS: session, meta. ARGV: now, expires at, grace, trust ('1': the store's clock is the system
# clock, as WRITE's capitals). -> 1 refreshed, 0 missing or expired.
# connect-redis's touch(): the key's expiry only, never its value (its cookie.expires stays).
REFRESH = Script("refresh", _EXPIRY + """
local now = tonumber(ARGV[1])
if not live(KEYS[1], now, ARGV[4] == '1') then return 0 end
local at = tonumber(ARGV[2])
if at <= now then redis.call('DEL', KEYS[1], KEYS[2]) return 1 end
redis.call('PEXPIREAT', KEYS[1], at)
extend(KEYS[2], at + tonumber(ARGV[3]))  -- (a bound hash has no TTL: it stays without)
return 1
""")

# KEYS: session, meta. ARGV: now. -> 1 if a live record was deleted.
DESTROY = Script("destroy", _EXPIRY + """
local ok = live(KEYS[1], tonumber(ARGV[1]))
redis.call('DEL', KEYS[1], KEYS[2])
return ok and 1 or 0
""")

# KEYS: session, meta, tombstone. ARGV: now, until. The tombstone first, then the record: the
# key is never unknown and not yet buried. -> 1 if a live record was deleted.
BURY = Script("bury", _EXPIRY + """
local now, untl = tonumber(ARGV[1]), tonumber(ARGV[2])
if untl > now then redis.call('SET', KEYS[3], ARGV[2], 'PXAT', untl) end
local ok = live(KEYS[1], now)
redis.call('DEL', KEYS[1], KEYS[2])
return ok and 1 or 0
""")

# KEYS: session, meta. ARGV: now. Deletes the record only if it is still expired (a save may have
# created it anew since it was found expired). -> 1 if deleted.
PRUNE = Script("prune", _EXPIRY + """
local ok, at = live(KEYS[1], tonumber(ARGV[1]))
if ok or at == -2 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
""")

# KEYS: session, meta. ARGV: now. Deletes the meta hash of a session that is not live: purge()'s
# sweep, for a bound hash no user index names any more (an index write lost in a failover, say).
# -> 1 if deleted.
FORGET = Script("forget", _EXPIRY + """
if live(KEYS[1], tonumber(ARGV[1])) then return 0 end
return redis.call('DEL', KEYS[2])
""")

# KEYS: session. -> {type, expiry} (maintenance: whether a key is a live session).
STATUS = Script("status", _EXPIRY + """
return {redis.call('TYPE', KEYS[1])['ok'], expiry(KEYS[1])}
""")

# KEYS: a user's index. ARGV: cutoff, members... Removes each member only if it was added before
# the cutoff (a login adds its member before it writes the session: a member younger than that may
# belong to a write still on its way); deletes the index once empty. -> how many were removed.
PRUNE_INDEX = Script("prune index", """
local removed = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) < tonumber(ARGV[1]) then removed = removed + redis.call('ZREM', KEYS[1], ARGV[i]) end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return removed
""")

SCRIPTS = {script.name: script
           for script in (LOAD, WRITE, REFRESH, DESTROY, BURY, PRUNE, FORGET, STATUS, PRUNE_INDEX)}
