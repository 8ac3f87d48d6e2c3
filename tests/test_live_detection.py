"""The server tells each page whether a live-update socket exists (locks/live.py): a WSGI
server, or an ASGI one without the locks route or a channel layer, sends pages to HTTP
polling only; an explicit LOCKS_WEBSOCKET_URL is used as given."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from django.urls import reverse

from locks import live
from locks.asgi import with_websockets

pytestmark = pytest.mark.django_db


def ws_urls(page: str) -> list[str]:
    return re.findall(r'data-ws-url="([^"]*)"', page)


def page_urls(customer) -> dict[str, str]:
    """The change form, a locked model's change list and the console."""
    return {
        "change form": reverse("admin:records_customer_change", args=[customer.pk]),
        "change list": reverse("admin:records_customer_changelist"),
        "console": reverse("admin:locks_editlock_changelist"),
    }


@pytest.fixture
def routed(monkeypatch):
    """This process has built the locks websocket route, as `locks.asgi` does."""
    monkeypatch.setattr(live, "_routed", True)


@pytest.fixture
def not_routed(monkeypatch):
    monkeypatch.setattr(live, "_routed", False)


def asgi_pages(user, customer) -> dict[str, str]:
    """The pages as an ASGI server hands them out (the request is an ASGIRequest)."""
    client = AsyncClient()
    client.force_login(user)

    async def fetch(url: str) -> str:
        return (await client.get(url)).content.decode()

    return {name: async_to_sync(fetch)(url) for name, url in page_urls(customer).items()}


def wsgi_pages(user, customer) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {name: client.get(url).content.decode() for name, url in page_urls(customer).items()}


def assert_ws_url(fetched: dict[str, str], expected: str) -> None:
    for name, page in fetched.items():
        assert ws_urls(page) == [expected], name


def test_wsgi_pages_never_open_a_socket_even_when_the_route_exists(routed, customer):
    from tests.conftest import make_user

    admin = make_user("root", superuser=True)
    assert_ws_url(wsgi_pages(admin, customer), "")


def test_asgi_pages_with_the_route_and_a_layer_open_the_socket(routed, customer):
    from tests.conftest import make_user

    admin = make_user("root", superuser=True)
    assert_ws_url(asgi_pages(admin, customer), "/ws/locks/")


def test_asgi_pages_without_the_route_poll(not_routed, customer):
    from tests.conftest import make_user

    admin = make_user("root", superuser=True)
    assert_ws_url(asgi_pages(admin, customer), "")


def test_asgi_pages_without_a_channel_layer_poll(routed, settings, customer):
    from tests.conftest import make_user

    del settings.CHANNEL_LAYERS
    admin = make_user("root", superuser=True)
    assert_ws_url(asgi_pages(admin, customer), "")


@pytest.mark.parametrize("configured", ["", "/elsewhere/ws/"])
def test_an_explicit_setting_is_used_as_given(not_routed, settings, customer, configured):
    """A websocket served by other processes behind the same origin: the operator says so."""
    from tests.conftest import make_user

    settings.LOCKS_WEBSOCKET_URL = configured
    admin = make_user("root", superuser=True)
    assert_ws_url(wsgi_pages(admin, customer), configured)


def test_building_the_asgi_stack_marks_the_route(not_routed):
    assert not live.is_routed()
    with_websockets(lambda scope, receive, send: None)
    assert live.is_routed()


@pytest.mark.django_db(transaction=True)
def test_the_consumer_refuses_cleanly_without_a_channel_layer(not_routed, settings):
    """No layer configured: the handshake is refused, not a server error in the hub."""
    from tests.conftest import make_user

    del settings.CHANNEL_LAYERS
    channel_layers.backends.clear()
    user = make_user("root", superuser=True)
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    application = with_websockets(lambda scope, receive, send: None)

    async def handshake():
        socket = WebsocketCommunicator(
            application,
            "/ws/locks/",
            headers=[
                (b"origin", b"http://localhost"),
                (b"host", b"localhost"),
                (b"cookie", cookie),
            ],
        )
        result = await socket.connect(timeout=5)
        await socket.disconnect()
        return result

    assert async_to_sync(handshake)() == (False, 4503)
    channel_layers.backends.clear()
