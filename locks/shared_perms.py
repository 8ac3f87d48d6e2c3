"""Permissions shared, for a moment, by one user's sockets in this process.

After a server restart a user's open pages (often dozens of tabs and change lists) all
reconnect within seconds, and each new socket's first check asks the database for the user's
and the groups' permissions (two queries, on the one database thread every socket's work
queues on). Django keeps them on the user object; this keeps a copy for `TTL` seconds so the
user's other new sockets start from it.

It never outlives a change: `locks.signals` announces permission and account changes on the
user's group, and the hub forgets the copy before any socket checks again; while the channel
layer is away (no announcements can arrive) nothing is shared.
"""

from __future__ import annotations

import time
from typing import Any

TTL = 2.0  # seconds
_CACHES = ("_perm_cache", "_user_perm_cache", "_group_perm_cache")
_shared: dict[Any, tuple[float, dict[str, Any]]] = {}


def lend(user: Any, healthy: bool) -> None:
    """Give `user` (a socket's own user object, no permissions asked yet) the copy another
    socket of theirs made in the last TTL seconds, if the layer is healthy."""
    if not healthy or any(hasattr(user, name) for name in _CACHES):
        return
    entry = _shared.get(str(user.pk))
    if entry is None:
        return
    made, caches = entry
    if time.monotonic() - made > TTL:
        _shared.pop(str(user.pk), None)
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
    if str(user.pk) not in _shared:
        _shared[str(user.pk)] = (time.monotonic(), {k: frozenset(v) for k, v in caches.items()})


def forget(user_id: Any) -> None:
    """The user's permissions or account changed: nothing of theirs is lent any more."""
    _shared.pop(str(user_id), None)


def forget_all() -> None:
    _shared.clear()
