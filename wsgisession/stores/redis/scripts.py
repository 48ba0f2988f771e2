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
# and from Lua; a write command costs more than a read), on top of ~7 µs for the EVALSHA itself: a
# session is checked by one GET (its value, which most callers need anyway; a key of another type
# answers WRONGTYPE, caught by pcall) and one PEXPIRETIME, and the scripts a request runs are
# written for the fewest calls (bench/redis_cost.py counts them and measures what they cost the
# server: with the default clock, a read-only request's LOAD and REFRESH run 5, a modified one's
# LOAD and WRITE 6).
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
local function pin(key, at)  -- an unbound meta hash expires at 'at', which its field 'x' records
  local x = string.format('%d', at)
  redis.call('PEXPIREAT', key, x)
  redis.call('HSET', key, 'x', x)
end
-- An unbound meta hash's expiry ('was') kept within [at + grace, at + 2 grace] of its session's 'at'
-- (only extended when 'later'); -1 (no TTL: a bound hash) and -2 (no hash) are left alone.
local function follow(key, at, grace, was, later)
  if was < 0 then return end
  if was < at + grace or not later and was > at + 2 * grace then pin(key, at + 2 * grace) end
end
"""

# The meta hash's lifetime. An unbound one (a creation time only) outlives its session by one to two
# ``grace`` (ms) and follows it on our writes, refreshes and loads (a load sees an Express touch,
# which moves the session only): when its expiry falls outside [session's + grace, session's + 2
# grace], it is set to the session's + 2 grace (``follow``), so that most requests, which move the
# session a few ms later, leave the hash alone (a read, no write); the expiry set is also kept in the
# hash's field ``x``, which LOAD reads with the others (no PEXPIRETIME of the hash; a hash without
# ``x``, written before it existed, has its expiry read instead). A bound one (an account: field
# ``u``) has no TTL: the binding must last as long as the session, which an Express app alone may
# keep alive indefinitely (its SET ... EX and EXPIRE never touch the hash). It is deleted with its
# session by our scripts; when the session went without us (Redis expired it, an Express app
# destroyed it), by the next LOAD of it (the user index's reader loads every session it names before
# it prunes their entries: store.py), else by purge()'s sweep (FORGET). A meta hash whose session is
# not live is never read (every script checks the session first, and a write creating the session
# anew deletes it), so deleting it loses nothing. A hash with a TTL is unbound and one without is
# bound: nothing gives a bound one a TTL, nor leaves an unbound one without.

# KEYS: session, meta. ARGV: now, grace (ms). -> false; for an unbound session one string,
# '<expiry>|<created>|<value>' (created '' unknown): one bulk string costs redis-py a third less to
# parse than an array (bench/redis_cost.py, app µs); for a bound one {value, expiry, created, user,
# logged in, authenticated, user agent, seal}. Three calls: GET, PEXPIRETIME and HMGET.
LOAD = Script("load", _EXPIRY + """
local now = tonumber(ARGV[1])
local ok, at, value = live(KEYS[1], now)
if not ok then redis.call('DEL', KEYS[2]) return false end  -- (a bound hash whose session went)
local meta = redis.call('HMGET', KEYS[2], 'c', 'u', 'l', 'a', 'ua', 's', 'x')
if at >= 0 and meta[1] and not meta[2] then  -- unbound: an Express touch (EXPIRE) moved the session only:
  follow(KEYS[2], at, tonumber(ARGV[2]), tonumber(meta[7] or '') or expiry(KEYS[2]), true)  -- (later only)
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
# An unbound session's save: GET, SET, PEXPIRETIME of the hash (and, once in a grace, its PEXPIREAT + HSET).
WRITE = Script("write", _EXPIRY + """
local now = tonumber(ARGV[1])
local mode = string.lower(ARGV[2])
local ok, _, value = live(KEYS[1], now, mode ~= ARGV[2])
if mode == 'c' and ok then return 0 end
if mode == 's' and (not ok or redis.sha1hex(value) ~= ARGV[3]) then return 0 end
local at = tonumber(ARGV[5])
if at <= now then redis.call('DEL', KEYS[1], KEYS[2]) return 1 end
redis.call('SET', KEYS[1], ARGV[4], 'PXAT', at)
local grace = tonumber(ARGV[7])
local bound = #ARGV > 7
if not ok then  -- a record created anew: no account, created now (or as given); unbound until bound below
  redis.call('DEL', KEYS[2])
  local c, mat = ARGV[6] ~= '' and ARGV[6] or ARGV[1], string.format('%d', at + 2 * grace)
  if bound then redis.call('HSET', KEYS[2], 'c', c)
  else redis.call('HSET', KEYS[2], 'c', c, 'x', mat) redis.call('PEXPIREAT', KEYS[2], mat) end
else
  local was = bound and -1 or expiry(KEYS[2])  -- (read before a creation time may make the hash)
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'c', ARGV[6]) end
  if was == -2 and ARGV[6] ~= '' then pin(KEYS[2], at + 2 * grace)  -- (made just now: unbound, no TTL yet)
  else follow(KEYS[2], at, grace, was) end  -- (-1: bound, left without; -2: still no hash)
end
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
  redis.call('PERSIST', KEYS[2])  -- (bound: no TTL; its 'x', if any, no longer read)
end
return 1
""")

# KEYS: session, meta. ARGV: now, expires at, grace, trust ('1': the store's clock is the system
# clock, as WRITE's capitals). -> 1 refreshed, 0 missing or expired.
# connect-redis's touch(): the key's expiry only, never its value (its cookie.expires stays). Trusted,
# the session's own PEXPIREAT tells whether Redis still has it (0: no key), so its value is not read:
# two calls, PEXPIREAT and the hash's PEXPIRETIME. (The LOAD before it in the request checked that
# the key holds a string: only a writer replacing it by another type in between would go unnoticed.)
REFRESH = Script("refresh", _EXPIRY + """
local now, at = tonumber(ARGV[1]), tonumber(ARGV[2])
if at <= now then
  if not live(KEYS[1], now, ARGV[4] == '1') then return 0 end
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
if ARGV[4] == '1' then
  if redis.call('PEXPIREAT', KEYS[1], ARGV[2]) == 0 then return 0 end
elseif live(KEYS[1], now) then redis.call('PEXPIREAT', KEYS[1], ARGV[2])
else return 0 end
follow(KEYS[2], at, tonumber(ARGV[3]), expiry(KEYS[2]))  -- (a bound hash has no TTL: it stays without)
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
