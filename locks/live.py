"""Whether pages get a live-update socket: the server decides and tells the page.

A page opens a websocket only when its `data-ws-url` is not empty (locks.js); otherwise it
does everything over HTTP. `LOCKS_WEBSOCKET_URL = "auto"` (the default) gives the URL only
when this server can answer it: the request came through ASGI, the process's ASGI
application mounts the locks route through `locks.asgi` (which marks it here), and a
channel layer is configured. A WSGI server (gunicorn, plain `runserver`) therefore never
sends pages to a socket that cannot exist. Any other value is used as given ("" is off).
"""

from __future__ import annotations

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


def routes_locks(application: object, _depth: int = 0) -> bool:
    """Whether an ASGI application (a channels router and middleware tree) routes the locks
    consumer somewhere inside, whether built with `locks.asgi` or by hand."""
    from .consumers import LockConsumer

    if _depth > 20 or application is None:
        return False
    consumer = getattr(application, "consumer_class", None)
    if isinstance(consumer, type) and issubclass(consumer, LockConsumer):
        return True
    inner = [getattr(application, name, None) for name in ("application", "inner", "callback")]
    inner += list((getattr(application, "application_mapping", None) or {}).values())
    inner += list(getattr(application, "routes", None) or [])
    return any(routes_locks(part, _depth + 1) for part in inner)


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
        return routes_locks(import_string(name))
    except Exception:  # a broken ASGI module fails loudly when a server loads it
        return False
