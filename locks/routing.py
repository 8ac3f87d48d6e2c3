"""Websocket routes of the locks app, mounted through `locks.asgi` (docs/install.md)."""

from django.urls import path

from . import consumers
from .live import ROUTE

websocket_urlpatterns = [
    path(ROUTE.removeprefix("/"), consumers.LockConsumer.as_asgi()),
]
