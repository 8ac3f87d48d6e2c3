"""Inline rows are live (issue 10): a save that changes an order's lines tells the order's
viewers, each as their own change form shows the lines. Driven through the admin (test
client), the real websocket stack and the HTTP state endpoint."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from locks import services
from locks.admin import LockedAdminMixin
from records.models import Customer, Order, OrderLine
from tests.conftest import EDITOR, make_user
from tests.test_live_authority import nothing_more, registered
from tests.test_websocket import (
    ask,
    fresh_layer_and_hub,  # noqa: F401  (autouse fixture)
    next_of,
    open_socket,
    record,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def order(customer):
    order = Order.objects.create(customer=customer, reference="ORD-1", notes="")
    OrderLine.objects.create(order=order, product="Lamp", quantity=1, unit_price="5.00")
    OrderLine.objects.create(order=order, product="Desk", quantity=2, unit_price="80.00")
    return Order.objects.get(pk=order.pk)


def hidden(text: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}"(?: value="([^"]*)")?', text)
    assert match, f"no hidden input {name}"
    return match.group(1) or ""


def save_lines_in_admin(user, order: Order, quantities: dict[int, int], new: tuple | None):
    """The user opens the order's change form and saves it with changed lines (and a new
    one), "Save and continue", as the browser would post it."""
    client = Client()
    client.force_login(user)
    url = reverse("admin:records_order_change", args=[order.pk])
    page = client.get(url).content.decode()
    lines = list(order.lines.order_by("pk"))
    data = {
        "reference": order.reference,
        "customer": order.customer_id,
        "status": order.status,
        "notes": order.notes,
        "lines-TOTAL_FORMS": str(len(lines) + 1),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "_locks_lease": hidden(page, "_locks_lease"),
        "_locks_version": hidden(page, "_locks_version"),
        "_locks_base": hidden(page, "_locks_base"),
        "_continue": "1",
    }
    for index, line in enumerate(lines):
        data.update(
            {
                f"lines-{index}-id": line.pk,
                f"lines-{index}-order": order.pk,
                f"lines-{index}-product": line.product,
                f"lines-{index}-quantity": quantities.get(line.pk, line.quantity),
                f"lines-{index}-unit_price": line.unit_price,
            }
        )
    index = len(lines)
    product, quantity, price = new or ("", "1", "")
    data.update(
        {
            f"lines-{index}-id": "",
            f"lines-{index}-order": order.pk,
            f"lines-{index}-product": product,
            f"lines-{index}-quantity": quantity,
            f"lines-{index}-unit_price": price,
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]


async def watch(user, order: Order):
    socket = await open_socket(user)
    reply = await ask(socket, {"type": "subscribe", "record": await sync_to_async(record)(order)})
    assert reply["type"] == "subscribed"
    return socket


async def test_changed_and_added_lines_reach_a_viewer(alice, bob, order):
    socket = await watch(bob, order)
    lamp, desk = await sync_to_async(lambda: list(order.lines.order_by("pk")))()
    await sync_to_async(save_lines_in_admin)(alice, order, {lamp.pk: 3}, ("Chair", "4", "25.50"))
    saved = await next_of(socket, "record.saved")
    new = await sync_to_async(lambda: order.lines.get(product="Chair"))()
    assert saved["inlines"] == [
        {
            "prefix": "lines",
            "model": "records.orderline",
            "fields": ["product", "quantity", "unit_price"],
            "rows": [
                {
                    "pk": str(lamp.pk),
                    "values": {"product": "Lamp", "quantity": "3", "unit_price": "5.00"},
                },
                {
                    "pk": str(desk.pk),
                    "values": {"product": "Desk", "quantity": "2", "unit_price": "80.00"},
                },
                {
                    "pk": str(new.pk),
                    "values": {"product": "Chair", "quantity": "4", "unit_price": "25.50"},
                },
            ],
        }
    ]
    await socket.disconnect()


async def test_a_save_that_leaves_the_lines_alone_sends_no_rows(alice, bob, order):
    socket = await watch(bob, order)
    await sync_to_async(save_lines_in_admin)(alice, order, {}, None)
    saved = await next_of(socket, "record.saved")
    assert "inlines" not in saved
    await socket.disconnect()


async def test_user_who_may_not_view_lines_gets_no_rows(alice, bob, order):
    orders_only = [p for p in EDITOR if p.startswith("records.") and "orderline" not in p]
    dave = await sync_to_async(make_user)("dave", *orders_only)
    bobs, daves = await watch(bob, order), await watch(dave, order)
    lamp = await sync_to_async(lambda: order.lines.order_by("pk").first())()
    await sync_to_async(save_lines_in_admin)(alice, order, {lamp.pk: 9}, None)
    assert (await next_of(bobs, "record.saved"))["inlines"][0]["rows"][0]["values"][
        "quantity"
    ] == "9"
    assert "inlines" not in await next_of(daves, "record.saved")
    # nor in the state reply of a page that missed the save
    state = await ask(
        daves, {"type": "sync", "record": await sync_to_async(record)(order), "version": 1}
    )
    assert "values" in state
    assert "inlines" not in state or state["inlines"] == []
    await bobs.disconnect()
    await daves.disconnect()


async def test_lines_stop_at_once_when_the_user_may_no_longer_view_them(alice, bob, carol, order):
    """The hub keeps a record's sockets grouped by grant between saves; a grant that changes
    (bob loses the lines' permissions, his socket checks again) must shape the very next
    save, not the grouping kept from the one before."""
    import asyncio

    from django.contrib.auth.models import Permission

    bobs = await watch(bob, order)
    lamp = await sync_to_async(lambda: order.lines.order_by("pk").first())()
    await sync_to_async(save_lines_in_admin)(alice, order, {lamp.pk: 3}, None)
    assert "inlines" in await next_of(bobs, "record.saved")  # grouped with the lines

    def take_line_rights() -> None:
        rights = Permission.objects.filter(content_type__model="orderline")
        bob.user_permissions.remove(*rights)

    await sync_to_async(take_line_rights)()
    reference = await sync_to_async(record)(order)

    async def rechecked() -> None:  # his socket has asked its ModelAdmin again
        state = {"inlines": True}
        while state.get("inlines"):
            state = await ask(bobs, {"type": "sync", "record": reference, "version": 1})
            if state.get("inlines"):
                await asyncio.sleep(0.2)  # within the socket's message allowance

    await asyncio.wait_for(rechecked(), 5)
    await sync_to_async(services.force_release)(order, carol)  # alice's first tab is gone
    await sync_to_async(save_lines_in_admin)(alice, order, {lamp.pk: 4}, None)
    assert "inlines" not in await next_of(bobs, "record.saved")
    await bobs.disconnect()


class LineWithoutPriceInline(admin.TabularInline):
    model = OrderLine
    exclude = ["unit_price"]


class OrderWithoutPricesAdmin(LockedAdminMixin, admin.ModelAdmin):
    fields = ["reference", "customer", "status", "notes"]
    inlines = [LineWithoutPriceInline]


async def test_field_the_inline_excludes_never_travels(bob, order):
    """Rows changed outside the admin (here: the shell) are announced too, shaped alike."""
    with registered(Order, OrderWithoutPricesAdmin):
        socket = await watch(bob, order)
        await sync_to_async(OrderLine.objects.create)(
            order=order, product="Secret", quantity=1, unit_price="999.00"
        )
        saved = await next_of(socket, "record.saved")
        (lines,) = saved["inlines"]
        assert lines["fields"] == ["product", "quantity"]
        assert [row["values"] for row in lines["rows"]] == [
            {"product": "Lamp", "quantity": "1"},
            {"product": "Desk", "quantity": "2"},
            {"product": "Secret", "quantity": "1"},
        ]
        assert "999" not in str(saved)
        await socket.disconnect()


async def test_deleted_line_leaves_the_rows(bob, order):
    socket = await watch(bob, order)
    await sync_to_async(lambda: order.lines.get(product="Desk").delete())()
    saved = await next_of(socket, "record.saved")
    assert [row["values"]["product"] for row in saved["inlines"][0]["rows"]] == ["Lamp"]
    await socket.disconnect()


async def test_rolled_back_line_is_never_announced(bob, order):
    from django.db import transaction

    socket = await watch(bob, order)

    def roll_back():
        try:
            with transaction.atomic():
                OrderLine.objects.create(order=order, product="Ghost", quantity=1, unit_price="1")
                raise RuntimeError
        except RuntimeError:
            pass
        Customer.objects.filter(pk=order.customer_id).update(notes="unrelated")

    await sync_to_async(roll_back)()
    assert await nothing_more(socket, "record.saved")
    await socket.disconnect()


async def test_sync_and_http_state_carry_the_rows(bob, order):
    socket = await watch(bob, order)
    reply = await ask(
        socket, {"type": "sync", "record": await sync_to_async(record)(order), "version": 0}
    )
    assert [row["values"]["quantity"] for row in reply["inlines"][0]["rows"]] == ["1", "2"]
    current = await ask(
        socket,
        {"type": "sync", "record": await sync_to_async(record)(order), "version": order.version},
    )
    assert "inlines" not in current  # the page is up to date: nothing to send

    def http_state():
        client = Client()
        client.force_login(bob)
        url = reverse("admin:records_order_lock_state", args=[order.pk])
        return client.get(url, {"version": "0"}).json()

    body = await sync_to_async(http_state)()
    assert body["inlines"][0]["prefix"] == "lines"
    assert [row["values"]["product"] for row in body["inlines"][0]["rows"]] == ["Lamp", "Desk"]
    await socket.disconnect()


class LinesWithoutDesksInline(admin.TabularInline):
    """An inline that chooses its rows itself: desks are not shown (to anyone here)."""

    model = OrderLine
    fields = ["product", "quantity", "unit_price"]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(product="Desk")


class OrderWithoutDesksAdmin(LockedAdminMixin, admin.ModelAdmin):
    fields = ["reference", "customer", "status", "notes"]
    inlines = [LinesWithoutDesksInline]


async def test_rows_the_inline_does_not_show_never_travel(bob, order):
    """The change form lists only the rows of the inline's own get_queryset; the live
    channel sends no others, in events, sync replies or the HTTP state."""
    with registered(Order, OrderWithoutDesksAdmin):

        def page_and_state() -> tuple[str, dict]:
            client = Client()
            client.force_login(bob)
            page = client.get(reverse("admin:records_order_change", args=[order.pk]))
            url = reverse("admin:records_order_lock_state", args=[order.pk])
            return page.content.decode(), client.get(url, {"version": "0"}).json()

        page, state = await sync_to_async(page_and_state)()
        assert "Lamp" in page and "Desk" not in page  # what the admin shows bob
        assert [row["values"]["product"] for row in state["inlines"][0]["rows"]] == ["Lamp"]

        socket = await watch(bob, order)
        reference = await sync_to_async(record)(order)
        synced = await ask(socket, {"type": "sync", "record": reference, "version": 0})
        assert [row["values"]["product"] for row in synced["inlines"][0]["rows"]] == ["Lamp"]

        def change_both() -> None:
            for line in order.lines.all():
                line.quantity += 10
                line.save()

        await sync_to_async(change_both)()
        for _ in range(2):  # one event per saved line
            saved = await next_of(socket, "record.saved")
            products = [row["values"]["product"] for row in saved["inlines"][0]["rows"]]
            assert products == ["Lamp"]
        await socket.disconnect()
