"""Event names, payloads and group names, and publishing after commit.

Every lock change and record save is announced here, from `transaction.on_commit`, so no
page hears of data it cannot yet read. A broken channel layer is logged, never raised: the
save has happened and pages resync by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.core.serializers.json import DjangoJSONEncoder
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
LOCK_HANDOVER_DECLINED = "lock.handover_declined"
LOCK_UNSAVED = "lock.unsaved"  # the holder's unsaved-changes flag flipped (no audit row)
RECORD_SAVED = "record.saved"
RECORD_CREATED = "record.created"
RECORD_DELETED = "record.deleted"
RECORD_EVENTS = frozenset({RECORD_SAVED, RECORD_CREATED, RECORD_DELETED})

KIND_TO_EVENT = {
    "acquired": LOCK_ACQUIRED,
    "released": LOCK_RELEASED,
    "expired": LOCK_EXPIRED,
    "idle_released": LOCK_IDLE_RELEASED,
    "taken_over": LOCK_TAKEN_OVER,
    "force_released": LOCK_FORCE_RELEASED,
    "handover_requested": LOCK_HANDOVER_REQUESTED,
    "handover_declined": LOCK_HANDOVER_DECLINED,
}

#: Sent after commit with `event` (a dict: "type" plus payload). The live-update layer and
#: anyone else (metrics, webhooks) listen here.
event_published = Signal()


RECORD_PREFIX = "locks.record."
CONSOLE_GROUP = "locks.console"


def record_group(ref: RecordRef) -> str:
    return record_group_for_key(ref.key)


def record_group_for_key(key: str) -> str:
    return f"{RECORD_PREFIX}{key}"


def publish(event: dict[str, Any]) -> None:
    """Announce `event` once the current transaction commits (at once outside one).

    The payload is made plain JSON here, in the publishing request's language: lazily
    translated strings, dates and decimals become text, so every layer can carry it."""
    plain = json.loads(json.dumps(event, cls=DjangoJSONEncoder))
    transaction.on_commit(lambda: deliver(plain), robust=True)


def deliver(event: dict[str, Any]) -> None:
    """Hand `event` to the signal's receivers and the channel layer; never raise."""
    try:
        event_published.send(sender=None, event=event)
    except Exception:
        logger.exception("A receiver of %s failed", event.get("type"))
    event_id = uuid.uuid4().hex
    messages = {
        group: {"type": "locks.event", "topic": group, "event": event, "id": event_id}
        for group in topics_for(event)
    }
    _hand_to_own_hub(list(messages.values()))
    if not send_to_groups(messages):
        # Pages notice the gap at their hub's next digest (one heartbeat interval) and resync.
        logger.error("Could not publish %s to the channel layer: %s", event.get("type"), event)


def _hand_to_own_hub(messages: list[dict[str, Any]]) -> None:
    """This process's own pages hear it at once (locks.hub.Hub.hand_over)."""
    from .hub import hub_of_this_thread

    hub = hub_of_this_thread()
    if hub is not None and hub.loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
            hub.loop.call_soon_threadsafe(hub.hand_over, messages)


def send_to_groups(messages: dict[str, dict[str, Any]]) -> bool:
    """Send each group its message, all at once and bounded in time (a Redis that hangs
    must not hang a save's response). False, logged, when the layer failed."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return True

    async def send_all() -> None:
        sends = [layer.group_send(group, message) for group, message in messages.items()]
        await asyncio.wait_for(asyncio.gather(*sends), timeout=PUBLISH_TIMEOUT)

    for attempt in (1, 2):  # after a Redis restart, a pooled connection fails once
        try:
            async_to_sync(send_all)()
            return True
        except Exception:
            if attempt == 2:
                logger.exception("Channel layer send to %d group(s) failed", len(messages))
    return False


USER_PREFIX = "locks.user."


def user_group(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"


def publish_user_changed(user_ids: list[int]) -> None:
    """After commit, tell these users' open sockets to check their permissions again."""
    groups = [user_group(uid) for uid in user_ids]
    if groups:
        transaction.on_commit(
            lambda: send_to_groups({g: {"type": "locks.user", "topic": g} for g in groups}),
            robust=True,
        )


def topics_for(event: dict[str, Any]) -> list[str]:
    """The record's topic (its change form and the change lists showing it); lock events go
    to the console too (which never hears record values)."""
    topics = [record_group_for_key(event["record"]["key"])]
    if event["type"] not in RECORD_EVENTS:
        topics.append(CONSOLE_GROUP)
    return topics


def lock_event(
    event_type: str,
    ref: RecordRef,
    lock: dict[str, Any],
    at: datetime,
    *,
    actor_id: int | None,
    actor: str,
    holder_id: int | None,
    fence: int,
    reason: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """Every lock.* event has this shape (docs/protocol.md, "Lock events"): `lock` is the
    public lock afterwards; `actor` names who did it ("" when the system did) so a displaced
    holder can be told who and why."""
    return {
        "type": event_type,
        "record": record_payload(ref),
        "lock": lock,
        "actor_id": actor_id,
        "actor": actor,
        "holder_id": holder_id,
        "fence": fence,
        "reason": reason,
        "at": at.isoformat(),
        **extra,
    }


def record_payload(ref: RecordRef) -> dict[str, Any]:
    return {"ct": ref.content_type_id, "pk": ref.object_pk, "key": ref.key, "repr": ref.object_repr}
