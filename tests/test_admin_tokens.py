"""Lease tokens are credentials: no console or audit page shows one, only a fingerprint."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from locks.admin.console import fingerprint
from locks.models import EditLock, LockEvent

pytestmark = pytest.mark.django_db


def test_console_and_audit_pages_show_a_fingerprint_never_the_token(customer, alice, carol):
    holder = Client()
    holder.force_login(alice)
    holder.get(reverse("admin:records_customer_change", args=[customer.pk]))
    lock = EditLock.objects.get()
    assert lock.holder == alice and len(lock.lease) > 20
    event = LockEvent.objects.get(kind="acquired")
    assert event.lease == lock.lease

    manager = Client()
    manager.force_login(carol)
    pages = {
        "console": reverse("admin:locks_editlock_changelist"),
        "console detail": reverse("admin:locks_editlock_change", args=[lock.pk]),
        "audit trail": reverse("admin:locks_lockevent_changelist"),
        "audit detail": reverse("admin:locks_lockevent_change", args=[event.pk]),
    }
    for name, url in pages.items():
        page = manager.get(url)
        assert page.status_code == 200, name
        assert "Ada Lovelace" in page.text, name
        assert lock.lease not in page.text, f"the {name} page shows the lease token"
    for name in ("console detail", "audit detail"):
        page = manager.get(pages[name])
        assert fingerprint(lock.lease) in page.text, name
        assert len(fingerprint(lock.lease)) == 8
