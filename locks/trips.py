"""Trips from the event loop to the database thread, for the live channel.

Channels' `database_sync_to_async` closes the thread's database connection after every call
unless CONN_MAX_AGE allows otherwise (and under ASGI, Django advises CONN_MAX_AGE = 0): one
new connection per socket message. After a server restart 1,000 pages reconnect at once and
their handshakes, subscriptions and syncs queue on Channels' one database thread; opening
and closing a connection for each was the largest single cost of the storm
(benchmarks/reconnect_storm.py). Here a healthy connection is kept for the next trip while
trips are queued behind the current one, and closed as before once the queue is empty, so an
idle server holds no connection.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections


def _keep_healthy() -> None:
    """Close connections that errored or left autocommit, whatever their age."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        close_at, conn.close_at = conn.close_at, None
        try:
            conn.close_if_unusable_or_obsolete()
        finally:
            conn.close_at = close_at


class _KeepingTrip(SyncToAsync):
    """A trip to one thread that keeps its connection while more trips to it queue up."""

    queued = 0  # trips started and not finished, this process (per subclass: per thread)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        type(self).queued += 1
        try:
            return await super().__call__(*args, **kwargs)
        finally:
            type(self).queued -= 1

    def thread_handler(self, loop, *args: Any, **kwargs: Any) -> Any:
        _keep_healthy()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            if type(self).queued > 1:
                _keep_healthy()  # the next trip is waiting: it uses this connection
            else:
                close_old_connections()  # as Channels does


class DatabaseTrip(_KeepingTrip):
    """`channels.db.database_sync_to_async`, reusing the connection while trips queue up."""

    queued = 0


database_sync_to_async = DatabaseTrip


# ---------------------------------------------------------------- the hub's own thread

_hub_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="locks-hub")


class HubTrip(_KeepingTrip):
    """A trip for the hub's own work (asking row-sensitive ModelAdmins again before a save
    reaches pages, the digest, the expiry sweep) on a thread of its own: it never waits
    behind the sockets' messages queued on the database thread (1,000 pages' session
    rechecks, a reconnect storm)."""

    queued = 0

    def __init__(self, func: Any) -> None:
        super().__init__(func, thread_sensitive=False, executor=_hub_executor)


hub_sync_to_async = HubTrip


async def hub_thread_idle() -> None:
    """Return once work already handed to the hub's thread has finished (its one worker runs
    trips in order, so a no-op queued now runs last)."""
    await asyncio.get_running_loop().run_in_executor(_hub_executor, _nothing)


def _nothing() -> None:
    return None
