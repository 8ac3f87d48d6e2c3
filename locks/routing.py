"""Websocket routes of the locks app, mounted by project/asgi.py."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/locks/", consumers.LockConsumer.as_asgi()),
]
