"""Advisory mode over the websocket (issue 12): every editor's page says it is editing and
whether it has unsaved changes (a `presence` message), and every page on the record hears
it in its `presence` frames, merged per user and across server processes. The lock names
only its holder; this names everyone else who edits too."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType

from locks.events import record_group
from locks.hub import Hub, get_hub
from locks.records import RecordRef
from tests.test_websocket import TIMEOUT, ask, fresh_layer_and_hub, open_socket, record

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

__all__ = ["fresh_layer_and_hub"]  # the autouse fixture: a fresh layer and hub per test


@pytest_asyncio.fixture
async def notice(db):
    from tests.lockapp.models import Notice

    return await sync_to_async(Notice.objects.create)(title="Opening hours", body="9 to 5")


def where(obj) -> dict:
    ct = ContentType.objects.get_for_model(obj)
    return {"ct": ct.pk, "pk": str(obj.pk)}


async def on_record(user: User, place: dict):
    """A change form's socket: subscribed to the record with presence."""
    socket = await open_socket(user)
    reply = await ask(socket, {"type": "subscribe", "record": place, "presence": True})
    assert reply["type"] == "subscribed", reply
    return socket


_ids = iter(range(1, 1_000_000))


async def request(socket, message: dict) -> dict:
    """Send a request and return its reply, skipping the presence frames that may come first."""
    number = next(_ids)
    await socket.send_json_to({**message, "id": number})

    async def reply():
        while True:
            answer = await socket.receive_json_from(timeout=TIMEOUT)
            if answer.get("id") == number:
                return answer

    return await asyncio.wait_for(reply(), TIMEOUT)


async def say(socket, place: dict, editing, unsaved=False) -> dict:
    return await request(
        socket, {"type": "presence", "record": place, "editing": editing, "unsaved": unsaved}
    )


def flags(frame: dict) -> dict[str, tuple[bool, bool]]:
    return {v["name"]: (v["editing"], v["unsaved"]) for v in frame["viewers"]}


async def presence_where(socket, wanted: dict[str, tuple[bool, bool]], timeout: float = 3):
    """The first presence frame whose viewers are exactly `wanted` (name: (editing, unsaved))."""
    seen = []

    async def wait():
        while True:
            frame = await socket.receive_json_from(timeout=timeout)
            if frame["type"] == "presence":
                seen.append(flags(frame))
                if seen[-1] == wanted:
                    return frame

    try:
        return await asyncio.wait_for(wait(), timeout)
    except (TimeoutError, AssertionError):
        pytest.fail(f"no presence frame with {wanted}; saw {seen}")


async def test_everyone_on_the_record_sees_who_edits_and_who_has_unsaved_changes(
    alice, bob, carol, notice
):
    place = await sync_to_async(where)(notice)
    alices, bobs, carols = [await on_record(user, place) for user in (alice, bob, carol)]

    reply = await say(alices, place, True)
    assert reply["type"] == "presence.result"
    assert (reply["editing"], reply["unsaved"], reply["record"]["pk"]) == (True, False, place["pk"])
    assert (await say(bobs, place, True, True))["unsaved"] is True

    # Carol only looks: she sees both editors, Bob with unsaved changes; editors come first.
    frame = await presence_where(
        carols, {"Alice": (True, False), "Bob": (True, True), "Carol": (False, False)}
    )
    assert [v["name"] for v in frame["viewers"]] == ["Alice", "Bob", "Carol"]
    assert frame["count"] == 3

    # Alice opens a second tab and types there: she has unsaved changes (any tab), and is
    # still one viewer.
    second = await on_record(alice, place)
    await say(second, place, True, True)
    frame = await presence_where(
        carols, {"Alice": (True, True), "Bob": (True, True), "Carol": (False, False)}
    )
    assert frame["count"] == 3
    # That tab closes: her first tab is still editing, with nothing unsaved.
    await second.disconnect()
    await presence_where(
        carols, {"Alice": (True, False), "Bob": (True, True), "Carol": (False, False)}
    )

    # Bob saves (his new page has nothing unsaved), then stops editing, then leaves.
    await say(bobs, place, True, False)
    await presence_where(
        carols, {"Alice": (True, False), "Bob": (True, False), "Carol": (False, False)}
    )
    assert (await say(bobs, place, False, True))["unsaved"] is False  # not editing: nothing
    await presence_where(
        carols, {"Alice": (True, False), "Bob": (False, False), "Carol": (False, False)}
    )
    await bobs.disconnect()
    await presence_where(carols, {"Alice": (True, False), "Carol": (False, False)})
    # The editors hear it too.
    await presence_where(alices, {"Alice": (True, False), "Carol": (False, False)})
    await alices.disconnect()
    await carols.disconnect()


async def test_announcements_that_are_refused_say_why_and_change_nothing(
    alice, bob, customer, notice
):
    from tests.conftest import make_user

    place = await sync_to_async(where)(notice)
    socket = await open_socket(alice)

    # Not subscribed, or subscribed without presence: nothing to announce on.
    reply = await say(socket, place, True)
    assert reply["type"] == "error" and reply["code"] == "not_subscribed"
    assert "presence" in reply["message"]
    await ask(socket, {"type": "subscribe", "record": place})
    assert (await say(socket, place, True))["code"] == "not_subscribed"

    await ask(socket, {"type": "subscribe", "record": place, "presence": True})
    for bad in (
        {"editing": "yes"},
        {"editing": True, "unsaved": 1},
        {"unsaved": True},
        {"editing": True, "record": {"ct": str(place["ct"]), "pk": place["pk"]}},
        {"editing": True, "record": "everything"},
    ):
        reply = await request(socket, {"type": "presence", "record": place, **bad})
        assert reply["code"] == "bad_message", (bad, reply)
        assert "editing" in reply["message"] or "record" in reply["message"]

    # Under a pessimistic lock the holder is the only editor: nobody may claim otherwise.
    customers = await sync_to_async(record)(customer)
    await request(socket, {"type": "subscribe", "record": customers, "presence": True})
    reply = await say(socket, customers, True)
    assert reply["code"] == "not_advisory"
    assert "advisory" in reply["message"]

    # View permission only: may look, may not claim to edit.
    viewer = await sync_to_async(make_user)("vera", "lockapp.view_notice")
    looking = await on_record(viewer, place)
    reply = await say(looking, place, True)
    assert (reply["code"], reply["message"]) == ("forbidden", "You may not edit this record.")
    assert (await say(looking, place, False))["type"] == "presence.result"  # stopping: always

    # Bob looks on: nobody above was named as editing.
    bobs = await on_record(bob, place)
    await presence_where(
        bobs, {"Alice": (False, False), "Bob": (False, False), "Vera": (False, False)}
    )
    for each in (socket, looking, bobs):
        await each.disconnect()


class Page:
    """A page on another server process (only presence asks anything of it)."""

    def __init__(self, user: User) -> None:
        self.user = user

    async def deliver(self, text: str) -> None:
        """Its own presence frames: this test reads those of Carol's socket."""

    def grant_for(self, topic: str):
        return None


async def test_editors_on_other_server_processes_are_merged_in(alice, bob, carol, notice):
    """Another process (a second hub on the same channel layer) sends its part; a process of
    an older version sends one without `editors`: both merge into one frame per user."""
    place = await sync_to_async(where)(notice)
    topic = record_group(RecordRef(place["ct"], place["pk"]))
    carols = await on_record(carol, place)
    await say(await on_record(alice, place), place, True)

    other = Hub(get_channel_layer())
    await other.start()
    try:
        bobs_page, alices_page = Page(bob), Page(alice)
        for page, user, name in ((bobs_page, bob, "Bob"), (alices_page, alice, "Alice")):
            await other.subscribe(page, topic)
            other.join_presence(page, topic, user.pk, name)
        other.set_editing(bobs_page, topic, True, True)
        other.set_editing(alices_page, topic, True, True)  # Alice's tab there has unsaved input
        await presence_where(
            carols, {"Alice": (True, True), "Bob": (True, True), "Carol": (False, False)}
        )

        await (await get_hub()).layer.group_send(
            topic,
            {"type": "locks.presence", "topic": topic, "process": "old", "viewers": [[99, "Olga"]]},
        )
        await presence_where(
            carols,
            {
                "Alice": (True, True),
                "Bob": (True, True),
                "Carol": (False, False),
                "Olga": (False, False),
            },
        )

        await other.unsubscribe(bobs_page, topic)
        await other.unsubscribe(alices_page, topic)
        await presence_where(
            carols, {"Alice": (True, False), "Carol": (False, False), "Olga": (False, False)}
        )
    finally:
        await other.stop()
