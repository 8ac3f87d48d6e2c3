"""Abuse limits of the websocket: deep or huge JSON, the frame rate, and the backlog of
frames waiting to be handled. The flood against a real server: tests/test_socket_flood.py."""

from __future__ import annotations

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator

from tests.test_websocket import TIMEOUT, ask, fresh_layer_and_hub, open_socket  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def close_code(socket: WebsocketCommunicator) -> tuple[list[dict], int]:
    """Everything the server sends until it closes the socket, and the close code."""
    replies = []
    while True:
        output = await socket.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return replies, output.get("code", 1000)
        replies.append(json.loads(output["text"]))


async def test_deep_or_huge_json_is_bad_json_without_a_traceback(alice, caplog):
    caplog.set_level(logging.DEBUG)
    socket = await open_socket(alice)
    frames = [
        "[" * 5000 + "]" * 5000,
        '{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"type": "ping", "x": ' + '{"a": ' * 2000 + "1" + "}" * 2000 + "}",
        '{"type": "ping", "n": ' + "9" * 5000 + "}",
    ]
    for frame in frames:
        await socket.send_to(text_data=frame)
        reply = await socket.receive_json_from(timeout=TIMEOUT)
        assert reply["type"] == "error" and reply["code"] == "bad_json", reply
    # Brackets inside strings are text, not nesting.
    reply = await ask(socket, {"type": "ping", "x": "[" * 5000, "id": 1})
    assert reply == {"type": "pong", "id": 1}
    assert (await ask(socket, {"type": "ping"}))["type"] == "pong"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    await socket.disconnect()


async def test_a_socket_over_the_frame_rate_is_told_and_closed(alice, settings, caplog):
    settings.LOCKS_SOCKET_BURST = 5
    settings.LOCKS_SOCKET_RATE = 0.001  # no refill within the test
    socket = await open_socket(alice)
    for n in range(5):  # one at a time: the backlog stays empty, only the rate counts
        assert (await ask(socket, {"type": "ping", "id": n})) == {"type": "pong", "id": n}
    await socket.send_json_to({"type": "ping", "id": 5})
    replies, code = await close_code(socket)
    assert replies == [
        {
            "type": "error",
            "code": "rate_limited",
            "message": "Too many frames; this socket is closed. Reconnect later.",
        }
    ]
    assert code == 1008
    assert [r.getMessage() for r in caplog.records if r.name == "locks.frames"] == [
        f"Closed a websocket of user {alice.pk} sending too many frames (rate_limited)"
    ]


async def test_frames_sent_faster_than_answered_fill_the_backlog_and_close(alice, settings):
    settings.LOCKS_SOCKET_BURST = 1000
    socket = await open_socket(alice)
    pad = "x" * (15 * 1024)
    for n in range(200):
        await socket.send_to(text_data=json.dumps({"type": "ping", "id": n, "pad": pad}))
    replies, code = await close_code(socket)
    assert code == 1008
    assert replies[-1]["code"] == "rate_limited"
    # What was answered before the close: at most the backlog, in order.
    pongs = [r["id"] for r in replies if r["type"] == "pong"]
    assert pongs == list(range(len(pongs))) and len(pongs) <= 33


async def test_normal_page_traffic_stays_under_the_limits(alice, customer):
    """A change form reconnecting: subscribe, sync, then heartbeats; a page retrying fast."""
    from tests.test_websocket import record

    socket = await open_socket(alice)
    for _ in range(10):
        assert (await ask(socket, {"type": "subscribe", "record": record(customer)}))[
            "type"
        ] == "subscribed"
        assert (await ask(socket, {"type": "sync", "record": record(customer)}))["type"] == "state"
    for _ in range(15):
        assert (await ask(socket, {"type": "ping"}))["type"] == "pong"
    await socket.disconnect()
