"""A flood against a real server: one socket sending 5,000 frames of 15 KB as fast as it can
is told `rate_limited` and closed with 1008, the server's memory stays put, and another
user's socket keeps working throughout.

Daphne runs in a subprocess and its memory is read from /proc, because the queue a flood
fills is the server's, not the test communicator's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path

import pytest

from tests.live import LiveSite
from tests.test_multiprocess import in_thread, session_cookie

TIMEOUT = 10


FLOOD_FRAMES = 5000
FLOOD_FRAME_BYTES = 15 * 1024


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def flood_site(tmp_path_factory):
    site = LiveSite(tmp_path_factory.mktemp("flood"))
    site.prepare()
    site.url = site.start_server()
    yield site
    site.stop()


def test_a_flood_is_cut_off_without_growing_the_server_and_others_keep_working(flood_site):
    import websockets

    base = flood_site.url
    pid = flood_site.processes[0].pid
    ws_url = base.replace("http://", "ws://") + "/ws/locks/"

    def headers(user: str) -> dict:
        return {"Origin": base, "Cookie": f"sessionid={session_cookie(base, user)}"}

    alice, bob = headers("alice"), headers("bob")
    empty = json.dumps({"type": "ping", "pad": ""})
    frame = json.dumps({"type": "ping", "pad": "x" * (FLOOD_FRAME_BYTES - len(empty))})
    assert len(frame) == FLOOD_FRAME_BYTES

    async def scenario() -> dict:
        async with websockets.connect(ws_url, additional_headers=alice) as other:
            assert json.loads(await other.recv())["type"] == "welcome"

            async def ping(n: int) -> dict:
                await other.send(json.dumps({"type": "ping", "id": n}))
                return json.loads(await asyncio.wait_for(other.recv(), TIMEOUT))

            assert await ping(0) == {"type": "pong", "id": 0}  # warm: both users served
            before = rss_kb(pid)
            async with websockets.connect(ws_url, additional_headers=bob) as flood:
                assert json.loads(await flood.recv())["type"] == "welcome"
                received: list[dict] = []

                async def read() -> None:
                    with contextlib.suppress(websockets.ConnectionClosed):
                        async for text in flood:
                            received.append(json.loads(text))

                reader = asyncio.ensure_future(read())
                sent, during = 0, None
                try:
                    for _ in range(FLOOD_FRAMES):
                        await flood.send(frame)
                        sent += 1
                        if sent == 20:  # the other user asks while the flood is on
                            during = asyncio.ensure_future(ping(1))
                except websockets.ConnectionClosed:
                    pass
                await asyncio.wait_for(flood.wait_closed(), TIMEOUT)
                await asyncio.wait_for(reader, TIMEOUT)
                code = flood.close_code
            pongs = [await during] + [await ping(n) for n in range(2, 6)]
            after = rss_kb(pid)
        return {
            "sent": sent,
            "received": received,
            "code": code,
            "pongs": pongs,
            "growth_kb": after - before,
        }

    result = in_thread(scenario())
    print(
        f"flood: {result['sent']} of {FLOOD_FRAMES} frames sent before the close, "
        f"{len(result['received'])} replies, server RSS grew {result['growth_kb']} kB"
    )
    assert result["code"] == 1008
    errors = [m for m in result["received"] if m["type"] == "error"]
    assert [m["code"] for m in errors] == ["rate_limited"]
    assert result["received"][-1]["code"] == "rate_limited"  # the last word before the close
    assert result["sent"] < FLOOD_FRAMES
    assert result["pongs"] == [{"type": "pong", "id": n} for n in range(1, 6)]
    assert result["growth_kb"] < 20 * 1024
    log = "".join(p.read_text() for p in flood_site.workdir.glob("daphne-*.log"))
    assert "Traceback" not in log, log[-3000:]
    assert log.count("locks.frames: Closed a websocket of user") == 1
