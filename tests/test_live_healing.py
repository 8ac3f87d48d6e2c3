"""Live state never silently goes wrong: every event kind survives the real Redis layer, a
Redis restart is healed without a server restart (tests/test_browser_healing.py), and a lost
event is noticed within one
heartbeat interval."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.test import override_settings

from locks import events, services
from records.models import Customer
from tests.conftest import require_redis
from tests.test_live_authority import nothing_more
from tests.test_websocket import (
    TIMEOUT,
    ask,
    fresh_layer_and_hub,  # noqa: F401  (autouse fixture)
    next_of,
    open_socket,
    record,
)


def redis_layer(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": None}]},
        }
    }


# ---------------------------------------------------------------- every kind through Redis


@pytest.mark.asyncio
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_every_event_kind_crosses_the_redis_layer(alice, bob, carol, customer):
    from urllib.parse import urlsplit, urlunsplit

    url = urlunsplit(urlsplit(require_redis())._replace(path="/14"))
    with override_settings(CHANNEL_LAYERS=redis_layer(url)):
        channel_layers.backends.clear()
        socket = await open_socket(carol)  # a manager: sees reasons on the record topic
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        seen: list[str] = []

        async def expect_event(kind: str) -> dict:
            event = await next_of(socket, kind)
            seen.append(kind)
            return event

        first = await sync_to_async(services.acquire)(customer, alice)
        await expect_event("lock.acquired")
        await sync_to_async(services.request_handover)(customer, bob, "please")
        await expect_event("lock.handover_requested")
        taken = await sync_to_async(services.take_over)(customer, carol, "urgent call")
        assert (await expect_event("lock.taken_over"))["reason"] == "urgent call"
        await sync_to_async(services.release)(customer, carol, taken.lease)
        await expect_event("lock.released")
        await sync_to_async(services.acquire)(customer, alice)

        def release_from_console():
            # The console passes a lazily translated reason: it must travel as plain text.
            from django.utils.translation import gettext_lazy

            services.force_release(customer, carol, reason=gettext_lazy("From the console"))

        await sync_to_async(release_from_console)()
        assert (await expect_event("lock.force_released"))["reason"] == "From the console"

        def save():
            fresh = Customer.objects.get(pk=customer.pk)
            fresh.notes = "through redis"
            fresh.save()

        await sync_to_async(save)()
        assert (await expect_event("record.saved"))["values"]["notes"] == "through redis"
        await sync_to_async(lambda: Customer.objects.filter(pk=customer.pk).delete())()
        await expect_event("record.deleted")
        assert first.ok
        assert set(seen) >= {
            "lock.acquired",
            "lock.handover_requested",
            "lock.taken_over",
            "lock.released",
            "lock.force_released",
            "record.saved",
            "record.deleted",
        }
        await socket.disconnect()


@pytest.mark.django_db
def test_event_payloads_are_plain_json(caplog, django_capture_on_commit_callbacks):
    """Lazy strings, dates and decimals become text when published (never a dropped event)."""
    from decimal import Decimal

    from django.utils.translation import gettext_lazy

    delivered = []
    with caplog.at_level("ERROR", logger="locks"):
        events.event_published.connect(lambda event, **kw: delivered.append(event), weak=False)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                events.publish(
                    {
                        "type": "lock.force_released",
                        "record": {"key": "1.x"},
                        "reason": gettext_lazy("Released from the lock console"),
                        "price": Decimal("1.50"),
                    }
                )
        finally:
            events.event_published.receivers.clear()
    assert delivered[0]["reason"] == "Released from the lock console"
    assert delivered[0]["price"] == "1.50"
    assert "not JSON serializable" not in caplog.text


# ---------------------------------------------------------------- a lost event is noticed


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_lost_event_is_noticed_within_one_heartbeat_interval(bob, customer, settings):
    settings.LOCKS_HEARTBEAT_INTERVAL = 1
    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})

    def save_without_announcing():
        # As if the channel layer dropped the event: the save happens, nobody hears of it.
        Customer.objects.filter(pk=customer.pk).update(notes="quietly", version=7)

    await sync_to_async(save_without_announcing)()
    started = time.monotonic()
    digest = await next_of(socket, "digest", timeout=TIMEOUT)
    while digest["version"] != 7:
        digest = await next_of(socket, "digest", timeout=TIMEOUT)
    assert time.monotonic() - started <= 2 * 1 + 0.5
    reply = await ask(socket, {"type": "sync", "record": record(customer), "version": 1})
    assert reply["version"] == 7 and reply["values"]["notes"] == "quietly"
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_page_told_the_state_on_subscribing_gets_no_needless_digest(bob, customer):
    """The digest compares from what the subscription told the page: nothing changed, no
    digest (1,000 pages otherwise each get one, once per record, for nothing)."""
    from locks.events import record_group
    from locks.hub import get_hub
    from locks.records import ref_for

    socket = await open_socket(bob)
    reply = await ask(
        socket,
        {"type": "subscribe", "record": record(customer), "sync": {"version": customer.version}},
    )
    assert reply["state"]["type"] == "state"
    hub = await get_hub()
    await hub.check_sequences()
    assert await nothing_more(socket, "digest")

    def save_without_announcing():
        Customer.objects.filter(pk=customer.pk).update(version=9)

    await sync_to_async(save_without_announcing)()
    await hub.check_sequences()  # a real difference is still told
    assert (await next_of(socket, "digest", timeout=TIMEOUT))["version"] == 9
    assert record_group(await sync_to_async(ref_for)(customer)) in hub.seen
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_save_reaches_this_processs_pages_once_and_without_the_layer(
    bob, customer, monkeypatch
):
    """A save made by this process reaches its own pages at once, exactly once (the copy the
    channel layer brings back is skipped), and even when the layer refuses it."""
    from channels.layers import get_channel_layer

    socket = await open_socket(bob)
    await ask(socket, {"type": "subscribe", "record": record(customer)})

    def save(notes: str) -> None:
        saved = Customer.objects.get(pk=customer.pk)
        saved.notes = notes
        saved.save()

    await sync_to_async(save)("first")
    assert (await next_of(socket, "record.saved"))["values"]["notes"] == "first"
    assert await nothing_more(socket, "record.saved", within=1.0)  # no second copy

    async def refused(*args, **kwargs):
        raise ConnectionError("the layer is away")

    monkeypatch.setattr(get_channel_layer(), "group_send", refused)
    await sync_to_async(save)("second")
    assert (await next_of(socket, "record.saved"))["values"]["notes"] == "second"
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_this_processs_own_events_reach_its_pages_in_order(alice, bob, customer, monkeypatch):
    """A save announced before a lock change is heard before it, even when the save has to
    ask the (row-sensitive) ModelAdmin again and the lock event does not."""
    from django.contrib import admin

    from locks import authority
    from locks.admin import LockedAdminMixin
    from locks.hub import get_hub
    from tests.test_live_authority import registered

    class RowSensitiveAdmin(LockedAdminMixin, admin.ModelAdmin):
        def get_queryset(self, request):
            return super().get_queryset(request).exclude(name="")

    with registered(Customer, RowSensitiveAdmin):
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        hub = await get_hub()
        handed_over: list[str] = []
        hand_over = hub.hand_over

        def recording(messages):
            handed_over.extend(message["event"]["type"] for message in messages)
            hand_over(messages)

        monkeypatch.setattr(hub, "hand_over", recording)
        original = authority.regrant_users

        def slow_regrant(*args):
            # Asked again only once the lock event has been handed over too: it must wait.
            deadline = time.monotonic() + TIMEOUT
            while "lock.acquired" not in handed_over and time.monotonic() < deadline:
                time.sleep(0.01)
            return original(*args)

        monkeypatch.setattr(authority, "regrant_users", slow_regrant)

        def save_then_lock() -> None:
            from django.db import transaction

            with transaction.atomic():  # both announced on commit, one right after the other
                saved = Customer.objects.get(pk=customer.pk)
                saved.notes = "saved first"
                saved.save()
                services.acquire(saved, alice)

        await sync_to_async(save_then_lock)()
        kinds = []
        while len(kinds) < 2:
            message = await socket.receive_json_from(timeout=TIMEOUT)
            if message["type"] in ("record.saved", "lock.acquired"):
                kinds.append(message["type"])
        assert kinds == ["record.saved", "lock.acquired"]
        await socket.disconnect()


# ---------------------------------------------------------------- stopping


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_stopped_hub_leaves_no_query_running(monkeypatch):
    """Stopping a hub waits for the query its thread is running: a cancelled trip's query
    would otherwise run on after it (in CI it met the test database's flush, which failed
    on SQLite's table lock)."""
    import asyncio
    import threading

    from locks.hub import get_hub, reset_hubs

    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    original = services.seconds_until_next_expiry

    def slow_query() -> float:
        started.set()
        release.wait(TIMEOUT)
        finished.set()
        return original()

    monkeypatch.setattr(services, "seconds_until_next_expiry", slow_query)
    await get_hub()  # its expiry sweep asks at once
    await asyncio.get_running_loop().run_in_executor(None, started.wait, TIMEOUT)
    stopping = asyncio.ensure_future(reset_hubs())
    done, _ = await asyncio.wait({stopping}, timeout=0.1)
    assert not done  # still waiting for the query
    release.set()
    await asyncio.wait_for(stopping, TIMEOUT)
    assert finished.is_set()
