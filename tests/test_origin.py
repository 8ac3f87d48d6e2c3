"""Websocket handshakes are accepted only from the site's own origin (scheme, host and port)
or from `CSRF_TRUSTED_ORIGINS`, through the real ASGI stack."""

from __future__ import annotations

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client

from locks.hub import reset_hubs
from project.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest_asyncio.fixture(autouse=True)
async def fresh_layer_and_hub():
    channel_layers.backends.clear()
    yield
    await reset_hubs()
    channel_layers.backends.clear()


async def handshake(user, host: str, origin: str | None, **extra: str) -> bool:
    """Whether a logged-in staff member's socket opens with these headers."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    headers = [
        (b"host", host.encode()),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.replace("_", "-").encode(), value.encode()) for name, value in extra.items()]
    socket = WebsocketCommunicator(application, "/ws/locks/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    if connected:
        assert (await socket.receive_json_from(timeout=5))["type"] == "welcome"
        await socket.disconnect()
    return connected


async def test_same_origin_is_accepted(alice):
    assert await handshake(alice, "localhost", "http://localhost")
    assert await handshake(alice, "localhost:8000", "http://localhost:8000")
    assert await handshake(alice, "127.0.0.1:8000", "http://127.0.0.1:8000")


async def test_another_port_on_an_allowed_host_is_refused(alice):
    assert not await handshake(alice, "localhost:8000", "http://localhost:8001")
    assert not await handshake(alice, "localhost:8000", "http://localhost")
    assert not await handshake(alice, "localhost", "http://localhost:8080")
    # Both hosts are allowed, but they are different origins.
    assert not await handshake(alice, "localhost:8000", "http://127.0.0.1:8000")


async def test_another_scheme_is_refused(alice):
    assert not await handshake(alice, "localhost", "https://localhost")
    assert not await handshake(alice, "localhost", "ftp://localhost")


async def test_missing_or_null_origin_is_refused(alice):
    assert not await handshake(alice, "localhost", None)
    assert not await handshake(alice, "localhost", "null")


async def test_a_host_outside_allowed_hosts_is_refused_even_as_its_own_origin(alice):
    """DNS rebinding: evil.example resolves to this server, and its page is 'same origin'."""
    assert not await handshake(alice, "evil.example", "http://evil.example")


async def test_trusted_origins_are_accepted_exactly(alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://locks.example.com", "https://*.example.org"]
    # A TLS-terminating proxy on another origin forwards to http://localhost:8000.
    assert await handshake(alice, "localhost:8000", "https://locks.example.com")
    assert await handshake(alice, "localhost:8000", "https://admin.example.org")
    assert await handshake(alice, "localhost:8000", "https://example.org")
    assert not await handshake(alice, "localhost:8000", "http://locks.example.com")
    assert not await handshake(alice, "localhost:8000", "https://locks.example.com:8443")
    assert not await handshake(alice, "localhost:8000", "https://other.example.com")
    assert not await handshake(alice, "localhost:8000", "https://example.org.evil.example")


async def test_the_proxy_ssl_header_makes_the_own_origin_https(alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["locks.example.com"]
    assert await handshake(
        alice, "locks.example.com", "https://locks.example.com", x_forwarded_proto="https"
    )
    assert not await handshake(
        alice, "locks.example.com", "http://locks.example.com", x_forwarded_proto="https"
    )
    assert await handshake(alice, "locks.example.com", "http://locks.example.com")
