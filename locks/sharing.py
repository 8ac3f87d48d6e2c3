"""What one user's new sockets share, for a moment, in this process: the user row and the
user's permissions.

After a server restart a user's open pages (often dozens of tabs and change lists) all
reconnect within seconds, and each new socket would read the same user row at its handshake
and ask the database for the same permissions (two more queries) at its first check, all on
the one database thread every socket's work queues on. This keeps a copy of each for `TTL`
seconds so the user's other new sockets start from it.

It never outlives a change: `locks.signals` announces changes to the user (permissions,
groups, password, active and staff flags) on the user's group, and the hub forgets the copy
(`forget`) before any socket checks again; a socket that borrowed a copy made before such
an announcement checks again once it listens for them (`stale`). While the channel layer
is away (no announcements can arrive) nothing is shared.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from typing import Any

TTL = 2.0  # seconds
_CACHES = ("_perm_cache", "_user_perm_cache", "_group_perm_cache")
_GENERATION = "_locks_sharing_generation"
_perms: dict[str, tuple[float, dict[str, Any]]] = {}
_users: dict[tuple[str, str], tuple[float, Any]] = {}
_generations: defaultdict[str, int] = defaultdict(int)


def _fresh(made: float) -> bool:
    return time.monotonic() - made <= TTL


# ---------------------------------------------------------------- the user row


def borrow_user(backend_path: str, user_id: Any, healthy: bool) -> Any | None:
    """A copy of the user row another socket of this user read in the last TTL seconds
    (through the same authentication backend), or None."""
    key = (backend_path, str(user_id))
    entry = _users.get(key) if healthy else None
    if entry is None:
        return None
    made, user = entry
    if not _fresh(made):
        _users.pop(key, None)
        return None
    return copy.copy(user)  # Django copies the model state too: nothing is shared after


def keep_user(backend_path: str, user: Any, healthy: bool) -> None:
    """Remember the user row the backend just read (before anything is cached on it)."""
    if not healthy or user is None or user.pk is None:
        return
    setattr(user, _GENERATION, _generations[str(user.pk)])
    _users[(backend_path, str(user.pk))] = (time.monotonic(), copy.copy(user))


def stale(user: Any) -> bool:
    """True when `user` was read before the latest announced change to that user."""
    made_at = getattr(user, _GENERATION, None)
    return made_at is not None and made_at != _generations[str(user.pk)]


# ---------------------------------------------------------------- permissions


def lend(user: Any, healthy: bool) -> None:
    """Give `user` (a socket's own user object, no permissions asked yet) the permissions
    another socket of theirs worked out in the last TTL seconds, if the layer is healthy."""
    if not healthy or any(hasattr(user, name) for name in _CACHES):
        return
    entry = _perms.get(str(user.pk))
    if entry is None:
        return
    made, caches = entry
    if not _fresh(made):
        _perms.pop(str(user.pk), None)
        return
    for name, value in caches.items():
        setattr(user, name, set(value))


def keep(user: Any, healthy: bool) -> None:
    """Remember the permissions Django cached on `user` while it was checked."""
    if not healthy or user.pk is None:
        return
    caches = {name: getattr(user, name, None) for name in _CACHES}
    if any(value is None for value in caches.values()):
        return
    if str(user.pk) not in _perms:
        _perms[str(user.pk)] = (time.monotonic(), {k: frozenset(v) for k, v in caches.items()})


# ---------------------------------------------------------------- forgetting


def forget(user_id: Any) -> None:
    """The user changed: nothing of theirs is lent any more, and copies lent before are
    stale."""
    key = str(user_id)
    _generations[key] += 1
    _perms.pop(key, None)
    for cached in [k for k in _users if k[1] == key]:
        _users.pop(cached, None)


def forget_all() -> None:
    for key in list(_generations):
        _generations[key] += 1
    _perms.clear()
    _users.clear()
