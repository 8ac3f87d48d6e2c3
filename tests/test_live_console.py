"""The lock console is live in every state (issue 10): its page always carries the hook and
the containers a live page refreshes, the empty console included, and a release made from
the console reaches the holder's page and every console."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from locks import services
from locks.models import EditLock
from tests.test_websocket import (
    ask,
    fresh_layer_and_hub,  # noqa: F401  (autouse fixture)
    next_of,
    open_socket,
    record,
)

CONSOLE = reverse("admin:locks_editlock_changelist")


def console_page(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get(CONSOLE).content.decode()


def live_parts(page: str) -> dict[str, str]:
    """The hook the page's script starts from and the containers it refreshes."""
    hook = re.search(r'<div id="locks-list"[^>]*>', page)
    results = re.search(r'<div id="locks-results">(.*?)</div>\s*<div id="locks-count">', page, re.S)
    count = re.search(r'<div id="locks-count">(.*?)</div>', page, re.S)
    return {
        "hook": hook.group(0) if hook else "",
        "results": results.group(1) if results else None,
        "count": re.sub(r"\s+", " ", count.group(1)) if count else None,
    }


@pytest.mark.django_db
def test_empty_console_carries_its_live_hook_and_containers(alice, carol, customer):
    empty = live_parts(console_page(carol))
    assert 'data-console="1"' in empty["hook"]
    assert "data-ws-url=" in empty["hook"]
    assert 'id="result_list"' not in empty["results"]
    assert "0 edit locks" in empty["count"]

    services.acquire(customer, alice)
    held = live_parts(console_page(carol))
    assert 'id="result_list"' in held["results"]
    assert "Ada Lovelace" in held["results"]
    assert "1 edit lock" in held["count"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_console_release_reaches_the_holder_and_the_console(alice, carol, customer):
    holder, console = await open_socket(alice), await open_socket(carol)
    topic = await sync_to_async(record)(customer)
    assert (await ask(holder, {"type": "subscribe", "record": topic}))["type"] == "subscribed"
    assert (await ask(console, {"type": "subscribe", "console": True}))["type"] == "subscribed"
    await sync_to_async(services.acquire)(customer, alice)  # the console was empty until now
    assert (await next_of(console, "lock.acquired"))["lock"]["holder"] == "Alice"

    def release_from_console():
        client = Client()
        client.force_login(carol)
        lock = EditLock.objects.get()
        return client.post(CONSOLE, {"action": "release_selected", "_selected_action": [lock.pk]})

    assert (await sync_to_async(release_from_console)()).status_code == 302
    released = await next_of(holder, "lock.force_released")
    assert released["lock"]["held"] is False
    assert released["reason"] == "Released from the lock console"
    assert (await next_of(console, "lock.force_released"))["lock"]["held"] is False
    await holder.disconnect()
    await console.disconnect()
