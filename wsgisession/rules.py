"""express-session's rules for the end of a request, as pure functions over a few facts.

Named as in express-session's index.js (``shouldSave``, ``shouldTouch``, ``shouldSetCookie``).
The table below is executed by ``tests/test_rules.py``: each row is the facts of one request and
what the rules answer for it (``new``: no live record for the cookie's id, or a new id;
``saved``: the store already holds what the session holds; ``ever saved``: it was saved during
this request, by ``save()``; ``expiring``: the cookie has a max age).

| new | modified | saved | ever saved | save_uninitialized | rolling | expiring | save | touch | set cookie |
|-----|----------|-------|------------|--------------------|---------|----------|------|-------|------------|
| yes | no       | no    | no         | no                 | no      | no       | no   | no    | no         |
| yes | yes      | no    | no         | no                 | no      | no       | yes  | no    | yes        |
| yes | no       | no    | no         | yes                | no      | no       | yes  | no    | yes        |
| yes | no       | yes   | yes        | no                 | no      | no       | no   | no    | yes        |
| yes | yes      | no    | yes        | no                 | no      | yes      | yes  | no    | yes        |
| no  | no       | yes   | no         | no                 | no      | no       | no   | yes   | no         |
| no  | no       | yes   | no         | no                 | yes     | no       | no   | yes   | yes        |
| no  | no       | yes   | no         | no                 | no      | yes      | no   | yes   | no         |
| no  | yes      | no    | no         | no                 | no      | no       | yes  | no    | no         |
| no  | yes      | no    | no         | no                 | no      | yes      | yes  | no    | yes        |
| no  | yes      | no    | no         | no                 | yes     | no       | yes  | no    | yes        |
| no  | no       | no    | no         | no                 | no      | no       | yes  | no    | no         |
| no  | no       | no    | no         | yes                | no      | no       | yes  | no    | no         |

(The second-to-last rows: a loaded session that is not ``saved`` although unmodified is one
``resave`` rewrites, or a record to repair or seal anew.) No Set-Cookie is sent for a Secure
cookie over plain http, whatever the rules say; a destroyed session sends an expired cookie
instead, and a dropped one (another request ended its id) nothing at all: the lifecycle
(``lifecycle.py``) decides those before it asks these rules.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

__all__ = ["DECISIONS", "Facts", "decide", "should_save", "should_set_cookie", "should_touch"]


class Facts(NamedTuple):
    """What the rules need to know about a request's session at its end."""

    new: bool  # no live record for the cookie's id (a fresh session), or regenerated: a new id
    modified: bool  # its data, lifetime, id or account differ from what was loaded
    saved: bool  # the store holds what the session holds now (express's isSaved)
    ever_saved: bool  # written to the store during this request (save(), or loaded with resave off)
    save_uninitialized: bool
    rolling: bool
    expiring: bool  # the cookie has a max age (express's cookie.expires != null)


def should_save(facts: Facts) -> bool:
    """express's shouldSave: a new session only if modified (unless save_uninitialized), any
    other one unless the store already holds it."""
    if facts.new and not facts.save_uninitialized and not facts.ever_saved:
        return facts.modified
    return not facts.saved


def should_touch(facts: Facts) -> bool:
    """express's shouldTouch: a loaded session that is not saved has its expiry refreshed."""
    return not facts.new and not should_save(facts)


def should_set_cookie(facts: Facts) -> bool:
    """express's shouldSetCookie: a new session once it is worth storing; a loaded one with
    ``rolling``, or when it changed and its cookie has a max age to renew."""
    if facts.new:
        return facts.save_uninitialized or facts.modified or facts.ever_saved
    return facts.rolling or (facts.expiring and facts.modified)


def decide(facts: Facts) -> tuple[bool, bool]:
    """``(should_save(facts), should_set_cookie(facts))``."""
    return should_save(facts), should_set_cookie(facts)


# ``decide`` for each of the 128 combinations of facts, keyed by the plain tuple of the facts in
# ``Facts``' order: the lifecycle asks on every request that uses its session, and one dict lookup
# costs a fraction of building a Facts and asking a cache (about 2,000 CPU instructions fewer per request,
# bench/instructions.py --without-collection).
DECISIONS: dict[tuple[bool, ...], tuple[bool, bool]] = {
    facts: decide(Facts(*facts)) for facts in itertools.product((False, True), repeat=len(Facts._fields))}
