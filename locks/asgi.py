"""The ASGI helper a project adds to its asgi.py for live updates (docs/install.md).

    from locks.asgi import with_websockets
    application = with_websockets(get_asgi_application())

Call it after `get_asgi_application()` (which sets Django up): the consumer imports models.
"""

from __future__ import annotations

from typing import Any

from . import live


def websocket_application() -> Any:
    """The locks websocket route behind the session login and an origin check, for a project
    that builds its own `ProtocolTypeRouter` (put it under the "websocket" key)."""
    from channels.routing import URLRouter

    from .handshake import SessionUserMiddlewareStack
    from .origin import OriginValidator
    from .routing import websocket_urlpatterns

    live.mark_routed()
    return OriginValidator(
        KeepServerSend(SessionUserMiddlewareStack(URLRouter(websocket_urlpatterns)))
    )


SERVER_SEND = "locks.server_send"


class KeepServerSend:
    """Puts the server's own `send` in the scope, under SERVER_SEND, for the hub's fan-out:
    an event is written to each of thousands of sockets, and the session middleware's wrapper
    around `send` only acts on HTTP responses."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope[SERVER_SEND] = send
        return await self.application(scope, receive, send)


def with_websockets(http_application: Any) -> Any:
    """HTTP through the given Django application, websockets through the locks route."""
    from channels.routing import ProtocolTypeRouter

    return ProtocolTypeRouter({"http": http_application, "websocket": websocket_application()})
