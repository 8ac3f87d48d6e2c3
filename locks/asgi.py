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
    return OriginValidator(SessionUserMiddlewareStack(URLRouter(websocket_urlpatterns)))


def with_websockets(http_application: Any) -> Any:
    """HTTP through the given Django application, websockets through the locks route."""
    from channels.routing import ProtocolTypeRouter

    return ProtocolTypeRouter({"http": http_application, "websocket": websocket_application()})
