"""The fan-out limit: a bare ASGI app that sends one frame to every open websocket.

No Django, no Channels, no channel layer: a websocket at any path is accepted and kept in a
set; `POST /broadcast` sends its body, as one text frame, to every open socket one after
another, then answers `200` with the number of sockets. `GET /` answers `200` (a readiness
probe). benchmarks/save_fanout.py serves it on uvicorn (uvloop, httptools) and on daphne and
times it with the same client as a real admin save:

    python -m uvicorn --loop uvloop --http httptools benchmarks.bare_broadcast:application
    python -m daphne benchmarks.bare_broadcast:application
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

sockets: set[Send] = set()


async def websocket(receive: Receive, send: Send) -> None:
    """Accept, stay in the set until the client goes, ignore anything it sends."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    sockets.add(send)
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sockets.discard(send)


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    status, answer = 404, b"not found\n"
    if scope["method"] == "POST" and scope["path"] == "/broadcast":
        frame = {"type": "websocket.send", "text": body.decode()}
        sent = 0
        for each in list(sockets):
            try:
                await each(frame)
                sent += 1
            except Exception:  # a socket closing meanwhile; the others still get theirs
                sockets.discard(each)
        status, answer = 200, f"{sent}\n".encode()
    elif scope["method"] == "GET" and scope["path"] == "/":
        status, answer = 200, f"{len(sockets)}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await websocket(receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
