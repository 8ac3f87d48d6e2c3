"""The demo command creates the documented users and data, and can run again."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command

from records.models import Customer, Order, OrderLine


def run_demo() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_twice_gives_the_same_counts():
    first_output = run_demo()
    counts = (
        Customer.objects.count(),
        Order.objects.count(),
        OrderLine.objects.count(),
        User.objects.count(),
    )
    run_demo()
    assert (
        Customer.objects.count(),
        Order.objects.count(),
        OrderLine.objects.count(),
        User.objects.count(),
    ) == counts
    assert counts[0] >= 50
    assert counts[1] >= 200
    assert "http://127.0.0.1:8000/admin/" in first_output
    assert "alice" in first_output
    assert "carol" in first_output


@pytest.mark.django_db
def test_demo_users_log_in_with_their_roles():
    run_demo()
    for name in ("alice", "bob", "carol", "admin"):
        assert authenticate(username=name, password="demo") is not None, name
    alice, carol, admin = (User.objects.get(username=n) for n in ("alice", "carol", "admin"))
    assert alice.has_perm("records.change_customer")
    assert not alice.has_perm("locks.manage_locks")
    assert User.objects.get(username="bob").has_perm("records.change_order")
    assert carol.has_perm("locks.manage_locks")
    assert admin.is_superuser


@pytest.mark.django_db
def test_demo_restores_a_changed_password():
    run_demo()
    alice = User.objects.get(username="alice")
    alice.set_password("something-else")
    alice.save()
    run_demo()
    assert authenticate(username="alice", password="demo") is not None


def quickstart_runserver_addrport() -> str:
    """The address the README Quickstart's first block gives `runserver`."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1]
    demo_block = quickstart.split("```sh", 1)[1].split("```", 1)[0]
    return re.search(r"manage\.py runserver (\S+)", demo_block).group(1)


@pytest.mark.django_db
def test_demo_prints_the_address_the_quickstart_serves():
    addrport = quickstart_runserver_addrport()
    output = run_demo()
    assert f"runserver {addrport}`" in output
    assert f"http://{addrport}/admin/ " in output


@pytest.mark.django_db
def test_demo_prints_the_address_it_is_told():
    out = StringIO()
    call_command("demo", "--addrport", "0.0.0.0:9001", stdout=out)
    assert "http://0.0.0.0:9001/admin/ " in out.getvalue()
    out = StringIO()
    call_command("demo", "--addrport", "8123", stdout=out)
    assert "http://127.0.0.1:8123/admin/ " in out.getvalue()
