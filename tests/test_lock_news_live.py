"""The same news over the websocket: the holder's unsaved flag in `heartbeat`, `lock.unsaved`
and `lock.handover_declined` on the record's topic, and who did it and why for record
subscribers but never for the console."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from locks import services
from tests.conftest import make_user
from tests.test_live_authority import nothing_more
from tests.test_websocket import (
    ask,
    fresh_layer_and_hub,  # noqa: F401  (autouse fixture)
    next_of,
    open_socket,
    record,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_unsaved_flag_over_the_socket_reaches_viewers_once_per_flip(alice, bob, customer):
    lease = (await sync_to_async(services.acquire)(customer, alice)).lease
    viewer = await open_socket(bob)
    await ask(viewer, {"type": "subscribe", "record": record(customer)})
    holder = await open_socket(alice)

    def beat(**extra) -> dict:
        return {"type": "heartbeat", "record": record(customer), "lease": lease, **extra}

    reply = await ask(holder, beat(active=True, unsaved=True))
    assert reply["ok"] is True and reply["lock"]["unsaved"] is True
    event = await next_of(viewer, "lock.unsaved")
    assert event["lock"]["unsaved"] is True and event["lock"]["holder"] == "Alice"
    assert (event["actor"], event["holder_id"]) == ("Alice", alice.pk)

    # Regular heartbeats carry the same flag (or none, or junk): nothing to announce.
    for extra in ({"unsaved": True}, {}, {"unsaved": "no"}):
        assert (await ask(holder, beat(active=True, **extra)))["lock"]["unsaved"] is True
    assert await nothing_more(viewer, "lock.unsaved")

    assert (await ask(holder, beat(unsaved=False)))["lock"]["unsaved"] is False
    assert (await next_of(viewer, "lock.unsaved"))["lock"]["unsaved"] is False
    state = await ask(viewer, {"type": "sync", "record": record(customer), "version": 1})
    assert state["lock"]["unsaved"] is False
    await holder.disconnect()
    await viewer.disconnect()


async def console_and_record_page(user, customer):
    """A console watcher's socket (no record rights), and `user`'s change-form socket."""
    watcher = await sync_to_async(make_user)("watcher", "locks.view_editlock")
    console = await open_socket(watcher)
    await ask(console, {"type": "subscribe", "console": True})
    page = await open_socket(user)
    await ask(page, {"type": "subscribe", "record": record(customer), "presence": True})
    return console, page


async def test_requester_hears_the_decline_console_hears_no_reason(alice, bob, customer):
    console, requester = await console_and_record_page(bob, customer)
    lease = (await sync_to_async(services.acquire)(customer, alice)).lease
    await sync_to_async(services.request_handover)(customer, bob, "phone number is wrong")
    asked = await next_of(requester, "lock.handover_requested")
    assert asked["lock"]["handover_requested_by_id"] == bob.pk

    await sync_to_async(services.decline_handover)(customer, alice, lease, "Saving in a minute")
    declined = await next_of(requester, "lock.handover_declined")
    assert declined["handover_requested_by_id"] == bob.pk
    assert (declined["actor"], declined["reason"]) == ("Alice", "Saving in a minute")
    assert declined["lock"]["held"] is True and declined["lock"]["handover_requested_by"] == ""

    for kind in ("lock.handover_requested", "lock.handover_declined"):
        shaped = await next_of(console, kind)
        assert set(shaped) == {"type", "record", "lock", "at"}  # no reason, actor, requester
    await console.disconnect()
    await requester.disconnect()


async def test_displaced_holder_hears_who_took_over_and_why(alice, carol, customer):
    console, holder = await console_and_record_page(alice, customer)
    await sync_to_async(services.acquire)(customer, alice)
    await sync_to_async(services.take_over)(customer, carol, "Customer on the phone")
    taken = await next_of(holder, "lock.taken_over")
    assert (taken["actor_id"], taken["actor"], taken["reason"]) == (
        carol.pk,
        "Carol",
        "Customer on the phone",
    )
    assert taken["holder_id"] == alice.pk and taken["lock"]["holder"] == "Carol"
    await sync_to_async(services.force_release)(customer, carol, "Done here")
    freed = await next_of(holder, "lock.force_released")
    assert (freed["actor"], freed["reason"]) == ("Carol", "Done here")
    for kind in ("lock.taken_over", "lock.force_released"):
        shaped = await next_of(console, kind)
        assert not {"reason", "actor", "actor_id"} & set(shaped)
    await console.disconnect()
    await holder.disconnect()
