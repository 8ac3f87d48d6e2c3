"""What a page's (re)connection costs the server: after a restart every open page connects,
subscribes and syncs at once, and all of it queues on the one database thread Channels runs
`database_sync_to_async` work on (benchmarks/reconnect_storm.py). Through the real stack."""

from __future__ import annotations

import pytest
from asgiref.sync import SyncToAsync

from locks import sessions

from .test_websocket import TIMEOUT, ask, connect, fresh_layer_and_hub, open_socket, record  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trips(monkeypatch) -> list[str]:
    """Every trip from the event loop to a worker thread (sync_to_async and
    database_sync_to_async alike), by the name of the function run there."""
    made: list[str] = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        made.append(getattr(self.func, "__name__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return made


@pytest.fixture
def session_reads(monkeypatch) -> list[str]:
    made: list[str] = []
    original = sessions._stored

    def counted(session_key):
        made.append(session_key)
        return original(session_key)

    monkeypatch.setattr(sessions, "_stored", counted)
    return made


async def test_reconnect_is_one_trip_per_step(alice, bob, customer, trips, session_reads):
    first = await open_socket(alice)  # the process's hub is running already
    socket = await connect(bob)  # logged in
    trips.clear()
    session_reads.clear()

    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "welcome"
    handshake = list(trips)
    reply = await ask(socket, {"type": "subscribe", "record": record(customer), "presence": True})
    assert reply["type"] == "subscribed"
    reply = await ask(socket, {"type": "sync", "record": record(customer), "version": 0})
    assert reply["type"] == "state"

    assert len(handshake) == 1, handshake  # user and session binding together
    assert len(trips) == 3, trips  # handshake, subscribe, sync: nothing else
    assert len(session_reads) == 1  # the session row is read once, at the handshake
    await socket.disconnect()
    await first.disconnect()


async def test_a_socket_still_closes_when_its_session_ends(bob, customer):
    """The binding made at the handshake is the one logout is matched against."""
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})
    await sync_to_async(lambda: Session.objects.all().delete())()
    output = await socket.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await socket.receive_output(timeout=5)
    assert output["code"] == 4401


async def test_a_message_queued_for_a_page_that_left_costs_no_query(bob, customer, monkeypatch):
    """After a restart, pages that gave up (their subscribe timed out) must not delay the
    others: their queued subscribe is skipped, not run."""
    import asyncio
    import threading

    from locks import authority, frames
    from locks.trips import database_sync_to_async

    inboxes: list = []
    original_init = frames.Inbox.__init__

    def remembered(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        inboxes.append(self)

    monkeypatch.setattr(frames.Inbox, "__init__", remembered)
    asked: list = []
    original_visible = authority.visible_objects

    def counted(*args, **kwargs):
        asked.append(args)
        return original_visible(*args, **kwargs)

    monkeypatch.setattr(authority, "visible_objects", counted)

    socket = await open_socket(bob)
    gate = threading.Event()
    busy = asyncio.ensure_future(database_sync_to_async(gate.wait)(TIMEOUT))  # the one thread
    await socket.send_json_to({"type": "subscribe", "record": record(customer)})
    await socket.send_input({"type": "websocket.disconnect", "code": 1001})

    async def page_left() -> None:
        while not inboxes[-1].gone:
            await asyncio.sleep(0)

    await asyncio.wait_for(page_left(), TIMEOUT)
    gate.set()
    await busy
    await socket.wait(TIMEOUT)
    assert asked == []  # the subscribe never reached the ModelAdmin


async def test_a_page_reconnects_with_one_subscribe_that_carries_the_state(
    alice, bob, customer, trips
):
    """The change form subscribes with `sync`: one trip, and the reply is the sync's answer
    (the lock as bob's page must show it, and the values when his copy is older)."""
    from asgiref.sync import sync_to_async

    from locks import services

    await sync_to_async(services.acquire)(customer, alice)
    socket = await open_socket(bob)
    trips.clear()
    message = {"record": record(customer), "presence": True, "sync": {"version": 0}}
    reply = await ask(socket, {"type": "subscribe", **message})

    assert reply["type"] == "subscribed"
    assert len(trips) == 1, trips
    state = reply["state"]
    assert state["type"] == "state"
    assert state["lock"]["held"] is True and state["lock"]["holder_id"] == alice.pk
    assert state["lock"]["holder"] == "Alice"
    assert state["can_edit"] is False
    assert state["version"] == customer.version and state["values"]["name"] == "Ada Lovelace"

    current = await ask(
        socket, {"type": "subscribe", **message, "sync": {"version": customer.version}}
    )
    assert "values" not in current["state"]  # the page is up to date: no values travel
    await socket.disconnect()


async def test_an_event_during_the_subscriptions_read_is_not_lost(
    alice, bob, customer, monkeypatch
):
    """A save that reaches the process while the subscription reads the state: the reply
    leaves the state out, so the page syncs and gets the saved values."""
    import time

    from asgiref.sync import sync_to_async

    from locks import services
    from locks.events import record_group
    from locks.hub import get_hub
    from locks.records import ref_for
    from records.models import Customer

    first = await open_socket(alice)
    hub = await get_hub()
    topic = record_group(await sync_to_async(ref_for)(customer))
    original = services.get_state

    def save_meanwhile(obj):
        monkeypatch.setattr(services, "get_state", original)
        state = original(obj)
        before = hub.events_delivered(topic)
        saved = Customer.objects.get(pk=customer.pk)
        saved.notes = "Saved while bob subscribed"
        saved.save()
        deadline = time.monotonic() + TIMEOUT
        while hub.events_delivered(topic) == before:  # the hub runs on the free event loop
            assert time.monotonic() < deadline, "the save never reached the hub"
            time.sleep(0.01)
        return state

    monkeypatch.setattr(services, "get_state", save_meanwhile)
    socket = await open_socket(bob)
    message = {"record": record(customer), "sync": {"version": customer.version}}
    reply = await ask(socket, {"type": "subscribe", **message})

    assert reply["type"] == "subscribed"
    assert "state" not in reply  # the state read may predate the save: the page syncs
    synced = await ask(socket, {"type": "sync", **message})
    assert synced["version"] == customer.version + 1
    assert synced["values"]["notes"] == "Saved while bob subscribed"
    await socket.disconnect()
    await first.disconnect()
