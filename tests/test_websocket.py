"""The websocket endpoint, driven with Channels' WebsocketCommunicator through the real stack
(origin check, session authentication, routing)."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from locks import services
from locks.hub import reset_hubs
from locks.records import ref_for
from project.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TIMEOUT = 5


@pytest_asyncio.fixture(autouse=True)
async def fresh_layer_and_hub():
    channel_layers.backends.clear()  # the in-memory layer's queues belong to one event loop
    yield
    await reset_hubs()
    channel_layers.backends.clear()


async def connect(user: User | None, origin: bytes = b"http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, "/ws/locks/", headers=headers)


async def open_socket(user: User) -> WebsocketCommunicator:
    socket = await connect(user)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    welcome = await socket.receive_json_from(timeout=TIMEOUT)
    assert welcome["type"] == "welcome"
    return socket


async def ask(socket: WebsocketCommunicator, message: dict) -> dict:
    await socket.send_json_to(message)
    return await socket.receive_json_from(timeout=TIMEOUT)


async def next_of(socket: WebsocketCommunicator, kind: str, timeout: float = TIMEOUT) -> dict:
    """The next message of one type, skipping others (presence, for example)."""

    async def wait():
        while True:
            message = await socket.receive_json_from(timeout=timeout)
            if message["type"] == kind:
                return message

    return await asyncio.wait_for(wait(), timeout)


def record(customer) -> dict:
    ct = ContentType.objects.get_for_model(customer)
    return {"ct": ct.pk, "pk": str(customer.pk)}


async def test_anonymous_is_refused(customer):
    socket = await connect(None)
    connected, code = await socket.connect(timeout=TIMEOUT)
    assert not connected
    assert code == 4401  # not logged in: log in again


async def test_cross_origin_is_refused(alice):
    socket = await connect(alice, origin=b"https://evil.example")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert not connected


async def test_malformed_frames_get_errors_and_the_socket_keeps_working(alice, customer):
    socket = await open_socket(alice)
    await socket.send_to(text_data="{not json")
    assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "bad_json"
    await socket.send_to(text_data=json.dumps({"type": "subscribe", "x": "y" * 20000}))
    assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "too_large"
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "binary"
    assert (await ask(socket, ["list"]))["code"] == "bad_message"
    assert (await ask(socket, {"type": "__init__"}))["code"] == "unknown_type"
    assert (await ask(socket, {"type": "subscribe", "record": {"ct": 999999, "pk": "1"}}))[
        "code"
    ] == "not_found"
    reply = await ask(socket, {"type": "subscribe", "record": {**record(customer), "pk": "nope"}})
    assert reply["code"] == "not_found"
    reply = await ask(
        socket, {"type": "heartbeat", "id": 7, "record": record(customer), "lease": 5}
    )
    assert (reply["code"], reply["id"]) == ("bad_message", 7)
    assert (await ask(socket, {"type": "ping"}))["type"] == "pong"
    await socket.disconnect()


async def test_permissions_are_checked_per_subscription(customer):
    from tests.conftest import make_user

    viewer = await sync_to_async(make_user)("viewer")  # staff, but no permission on customers
    socket = await open_socket(viewer)
    reply = await ask(socket, {"type": "subscribe", "record": record(customer)})
    assert reply["code"] == "forbidden"
    assert (await ask(socket, {"type": "subscribe", "console": True}))["code"] == "forbidden"
    await socket.disconnect()


async def test_heartbeat_over_websocket_keeps_the_lease(alice, bob, customer):
    outcome = await sync_to_async(services.acquire)(customer, alice)
    socket = await open_socket(alice)
    reply = await ask(
        socket,
        {"type": "heartbeat", "record": record(customer), "lease": outcome.lease, "active": True},
    )
    assert reply["type"] == "heartbeat.result" and reply["ok"] is True and reply["can_edit"] is True
    forged = await ask(socket, {"type": "heartbeat", "record": record(customer), "lease": "forged"})
    assert forged["ok"] is False
    bob_socket = await open_socket(bob)
    stolen = await ask(
        bob_socket, {"type": "heartbeat", "record": record(customer), "lease": outcome.lease}
    )
    assert stolen["ok"] is False
    await socket.disconnect()
    await bob_socket.disconnect()


async def test_viewers_receive_lock_and_record_events(alice, bob, customer):
    socket = await open_socket(bob)
    assert (await ask(socket, {"type": "subscribe", "record": record(customer), "presence": True}))[
        "type"
    ] == "subscribed"
    outcome = await sync_to_async(services.acquire)(customer, alice)
    event = await next_of(socket, "lock.acquired")
    assert event["lock"]["holder"] == "Alice" and event["lock"]["held"] is True
    assert "lease" not in json.dumps(event["lock"])  # nobody else learns the token

    def save():
        customer.phone = "+49 30 7654321"
        customer.save()

    await sync_to_async(save)()
    saved = await next_of(socket, "record.saved")
    assert saved["version"] == 2
    assert saved["changed"] == ["phone", "updated_at"] or "phone" in saved["changed"]
    assert saved["values"]["phone"] == "+49 30 7654321"
    await sync_to_async(services.release)(customer, alice, outcome.lease)
    released = await next_of(socket, "lock.released")
    assert released["lock"]["held"] is False
    await socket.disconnect()


async def test_sync_after_reconnect_returns_state_and_newer_values(alice, customer):
    socket = await open_socket(alice)
    reply = await ask(socket, {"type": "sync", "record": record(customer), "version": 1})
    assert reply["type"] == "state" and reply["version"] == 1 and "values" not in reply
    await sync_to_async(customer.save)()
    reply = await ask(socket, {"type": "sync", "record": record(customer), "version": 1})
    assert reply["version"] == 2 and reply["values"]["name"] == "Ada Lovelace"
    await socket.disconnect()


async def test_expired_lock_is_announced_without_anyone_acting(alice, bob, customer, settings):
    settings.LOCKS_TIMEOUT = 1
    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})
    await sync_to_async(services.acquire)(customer, alice)
    await next_of(socket, "lock.acquired")
    expired = await next_of(socket, "lock.expired", timeout=4)
    assert expired["lock"]["held"] is False
    assert expired["holder_id"] == alice.pk
    await socket.disconnect()


async def test_presence_is_coalesced(alice, bob, carol, customer):
    first = await open_socket(alice)
    await ask(first, {"type": "subscribe", "record": record(customer), "presence": True})
    others = []
    for user in [bob, carol] * 10:
        socket = await open_socket(user)
        await ask(socket, {"type": "subscribe", "record": record(customer), "presence": True})
        others.append(socket)
    updates = []
    while True:
        message = await next_of(first, "presence", timeout=3)
        updates.append(message)
        if message["count"] == 3:
            break
    assert len(updates) <= 3  # 21 joins, at most one update per second
    assert sorted(v["name"] for v in updates[-1]["viewers"]) == ["Alice", "Bob", "Carol"]
    for socket in others:
        await socket.disconnect()
    message = await next_of(first, "presence", timeout=3)
    assert message["count"] == 1
    await first.disconnect()


async def test_console_subscription_for_managers(alice, carol, customer):
    socket = await open_socket(carol)
    assert (await ask(socket, {"type": "subscribe", "console": True}))["type"] == "subscribed"
    await sync_to_async(services.acquire)(customer, alice)
    event = await next_of(socket, "lock.acquired")
    assert event["record"]["pk"] == str(customer.pk)
    await socket.disconnect()


async def test_disconnects_leave_no_subscriptions(alice, customer):
    from locks.hub import get_hub

    sockets = [await open_socket(alice) for _ in range(20)]
    for socket in sockets:
        await ask(socket, {"type": "subscribe", "record": record(customer), "presence": True})
    hub = await get_hub()
    assert hub.subscriber_count() == 20
    await asyncio.gather(*(s.disconnect() for s in sockets))
    assert hub.subscriber_count() == 0
    assert not hub.topics
    assert ref_for(customer)  # the record itself is untouched


async def test_unsubscribe_works_after_the_record_is_deleted(alice, customer):
    socket = await open_socket(alice)
    where = record(customer)
    await ask(socket, {"type": "subscribe", "record": where})
    await sync_to_async(customer.delete)()
    deleted = await next_of(socket, "record.deleted")
    assert deleted["record"]["pk"] == where["pk"]
    assert (await ask(socket, {"type": "unsubscribe", "record": where}))["type"] == "unsubscribed"
    await socket.disconnect()


async def test_frame_limit_counts_bytes(alice):
    socket = await open_socket(alice)
    await socket.send_to(
        text_data=json.dumps({"type": "ping", "pad": "é" * 9000}, ensure_ascii=False)
    )
    assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "too_large"
    await socket.disconnect()


async def wait_closed(socket: WebsocketCommunicator) -> dict:
    async def closed():
        while True:
            output = await socket.receive_output(timeout=TIMEOUT)
            if output["type"] == "websocket.close":
                return output

    return await asyncio.wait_for(closed(), TIMEOUT)


async def test_revoked_permission_closes_subscribed_socket(bob, customer):
    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})

    def revoke():
        bob.user_permissions.clear()

    await sync_to_async(revoke)()
    assert (await wait_closed(socket))["code"] == 4403


async def test_deactivated_account_closes_its_sockets(bob, customer):
    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})

    def deactivate():
        bob.is_active = False
        bob.save()

    await sync_to_async(deactivate)()
    assert (await wait_closed(socket))["code"] == 4401


async def test_unrelated_user_change_keeps_socket_open(bob, customer):
    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})

    def rename():
        bob.first_name = "Robert"
        bob.save()

    await sync_to_async(rename)()
    assert (await ask(socket, {"type": "ping"}))["type"] == "pong"
    await socket.disconnect()


async def test_rows_subscription_checks_all_rows_in_one_go(alice, customer):
    from records.models import Customer

    others = await sync_to_async(
        lambda: [
            Customer.objects.create(name=f"C{i}", email=f"c{i}@example.com").pk for i in range(3)
        ]
    )()
    socket = await open_socket(alice)
    ct = record(customer)["ct"]
    reply = await ask(
        socket, {"type": "subscribe", "rows": {"ct": ct, "pks": [str(p) for p in others]}}
    )
    assert reply == {"type": "subscribed", "topics": 3}
    bad = await ask(
        socket, {"type": "subscribe", "rows": {"ct": ct, "pks": [str(others[0]), "999999"]}}
    )
    assert bad["code"] == "not_found"
    assert (await ask(socket, {"type": "subscribe", "record": {"ct": True, "pk": "1"}}))[
        "code"
    ] == "bad_message"
    await socket.disconnect()


async def test_a_new_socket_after_a_revocation_gets_no_borrowed_rights(bob, customer):
    """A user's sockets share their permissions for a moment (a restart reconnects all their
    tabs at once); a revocation ends that at once for the sockets that come after."""
    socket = await open_socket(bob)
    assert (await ask(socket, {"type": "subscribe", "record": record(customer)}))[
        "type"
    ] == "subscribed"

    await sync_to_async(bob.user_permissions.clear)()
    assert (await wait_closed(socket))["code"] == 4403

    again = await open_socket(bob)
    reply = await ask(again, {"type": "subscribe", "record": record(customer), "sync": {}})
    assert reply["code"] == "forbidden"
    await again.disconnect()


async def test_a_new_socket_after_deactivation_gets_no_borrowed_user(bob, customer):
    """New sockets of a user share the user row for a moment; a change to the user ends
    that at once."""
    socket = await open_socket(bob)  # its handshake lends bob's row to his next sockets

    def deactivate():
        bob.is_active = False
        bob.save()

    await sync_to_async(deactivate)()
    assert (await wait_closed(socket))["code"] == 4401
    again = await connect(bob)
    connected, _ = await again.connect(timeout=TIMEOUT)
    assert not connected


async def test_a_user_row_lent_before_a_change_is_stale():
    from locks import sharing

    user = User(pk=424242, username="lent")
    sharing.keep_user("backend", user, healthy=True)
    lent = sharing.borrow_user("backend", 424242, healthy=True)
    assert lent is not None and lent is not user and not sharing.stale(lent)
    assert sharing.borrow_user("backend", 424242, healthy=False) is None  # layer away
    sharing.forget(424242)
    assert sharing.stale(lent)
    assert sharing.borrow_user("backend", 424242, healthy=True) is None
