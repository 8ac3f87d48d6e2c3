"""The "Ask to edit" button is limited per user and record: asking again within
LOCKS_HANDOVER_REQUEST_INTERVAL is refused with a message and leaves no trace."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from locks import services
from locks.events import event_published
from locks.models import LockEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    events: list[dict] = []

    def receiver(sender, event, **kwargs):
        events.append(event)

    event_published.connect(receiver)
    yield events
    event_published.disconnect(receiver)


def asks(user) -> callable:
    client = Client()
    client.force_login(user)

    def ask(customer) -> dict:
        return client.post(
            reverse("admin:records_customer_lock_request", args=[customer.pk]),
            HTTP_ACCEPT="application/json",
        ).json()

    return ask


def handover_rows() -> int:
    return LockEvent.objects.filter(kind="handover_requested").count()


def test_500_requests_in_a_row_make_one_audit_row_and_one_event(
    customer, alice, bob, fake_clock, published, django_capture_on_commit_callbacks
):
    lease = services.acquire(customer, alice).lease
    ask = asks(bob)
    with django_capture_on_commit_callbacks(execute=True):
        replies = [ask(customer) for _ in range(500)]
    assert replies[0] == {"ok": True, "detail": "requested"}
    assert all(reply["detail"] == "asked-recently" for reply in replies[1:])
    assert replies[1]["message"] == (
        "You asked Alice to hand this record over 0 s ago; you can ask again in 60 s."
    )
    assert handover_rows() == 1
    assert [event["type"] for event in published] == ["lock.handover_requested"]

    fake_clock.advance(30)
    assert services.heartbeat(customer, alice, lease, active=True).ok
    reply = ask(customer)
    assert reply["message"] == (
        "You asked Alice to hand this record over 30 s ago; you can ask again in 30 s."
    )
    fake_clock.advance(30)
    assert services.heartbeat(customer, alice, lease, active=True).ok
    with django_capture_on_commit_callbacks(execute=True):
        assert ask(customer)["ok"] is True
    assert handover_rows() == 2 and len(published) == 2


def test_two_users_taking_turns_are_each_limited(customer, alice, bob, carol, fake_clock):
    services.acquire(customer, alice)
    bob_asks, carol_asks = asks(bob), asks(carol)
    for _ in range(50):
        bob_asks(customer)
        carol_asks(customer)
    assert handover_rows() == 2
    fake_clock.advance(10)
    assert bob_asks(customer)["detail"] == "asked-recently"


def test_a_new_holder_may_be_asked_at_once(customer, alice, bob, carol, fake_clock):
    services.acquire(customer, alice)
    ask = asks(bob)
    assert ask(customer)["ok"] is True
    services.take_over(customer, carol, "urgent")
    assert ask(customer)["ok"] is True
    assert handover_rows() == 2


def test_a_refused_request_costs_one_query(customer, alice, bob):
    services.acquire(customer, alice)
    assert services.request_handover(customer, bob).ok
    with CaptureQueriesContext(connection) as captured:
        outcome = services.request_handover(customer, bob)
    assert outcome.detail == "asked-recently"
    statements = [q["sql"] for q in captured.captured_queries]
    assert [sql for sql in statements if "SAVEPOINT" not in sql] == statements[1:2]
    assert statements[1].startswith("SELECT")


def test_the_form_post_without_javascript_says_so(customer, alice, bob):
    services.acquire(customer, alice)
    client = Client()
    client.force_login(bob)
    url = reverse("admin:records_customer_lock_request", args=[customer.pk])
    client.post(url)
    page = client.post(url, follow=True)
    assert "You asked Alice to hand this record over" in page.text
