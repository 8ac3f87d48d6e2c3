"""Operators' commands and system checks."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from locks import services
from locks.checks import check_limits, check_settings
from locks.models import LockEvent

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_locks_lists_current_locks(customer, alice):
    assert "No locks are held." in run("locks")
    services.acquire(customer, alice)
    table = run("locks")
    assert (
        "records.customer" in table
        and "Ada Lovelace" in table
        and "alice" in table
        and "active" in table
    )
    rows = json.loads(run("locks", "--json"))
    assert rows[0]["holder"] == "alice"
    assert rows[0]["state"] == "active"
    assert rows[0]["object_pk"] == str(customer.pk)


def test_release_stale_locks_dry_run_then_release(customer, alice, fake_clock):
    services.acquire(customer, alice)
    fake_clock.advance(46)
    dry = run("release_stale_locks", "--dry-run")
    assert "Would release Ada Lovelace (held by Alice, expired)" in dry
    assert LockEvent.objects.filter(kind="expired").count() == 0
    real = run("release_stale_locks")
    assert "Released 1 stale lock(s)." in real
    assert LockEvent.objects.filter(kind="expired", holder=alice).count() == 1
    assert "Released 0 stale lock(s)." in run("release_stale_locks")
    assert json.loads(run("locks", "--json")) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        ({"LOCKS_TIMEOUT": 20, "LOCKS_HEARTBEAT_INTERVAL": 15}, ["locks.E002"]),
        ({"LOCKS_TIMEOUT": -1}, ["locks.E001"]),
        ({"LOCKS_HEARTBEAT_INTERVAL": "15"}, ["locks.E001"]),
        ({"LOCKS_IDLE_TIMEOUT": 30}, ["locks.W001"]),
        ({"LOCKS_TIMEOUT": 3600, "LOCKS_IDLE_TIMEOUT": 7200}, ["locks.W002"]),
        ({"LOCKS_SOCKET_RATE": 0.5, "LOCKS_HANDOVER_REQUEST_INTERVAL": 0}, []),
        ({"LOCKS_SOCKET_RATE": 0}, ["locks.E030"]),
        ({"LOCKS_SOCKET_BURST": "40"}, ["locks.E030"]),
        ({"LOCKS_SOCKET_BACKLOG": -1, "LOCKS_HANDOVER_REQUEST_INTERVAL": 1.5}, ["locks.E030"] * 2),
    ],
)
def test_checks_explain_bad_settings(settings, overrides, expected):
    for name, value in overrides.items():
        setattr(settings, name, value)
    problems = check_settings() + check_limits()
    assert [p.id for p in problems] == expected
    for problem in problems:
        assert problem.hint  # every message says how to fix it
