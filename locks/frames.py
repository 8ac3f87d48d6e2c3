"""What one websocket may send: frame size, JSON nesting, rate, and how many frames may wait.

ASGI servers hand a consumer its frames through an unbounded queue, and Channels reads the
next frame only after the previous one was handled. A client that sends faster than the
server answers (a flood of 15 KB frames) would grow that queue, and the server's memory,
without limit. `BoundedInbox` reads the server's queue as fast as frames arrive, keeps at most
`LOCKS_SOCKET_BACKLOG` of them waiting, and counts them against a token bucket
(`LOCKS_SOCKET_RATE` per second, bursts of `LOCKS_SOCKET_BURST`). Over either limit the socket
is told `rate_limited` and closed with 1008 (policy violation); frames still arriving until the
client has closed are read and dropped. See docs/protocol.md "Limits".
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .conf import lock_settings

logger = logging.getLogger("locks.frames")

MAX_FRAME = 16 * 1024  # bytes of one text frame, as UTF-8
MAX_DEPTH = 8  # nested objects and arrays in one frame; the protocol needs 3

POLICY_VIOLATION = 1008  # RFC 6455 close code

Message = dict[str, Any]


class BadFrame(Exception):
    """A frame the server will not read; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# A JSON string (escapes included), and the brackets that nest.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, stop_at: int) -> int:
    """How deeply `text` nests arrays and objects, counting up to `stop_at` at most.

    A linear scan, so deep input is refused before the JSON parser recurses into it (5,000
    nested arrays raise RecursionError in `json.loads`). Brackets inside strings do not count.
    """
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest >= stop_at:
                break
        else:
            depth -= 1
    return deepest


def parse(text: str | None, data: bytes | None = None) -> Message:
    """One client frame as a message: a JSON object with a string "type"."""
    if data is not None or text is None:
        raise BadFrame("binary", "Send JSON text frames, not binary ones.")
    if len(text) > MAX_FRAME or len(text.encode()) > MAX_FRAME:
        raise BadFrame("too_large", f"Frames may be at most {MAX_FRAME} bytes.")
    if nesting_depth(text, stop_at=MAX_DEPTH + 1) > MAX_DEPTH:
        raise BadFrame("bad_json", f"The frame nests more than {MAX_DEPTH} levels deep.")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # ValueError covers numbers of over 4,300 digits
        raise BadFrame("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadFrame("bad_message", 'A message is a JSON object with a "type".')
    return message


class TokenBucket:
    """`burst` frames at once, then `rate` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Inbox:
    """A socket's incoming ASGI messages, read off the server's queue as soon as they arrive.

    `get` is the `receive` the consumer sees. Frames over the rate or the backlog call
    `on_flood` once; from then on frames are dropped, and only the disconnect is passed on.
    """

    def __init__(
        self,
        receive: Callable[[], Awaitable[Message]],
        on_flood: Callable[[], Awaitable[None]],
        *,
        backlog: int,
        bucket: TokenBucket,
    ) -> None:
        self.receive, self.on_flood = receive, on_flood
        self.backlog, self.bucket = backlog, bucket
        self.waiting: asyncio.Queue[Message] = asyncio.Queue()
        self.flooded = False
        self.gone = False  # the client left: work still queued for it can be skipped
        self.pump: asyncio.Task | None = None

    async def get(self) -> Message:
        if self.pump is None:
            self.pump = asyncio.ensure_future(self._pump())
        return await self.waiting.get()

    def close(self) -> None:
        if self.pump is not None:
            self.pump.cancel()

    async def _pump(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "websocket.receive":
                if self.flooded:
                    continue
                if self.waiting.qsize() >= self.backlog or not self.bucket.take():
                    self.flooded = True
                    self._drop_waiting_frames()
                    try:
                        await self.on_flood()
                    except Exception:  # keep draining: an unread queue is what grows
                        logger.warning("Could not close a flooding websocket", exc_info=True)
                    continue
                message = _clipped(message)
            if message["type"] == "websocket.disconnect":
                self.gone = True
            self.waiting.put_nowait(message)
            if self.gone:
                return

    def _drop_waiting_frames(self) -> None:
        kept = []
        while not self.waiting.empty():
            message = self.waiting.get_nowait()
            if message["type"] != "websocket.receive":
                kept.append(message)
        for message in kept:
            self.waiting.put_nowait(message)


def _clipped(message: Message) -> Message:
    """An oversized frame waits as its first MAX_FRAME + 1 characters: still too large for
    `parse`, which answers `too_large`, but it no longer holds up to a megabyte."""
    for key in ("text", "bytes"):
        value = message.get(key)
        if value is not None and len(value) > MAX_FRAME:
            return {**message, key: value[: MAX_FRAME + 1]}
    return message


class BoundedInboxMixin:
    """For an AsyncWebsocketConsumer (list it first): frames pass through an `Inbox`, and
    nothing is sent after the socket's close frame (the server would refuse it)."""

    wire_closed = False  # the close frame went out: nothing more may be sent

    async def __call__(self, scope, receive, send) -> None:
        async def send_until_closed(message: Message) -> None:
            if self.wire_closed:
                return
            self.wire_closed = message["type"] == "websocket.close"
            await send(message)

        inbox = self.inbox = Inbox(
            receive,
            self.refuse_flood,
            backlog=lock_settings.SOCKET_BACKLOG,
            bucket=TokenBucket(lock_settings.SOCKET_RATE, lock_settings.SOCKET_BURST),
        )
        try:
            await super().__call__(scope, inbox.get, send_until_closed)
        finally:
            inbox.close()

    async def refuse_flood(self) -> None:
        """Tell the client why, then close: 1008, policy violation."""
        user = getattr(self, "user", None)
        logger.warning(
            "Closed a websocket of user %s sending too many frames (rate_limited)",
            getattr(user, "pk", None),
        )
        await self.send(
            text_data=json.dumps(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": "Too many frames; this socket is closed. Reconnect later.",
                }
            )
        )
        await self.close(code=POLICY_VIOLATION)
