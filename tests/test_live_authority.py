"""The live channel answers to the ModelAdmin and to the session (issue: live channel's
authority). Driven through the real websocket stack and the HTTP endpoints, with ModelAdmins
that exclude fields, hide rows and show different fields to different users."""

from __future__ import annotations

import asyncio
import importlib
import time
from contextlib import contextmanager

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from locks import services
from locks.admin import LockedAdminMixin
from records.models import Customer
from tests.conftest import make_user
from tests.test_websocket import (
    TIMEOUT,
    application,
    ask,
    fresh_layer_and_hub,  # noqa: F401  (autouse fixture)
    next_of,
    open_socket,
    record,
    wait_closed,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@contextmanager
def registered(model, admin_class):
    """Register `admin_class` for `model` on the default admin site for one test, with URLs."""
    site = admin.site
    old = site._registry[model]
    site._registry[model] = admin_class(model, site)
    try:
        from tests import swapped_urls

        importlib.reload(swapped_urls)
        with override_settings(ROOT_URLCONF="tests.swapped_urls"):
            yield site._registry[model]
    finally:
        site._registry[model] = old


class NotesHiddenAdmin(LockedAdminMixin, admin.ModelAdmin):
    """`notes` stands for an internal field the team keeps out of the form."""

    exclude = ["notes"]


class HidesFromBobAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Bob may see active customers only (a restricting get_queryset)."""

    fields = ["name", "email", "phone", "status", "notes"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.username == "bob":
            return queryset.filter(status="active")
        return queryset


class PerUserFieldsAdmin(LockedAdminMixin, admin.ModelAdmin):
    def get_fields(self, request, obj=None):
        if request.user.username == "bob":
            return ["name"]
        return ["name", "phone", "notes"]


def save(customer_pk: int, **values) -> None:
    customer = Customer.objects.get(pk=customer_pk)
    for name, value in values.items():
        setattr(customer, name, value)
    customer.save()


async def socket_for(user, session_client: Client | None = None):
    """A socket opened with this client's session (a fresh login when none is given)."""
    from channels.testing import WebsocketCommunicator

    client = session_client or Client()
    if session_client is None:
        await sync_to_async(client.force_login)(user)
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    socket = WebsocketCommunicator(application, "/ws/locks/", headers=headers)
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "welcome"
    return socket


async def nothing_more(socket, kind: str, within: float = 0.5) -> bool:
    """True when no message of `kind` arrives within `within` seconds (others are skipped)."""
    try:
        await next_of(socket, kind, timeout=within)
    except TimeoutError:
        return True
    return False


# ---------------------------------------------------------------- the console


async def test_console_watcher_without_record_rights_gets_no_values(alice, customer):
    watcher = await sync_to_async(make_user)("watcher", "locks.view_editlock")
    socket = await open_socket(watcher)
    assert (await ask(socket, {"type": "subscribe", "console": True}))["type"] == "subscribed"

    await sync_to_async(services.acquire)(customer, alice)  # a lock event: the console hears it
    event = await next_of(socket, "lock.acquired")
    assert set(event) <= {"type", "record", "lock", "at"}
    assert "reason" not in event

    await sync_to_async(save)(customer.pk, notes="secret plan", name="Ada King")
    assert await nothing_more(socket, "record.saved")
    await socket.disconnect()


# ---------------------------------------------------------------- fields the form shows


async def test_excluded_field_never_travels(alice, bob, customer):
    with registered(Customer, NotesHiddenAdmin):
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        reply = await ask(socket, {"type": "sync", "record": record(customer), "version": 0})
        assert "name" in reply["values"] and "notes" not in reply["values"]

        await sync_to_async(save)(customer.pk, notes="internal cost 40", name="Ada King")
        event = await next_of(socket, "record.saved")
        assert event["values"] == {"name": "Ada King"}
        assert "notes" not in event["changed"]

        client = Client()
        await sync_to_async(client.force_login)(bob)
        url = f"/admin/records/customer/{customer.pk}/lock/state/?version=0"
        body = (await sync_to_async(client.get)(url)).json()
        assert body["values"]["name"] == "Ada King"
        assert "notes" not in body["values"]
        assert "internal cost 40" not in str(body)
        await socket.disconnect()


async def test_each_user_gets_only_their_fields_from_one_save(bob, carol, customer):
    with registered(Customer, PerUserFieldsAdmin):
        bobs = await open_socket(bob)
        carols = await open_socket(carol)
        for socket in (bobs, carols):
            await ask(socket, {"type": "subscribe", "record": record(customer)})

        await sync_to_async(save)(customer.pk, name="Ada King", phone="555-0100", notes="x")
        assert (await next_of(bobs, "record.saved"))["values"] == {"name": "Ada King"}
        assert (await next_of(carols, "record.saved"))["values"] == {
            "name": "Ada King",
            "phone": "555-0100",
            "notes": "x",
        }
        for socket in (bobs, carols):
            await socket.disconnect()


# ---------------------------------------------------------------- rows the queryset holds


async def test_row_hidden_by_get_queryset_cannot_be_watched(alice, bob, customer):
    hidden = await sync_to_async(Customer.objects.create)(name="Hidden Ltd", status="prospect")
    with registered(Customer, HidesFromBobAdmin):
        client = Client()
        await sync_to_async(client.force_login)(bob)
        page = await sync_to_async(client.get)(f"/admin/records/customer/{hidden.pk}/change/")
        assert page.status_code == 302  # the admin says it does not exist (to the index)

        socket = await open_socket(bob)
        for message in (
            {"type": "subscribe", "record": record(hidden)},
            {"type": "sync", "record": record(hidden)},
            {"type": "subscribe", "rows": {"ct": record(hidden)["ct"], "pks": [hidden.pk]}},
        ):
            assert (await ask(socket, message))["code"] == "not_found"

        states = await sync_to_async(client.get)(
            f"/admin/records/customer/lock/states/?pk={hidden.pk}&pk={customer.pk}"
        )
        await sync_to_async(services.acquire)(hidden, alice)
        assert str(hidden.pk) not in states.json()["locks"]
        await socket.disconnect()


async def test_row_leaving_the_queryset_stops_its_events(alice, bob, customer):
    with registered(Customer, HidesFromBobAdmin):
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        await sync_to_async(save)(customer.pk, status="inactive", notes="gone quiet")
        closed = await wait_closed(socket)
        assert closed["code"] == 4403


async def test_pages_that_join_or_leave_between_saves_are_counted_anew(bob, carol, customer):
    """The hub keeps a record's sockets grouped by grant from one save to the next: a page
    that joins after a save hears the next one, and one that left is not sent to."""
    first = await open_socket(bob)
    await ask(first, {"type": "subscribe", "record": record(customer)})
    await sync_to_async(save)(customer.pk, notes="one")
    assert (await next_of(first, "record.saved"))["values"]["notes"] == "one"

    second = await open_socket(carol)
    await ask(second, {"type": "subscribe", "record": record(customer)})
    await sync_to_async(save)(customer.pk, notes="two")
    assert (await next_of(second, "record.saved"))["values"]["notes"] == "two"
    assert (await next_of(first, "record.saved"))["values"]["notes"] == "two"

    await ask(first, {"type": "unsubscribe", "record": record(customer)})
    await sync_to_async(save)(customer.pk, notes="three")
    assert (await next_of(second, "record.saved"))["values"]["notes"] == "three"
    assert await nothing_more(first, "record.saved")
    await first.disconnect()
    await second.disconnect()


async def test_a_page_that_left_is_not_kept_alive_by_the_grouping(bob, carol, customer):
    """The grouping the hub keeps between saves names the record's sockets: one that leaves
    while others stay on the record is dropped from it at once, not kept alive (its scope,
    session and user with it) until the record's next event, which may never come."""
    import gc
    import weakref

    from locks.hub import get_hub

    stays = await open_socket(bob)
    leaves = await open_socket(carol)
    for socket in (stays, leaves):
        await ask(socket, {"type": "subscribe", "record": record(customer)})
    await sync_to_async(save)(customer.pk, notes="one")
    for socket in (stays, leaves):
        await next_of(socket, "record.saved")  # the hub has grouped both

    hub = await get_hub()
    (carols,) = {s for members in hub.topics.values() for s in members if s.user == carol}
    gone = weakref.ref(carols)
    del carols
    await leaves.disconnect()
    del leaves

    async def collected() -> None:
        gc.collect()
        while gone() is not None:
            await asyncio.sleep(0.05)  # the socket's own tasks finish their cancellation
            gc.collect()

    await asyncio.wait_for(collected(), TIMEOUT)
    await stays.disconnect()


class AnnotatingAdmin(LockedAdminMixin, admin.ModelAdmin):
    """A get_queryset that adds a column for the change list and filters nothing, and says
    it chooses its filter from the user alone (as the demo's CustomerAdmin does)."""

    fields = ["name", "email", "phone", "status", "notes"]
    lock_queryset_by_user = True

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_order_count=Count("orders"))


class UndeclaredAnnotatingAdmin(AnnotatingAdmin):
    lock_queryset_by_user = False


class ByUserHidesFromBobAdmin(HidesFromBobAdmin):
    lock_queryset_by_user = True  # true: it filters for bob by his name alone


async def test_a_queryset_that_filters_nothing_is_not_asked_again_per_save(
    alice, bob, customer, monkeypatch
):
    """Asking the ModelAdmin again costs a database trip before the save reaches the pages
    (benchmarks/save_fanout.py). A queryset declared to filter by the user alone, that shows
    this user every row, cannot lose one to a save; one that filters for this user still is
    asked, and still stops the events; undeclared, it is asked whatever it filters."""
    from locks import authority

    asked: list[tuple] = []
    original = authority.regrant_users

    def counted(*args):
        asked.append(args)
        return original(*args)

    monkeypatch.setattr(authority, "regrant_users", counted)
    with registered(Customer, AnnotatingAdmin):
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        await sync_to_async(save)(customer.pk, status="inactive", notes="still shown")
        assert (await next_of(socket, "record.saved"))["values"]["notes"] == "still shown"
        assert asked == []
        await socket.disconnect()
    with registered(Customer, UndeclaredAnnotatingAdmin):
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        await sync_to_async(save)(customer.pk, notes="asked again")
        assert (await next_of(socket, "record.saved"))["values"]["notes"] == "asked again"
        assert [set(users) for _ct, _pk, users in asked] == [{bob.pk}]
        asked.clear()
        await socket.disconnect()
    await sync_to_async(save)(customer.pk, status="active")
    with registered(Customer, ByUserHidesFromBobAdmin):  # filters for bob, not for alice
        watching = await open_socket(alice)
        await ask(watching, {"type": "subscribe", "record": record(customer)})
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        await sync_to_async(save)(customer.pk, status="inactive", notes="hidden from bob")
        assert (await wait_closed(socket))["code"] == 4403
        assert (await next_of(watching, "record.saved"))["values"]["notes"] == "hidden from bob"
        assert [set(users) for _ct, _pk, users in asked] == [{bob.pk}]
        await watching.disconnect()


class OutOfHoursAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Out of office hours bob sees active customers only. `out_of_hours` stands for anything
    get_queryset reads besides the user's rights and the row: the clock, a setting or feature
    flag kept in the database (django-constance, django-waffle), a team membership table.
    Nothing announces a change to any of these, so it must not declare
    `lock_queryset_by_user`, and is asked again on every save."""

    fields = ["name", "email", "phone", "status", "notes"]
    out_of_hours = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if type(self).out_of_hours and request.user.username == "bob":
            return queryset.filter(status="active")
        return queryset


async def test_a_queryset_that_starts_filtering_for_other_reasons_stops_the_events(bob, customer):
    with registered(Customer, OutOfHoursAdmin):
        socket = await open_socket(bob)
        await ask(socket, {"type": "subscribe", "record": record(customer)})
        OutOfHoursAdmin.out_of_hours = True
        try:
            await sync_to_async(save)(customer.pk, status="inactive", notes="after hours")
            client = Client()
            await sync_to_async(client.force_login)(bob)
            page = await sync_to_async(client.get)(f"/admin/records/customer/{customer.pk}/change/")
            assert page.status_code == 302  # the admin no longer shows bob this customer
            heard: list[str] = []

            async def until_closed():
                while True:
                    output = await socket.receive_output(timeout=TIMEOUT)
                    if output["type"] == "websocket.close":
                        return output
                    heard.append(output.get("text", ""))

            closed = await asyncio.wait_for(until_closed(), TIMEOUT)
            assert not any("after hours" in text for text in heard)
            assert closed["code"] == 4403
        finally:
            OutOfHoursAdmin.out_of_hours = False


class ManagerAdmin(LockedAdminMixin, admin.ModelAdmin):
    """A get_queryset that hands back the model's manager itself: the admin's pages work
    with it (a Manager answers filter() and get() as a QuerySet does), so the live channel
    must too."""

    fields = ["name", "email", "phone", "status", "notes"]

    def get_queryset(self, request):
        return self.model._default_manager


async def test_a_get_queryset_that_returns_a_manager_still_serves_the_socket(bob, customer):
    with registered(Customer, ManagerAdmin):
        client = Client()
        await sync_to_async(client.force_login)(bob)
        page = await sync_to_async(client.get)(f"/admin/records/customer/{customer.pk}/change/")
        assert page.status_code == 200

        socket = await open_socket(bob)
        assert (await ask(socket, {"type": "subscribe", "record": record(customer)}))[
            "type"
        ] == "subscribed"
        rows = {"ct": record(customer)["ct"], "pks": [customer.pk]}
        assert (await ask(socket, {"type": "subscribe", "rows": rows}))["type"] == "subscribed"
        await sync_to_async(save)(customer.pk, notes="through the manager")
        assert (await next_of(socket, "record.saved"))["values"]["notes"] == "through the manager"
        await socket.disconnect()


class CountingAdmin(HidesFromBobAdmin):
    """Counts how often its (filtering) get_queryset is asked."""

    asked = 0

    def get_queryset(self, request):
        type(self).asked += 1
        return super().get_queryset(request)


async def test_get_queryset_is_asked_once_per_subscription_and_once_per_save(bob, customer):
    """Whether a grant is asked again per save is decided by calling get_queryset (it may
    run queries of its own: a profile, object permissions); a change list subscribing to
    its rows asks it for the rows, and once more for that decision, however many rows. A
    save asks it once per user, for the row only."""
    others = [
        await sync_to_async(Customer.objects.create)(
            name=f"Customer {n}", email=f"c{n}@example.com", status="active"
        )
        for n in range(20)
    ]
    with registered(Customer, CountingAdmin):
        socket = await open_socket(bob)
        CountingAdmin.asked = 0
        rows = {"ct": record(customer)["ct"], "pks": [other.pk for other in others]}
        assert (await ask(socket, {"type": "subscribe", "rows": rows}))["type"] == "subscribed"
        assert CountingAdmin.asked <= 2
        CountingAdmin.asked = 0
        await sync_to_async(save)(others[1].pk, notes="asked again")  # bob's rows filter
        assert (await next_of(socket, "record.saved"))["values"]["notes"] == "asked again"
        assert CountingAdmin.asked == 1  # once per user per save, as before 8212e93
        await sync_to_async(save)(others[0].pk, status="inactive")
        assert (await wait_closed(socket))["code"] == 4403


async def test_model_without_locked_admin_is_refused(alice):
    from django.contrib.contenttypes.models import ContentType

    from records.models import OrderLine

    ct = await sync_to_async(ContentType.objects.get_for_model)(OrderLine)
    socket = await open_socket(alice)
    reply = await ask(socket, {"type": "subscribe", "record": {"ct": ct.pk, "pk": "1"}})
    assert reply["code"] == "not_found"
    await socket.disconnect()


# ---------------------------------------------------------------- sockets belong to sessions


async def closed_within(socket, seconds: float) -> tuple[int, float]:
    started = time.monotonic()
    output = await wait_closed(socket)
    return output["code"], time.monotonic() - started


async def test_logout_closes_the_socket_and_nothing_is_answered(bob, customer):
    client = Client()
    await sync_to_async(client.force_login)(bob)
    socket = await socket_for(bob, client)
    await ask(socket, {"type": "subscribe", "record": record(customer)})

    await sync_to_async(client.post)("/admin/logout/")
    code, took = await closed_within(socket, 1)
    assert code == 4401 and took < 1
    await socket.send_json_to({"type": "sync", "record": record(customer)})
    assert await socket.receive_nothing(timeout=0.3)


async def test_password_change_closes_the_socket(bob, customer):
    socket = await socket_for(bob)

    def change_password():
        bob.set_password("new secret")
        bob.save()

    await sync_to_async(change_password)()
    assert (await wait_closed(socket))["code"] == 4401


async def test_deleted_sessions_close_their_sockets(bob, alice):
    bobs = await socket_for(bob)
    alices = await socket_for(alice)
    await sync_to_async(lambda: Session.objects.all().delete())()
    assert (await wait_closed(bobs))["code"] == 4401
    assert (await wait_closed(alices))["code"] == 4401


async def test_expired_session_closes_the_socket(bob):
    client = Client()
    await sync_to_async(client.force_login)(bob)

    def expire_soon():
        session = client.session
        session.set_expiry(1)
        session.save()

    await sync_to_async(expire_soon)()
    socket = await socket_for(bob, client)
    code, took = await closed_within(socket, 3)
    assert code == 4401 and took < 2.5


async def test_losing_staff_closes_the_socket(bob):
    socket = await socket_for(bob)

    def unstaff():
        bob.is_staff = False
        bob.save()

    await sync_to_async(unstaff)()
    assert (await wait_closed(socket))["code"] == 4401


# ---------------------------------------------------------------- object permissions


class GuardedCustomerAdmin(LockedAdminMixin, admin.ModelAdmin):
    """Staff may see customers they hold an object permission for (django-guardian)."""

    fields = ["name", "email", "phone", "status", "notes"]

    def get_queryset(self, request):
        from guardian.shortcuts import get_objects_for_user

        return get_objects_for_user(
            request.user,
            ["records.view_customer", "records.change_customer"],
            klass=super().get_queryset(request),
            any_perm=True,
        )

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request) or request.user.is_staff
        return request.user.has_perm("records.view_customer", obj) or super().has_view_permission(
            request, obj
        )


async def test_object_permissions_decide_what_is_live(alice, customer):
    from guardian.shortcuts import assign_perm

    other = await sync_to_async(Customer.objects.create)(name="Other Ltd", status="active")
    dora = await sync_to_async(make_user)("dora")  # staff, no model permission at all
    await sync_to_async(assign_perm)("records.view_customer", dora, customer)
    with registered(Customer, GuardedCustomerAdmin):
        socket = await open_socket(dora)
        assert (await ask(socket, {"type": "subscribe", "record": record(customer)}))[
            "type"
        ] == "subscribed"
        assert (await ask(socket, {"type": "subscribe", "record": record(other)}))[
            "code"
        ] != "subscribed"
        rows = {"ct": record(other)["ct"], "pks": [customer.pk, other.pk]}
        assert (await ask(socket, {"type": "subscribe", "rows": rows}))["type"] == "error"

        await sync_to_async(save)(other.pk, notes="not for dora")
        await sync_to_async(save)(customer.pk, notes="for dora")
        event = await next_of(socket, "record.saved")
        assert event["record"]["pk"] == str(customer.pk)
        assert event["values"]["notes"] == "for dora"
        assert await nothing_more(socket, "record.saved")
        await socket.disconnect()


async def test_a_save_that_hides_the_row_from_the_default_manager_stops_its_events(db):
    """The test app's Note admin overrides nothing, but its model's default manager hides
    archived notes, so Django's get_queryset does too: archiving a note takes it out of
    the admin, and the live channel stops as the admin page does."""
    from tests.lockapp.models import Note

    erin = await sync_to_async(make_user)("erin", "lockapp.view_note", "lockapp.change_note")
    note = await sync_to_async(Note.objects.create)(title="Plan")
    socket = await open_socket(erin)
    reference = await sync_to_async(record)(note)
    assert (await ask(socket, {"type": "subscribe", "record": reference}))["type"] == "subscribed"

    def archive() -> None:
        archived = Note.every.get(pk=note.pk)
        archived.archived = True
        archived.save()

    await sync_to_async(archive)()
    client = Client()
    await sync_to_async(client.force_login)(erin)
    page = await sync_to_async(client.get)(f"/admin/lockapp/note/{note.pk}/change/")
    assert page.status_code == 302  # the admin no longer shows it
    assert (await wait_closed(socket))["code"] == 4403
