"""Whether pages get a live-update socket: the server decides and tells the page.

A page opens a websocket only when its `data-ws-url` is not empty (locks.js); otherwise it
does everything over HTTP. `LOCKS_WEBSOCKET_URL = "auto"` (the default) gives the URL only
when this server can answer it: the request came through ASGI, the process's ASGI
application mounts the locks route through `locks.asgi` (which marks it here), and a
channel layer is configured. A WSGI server (gunicorn, plain `runserver`) therefore never
sends pages to a socket that cannot exist. Any other value is used as given ("" is off).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest

from .conf import lock_settings

AUTO = "auto"
ROUTE = "/ws/locks/"

_routed = False


def mark_routed() -> None:
    """Called by `locks.asgi` when it builds the websocket stack in this process."""
    global _routed
    _routed = True


def is_routed() -> bool:
    """True once this process has built the locks websocket route (`locks.asgi`)."""
    return _routed


def channel_layer_configured() -> bool:
    """A default channel layer is set (the hub needs one to deliver events to sockets)."""
    from channels import DEFAULT_CHANNEL_LAYER

    return DEFAULT_CHANNEL_LAYER in (getattr(settings, "CHANNEL_LAYERS", None) or {})


def websocket_url(request: HttpRequest) -> str:
    """The URL this page should open its socket at, or "" for HTTP polling only."""
    configured = lock_settings.WEBSOCKET_URL
    if configured != AUTO:
        return configured
    served = isinstance(request, ASGIRequest) and is_routed() and channel_layer_configured()
    return ROUTE if served else ""


def locks_routes(application: Any) -> list[str]:
    """The paths at which an ASGI application (a channels ProtocolTypeRouter, its middleware
    and URLRouters, nested ones included) routes websockets to the locks consumer."""
    from .consumers import LockConsumer

    mapping = getattr(application, "application_mapping", None)
    if mapping is None:
        return []
    return [
        path
        for path, endpoint in _routes_of(mapping.get("websocket"), "")
        if isinstance(getattr(endpoint, "consumer_class", None), type)
        and issubclass(endpoint.consumer_class, LockConsumer)
    ]


def _routes_of(app: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for _ in range(20):  # unwrap middleware (`.inner`, `.application`)
        if app is None or hasattr(app, "routes"):
            break
        app = getattr(app, "inner", None) or getattr(app, "application", None)
    for route in getattr(app, "routes", None) or []:
        pattern = str(route.pattern).lstrip("^").rstrip("$")
        callback = route.callback
        if hasattr(callback, "routes") or hasattr(callback, "inner"):
            yield from _routes_of(callback, prefix + pattern)
        else:
            yield prefix + pattern, callback


def asgi_application_routes_locks() -> bool:
    """Whether the ASGI application the settings name (ASGI_APPLICATION) routes the locks
    consumer. Imports it, as an ASGI server would; False when unset or not importable."""
    if is_routed():
        return True
    name = getattr(settings, "ASGI_APPLICATION", None)
    if not name:
        return False
    from django.utils.module_loading import import_string

    try:
        return bool(locks_routes(import_string(name)))
    except Exception:  # a broken ASGI module fails loudly when a server loads it
        return False
