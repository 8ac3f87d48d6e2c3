"""The floor under a real save: the demo's customer saved through a plain Django admin (no
locking mixin), and after its commit the same process sends one frame to every open
websocket exactly as benchmarks/bare_broadcast.py does. No Channels, no hub, no channel
layer: what a save cannot beat. benchmarks/save_fanout.py serves it as `floor-uvicorn` and
times it with the same client and the same admin POST as the project:

    DJANGO_SETTINGS_MODULE=benchmarks.floor_settings \\
        python -m uvicorn --loop uvloop --http httptools benchmarks.save_floor:application

The project's last page minus this one's is what the lock app adds to a save's way to the
pages (its admin checks, the event, the hub); this one minus the bare broadcast is what a
Django admin save costs before anything can be announced.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import django
from django.core.asgi import get_asgi_application

django.setup(set_prefix=False)

from django.db import transaction  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402

from benchmarks.bare_broadcast import Receive, Send, sockets, websocket  # noqa: E402

django_application = get_asgi_application()
loop: asyncio.AbstractEventLoop | None = None


def _frame(instance: Any) -> str:
    """Shaped and sized like the `record.saved` the project sends for a notes save."""
    return json.dumps(
        {
            "type": "record.saved",
            "record": {"ct": 0, "pk": str(instance.pk), "key": "0.floor", "repr": str(instance)},
            "version": instance.version,
            "changed": ["notes", "updated_at"],
            "values": {"notes": instance.notes, "updated_at": str(instance.updated_at)},
            "at": instance.updated_at.isoformat(),
        }
    )


async def broadcast(text: str) -> None:
    """One after another, as the bare app does."""
    frame = {"type": "websocket.send", "text": text}
    for each in list(sockets):
        try:
            await each(frame)
        except Exception:
            sockets.discard(each)


def announce(sender, instance, raw: bool = False, **kwargs: Any) -> None:
    """After the save commits, hand the frame to the event loop (the save runs on a thread)."""
    if raw or loop is None:
        return
    text = _frame(instance)
    transaction.on_commit(
        lambda: loop.call_soon_threadsafe(lambda: asyncio.ensure_future(broadcast(text)))
    )


def _connect() -> None:
    from locks import signals as lock_signals
    from records.models import Customer

    # The floor has no lock app in the way: its record events are not built.
    post_save.disconnect(lock_signals.record_saved, dispatch_uid="locks.record_saved")
    post_save.connect(announce, sender=Customer, dispatch_uid="floor.announce")


_connect()


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    global loop
    loop = asyncio.get_running_loop()
    if scope["type"] == "websocket":
        await websocket(receive, send)
    else:
        await django_application(scope, receive, send)
