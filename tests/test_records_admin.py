"""An editor works with the records admin pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from records.models import Customer, Order, OrderLine


@pytest.fixture
def orders(customer):
    order = Order.objects.create(customer=customer, reference="ORD-1")
    OrderLine.objects.create(order=order, product="Lamp", quantity=2, unit_price="10.00")
    return [order]


def test_customer_list_search_and_filter(client, alice, customer):
    Customer.objects.create(name="Grace Hopper", email="grace@example.com", status="inactive")
    client.force_login(alice)
    url = reverse("admin:records_customer_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert "Ada Lovelace" in page.text
    assert "Grace Hopper" in page.text
    found = client.get(url, {"q": "grace"})
    assert "Grace Hopper" in found.text
    assert "Ada Lovelace" not in found.text
    inactive = client.get(url, {"status__exact": "inactive"})
    assert "Grace Hopper" in inactive.text
    assert "Ada Lovelace" not in inactive.text


def test_order_page_shows_its_lines(client, alice, orders):
    client.force_login(alice)
    page = client.get(reverse("admin:records_order_change", args=[orders[0].pk]))
    assert page.status_code == 200
    assert 'value="Lamp"' in page.text


def test_invalid_customer_is_refused_with_message(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("admin:records_customer_add"),
        {"name": "X", "email": "not-an-email", "phone": "call me", "status": "active", "notes": ""},
    )
    assert response.status_code == 200
    assert "Enter a valid email address" in response.text
    assert "Enter a phone number" in response.text
    assert not Customer.objects.filter(name="X").exists()


def test_editor_adds_a_customer(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("admin:records_customer_add"),
        {
            "name": "New Co",
            "email": "new@example.com",
            "phone": "+49 30 1234567",
            "status": "active",
            "notes": "",
        },
    )
    assert response.status_code == 302
    assert Customer.objects.get(email="new@example.com").version == 1


def test_non_staff_is_sent_to_login(client, db):
    response = client.get(reverse("admin:records_customer_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
