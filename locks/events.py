"""Event names, payloads and group names, and publishing after commit.

Every lock change and record save is announced here, from `transaction.on_commit`, so no
page hears of data it cannot yet read. A broken channel layer is logged, never raised: the
save has happened and pages resync by polling.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.dispatch import Signal

from .records import RecordRef

logger = logging.getLogger("locks.events")

PUBLISH_TIMEOUT = 2.0  # seconds

# Lock events (the same names as LockEvent.Kind) and record events.
LOCK_ACQUIRED = "lock.acquired"
LOCK_RELEASED = "lock.released"
LOCK_EXPIRED = "lock.expired"
LOCK_IDLE_RELEASED = "lock.idle_released"
LOCK_TAKEN_OVER = "lock.taken_over"
LOCK_FORCE_RELEASED = "lock.force_released"
LOCK_HANDOVER_REQUESTED = "lock.handover_requested"
RECORD_SAVED = "record.saved"
RECORD_CREATED = "record.created"
RECORD_DELETED = "record.deleted"

KIND_TO_EVENT = {
    "acquired": LOCK_ACQUIRED,
    "released": LOCK_RELEASED,
    "expired": LOCK_EXPIRED,
    "idle_released": LOCK_IDLE_RELEASED,
    "taken_over": LOCK_TAKEN_OVER,
    "force_released": LOCK_FORCE_RELEASED,
    "handover_requested": LOCK_HANDOVER_REQUESTED,
}

#: Sent after commit with `event` (a dict: "type" plus payload). The live-update layer and
#: anyone else (metrics, webhooks) listen here.
event_published = Signal()


RECORD_PREFIX = "locks.record."
CONSOLE_GROUP = "locks.console"


def record_group(ref: RecordRef) -> str:
    return f"{RECORD_PREFIX}{ref.key}"


def record_group_for_key(key: str) -> str:
    return f"{RECORD_PREFIX}{key}"


def publish(event: dict[str, Any]) -> None:
    """Announce `event` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: deliver(event), robust=True)


def deliver(event: dict[str, Any]) -> None:
    """Hand `event` to the signal's receivers and the channel layer; never raise."""
    try:
        event_published.send(sender=None, event=event)
    except Exception:
        logger.exception("A receiver of %s failed", event.get("type"))
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(_send)(layer, event)
    except Exception:
        logger.exception("Could not publish %s to the channel layer", event.get("type"))


async def _send(layer, event: dict[str, Any]) -> None:
    """All topics at once, bounded: a Redis that hangs must not hang the save's response."""
    sends = [
        layer.group_send(group, {"type": "locks.event", "topic": group, "event": event})
        for group in topics_for(event)
    ]
    await asyncio.wait_for(asyncio.gather(*sends), timeout=PUBLISH_TIMEOUT)


USER_PREFIX = "locks.user."


def user_group(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"


def publish_user_changed(user_ids: list[int]) -> None:
    """After commit, tell these users' open sockets to check their permissions again."""
    if user_ids:
        transaction.on_commit(lambda: _deliver_user_changed(list(user_ids)), robust=True)


def _deliver_user_changed(user_ids: list[int]) -> None:
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return

        async def send() -> None:
            sends = [
                layer.group_send(user_group(uid), {"type": "locks.user", "topic": user_group(uid)})
                for uid in user_ids
            ]
            await asyncio.wait_for(asyncio.gather(*sends), timeout=PUBLISH_TIMEOUT)

        async_to_sync(send)()
    except Exception:
        logger.exception("Could not tell open pages that %d user(s) changed", len(user_ids))


def topics_for(event: dict[str, Any]) -> list[str]:
    """The record's topic (its change form and the change lists showing it) and the console."""
    return [record_group_for_key(event["record"]["key"]), CONSOLE_GROUP]


def record_payload(ref: RecordRef) -> dict[str, Any]:
    return {"ct": ref.content_type_id, "pk": ref.object_pk, "key": ref.key, "repr": ref.object_repr}
