"""One clock: lock times are the database's, whatever this server's clock says; pages get
ages computed by the server; a skewed server says so at its first request."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from locks import services, skew
from locks.models import EditLock
from locks.policy import LockPolicy
from tests.test_admin_locking import change_url, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def server_clock_ahead(monkeypatch):
    """This server's (Python's) clock 60 s ahead of the database's, as on a skewed host."""
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=60))
    return real_now


def test_a_server_clock_60_s_ahead_does_not_free_a_live_lock(
    contact, alice, bob, server_clock_ahead
):
    held = services.acquire(contact, alice)
    refused = services.acquire(contact, bob)
    assert not refused.ok and refused.state.holder_name == "Alice"
    assert LockPolicy(refused.state, bob, None).held_by_other_user
    assert services.heartbeat(contact, alice, held.lease, active=True).ok
    assert services.live_states(type(contact), [contact.pk])[str(contact.pk)].holder_id == alice.pk
    assert services.release_stale() == []  # the sweeper on this host frees nothing
    assert 40 < services.seconds_until_next_expiry() <= 45.1
    assert EditLock.objects.live().count() == 1 and EditLock.objects.stale().count() == 0


def test_lock_times_are_written_by_the_database(contact, alice, server_clock_ahead):
    services.acquire(contact, alice)
    lock = EditLock.objects.get()
    real = server_clock_ahead()
    assert abs((lock.acquired_at - real).total_seconds()) < 5  # not 60 s ahead
    assert abs((lock.expires_at - lock.heartbeat_at).total_seconds() - 45) < 0.01


def test_payload_carries_ages_computed_by_the_server(contact, alice, bob, fake_clock):
    lease = services.acquire(contact, alice).lease
    fake_clock.advance(4)
    lock = services.get_state(contact).as_public_dict()
    assert (lock["idle_seconds"], lock["held_seconds"]) == (4, 4)
    services.heartbeat(contact, alice, lease, active=True)
    fake_clock.advance(3)
    state = services.get_state(contact)
    lock = state.as_public_dict()
    assert (lock["idle_seconds"], lock["held_seconds"]) == (3, 7)
    assert "(active 3 s ago)" in LockPolicy(state, bob, None).get_message()
    # The HTTP state endpoint (the polling fallback) and bob's read-only page say the same.
    state_url = reverse("admin:lockapp_contact_lock_state", args=[contact.pk])
    body = client_for(bob).get(state_url).json()
    assert (body["lock"]["idle_seconds"], body["lock"]["held_seconds"]) == (3, 7)
    assert "(active 3 s ago)" in client_for(bob).get(change_url(contact)).text
    services.release(contact, alice, lease)
    free = services.get_state(contact).as_public_dict()
    assert (free["held"], free["idle_seconds"], free["held_seconds"]) == (False, None, None)


@pytest.fixture
def armed():
    skew.arm()
    yield
    skew.request_started.disconnect(skew.check_at_first_request, dispatch_uid=skew._UID)


def test_a_skewed_server_warns_once_at_its_first_request(alice, fake_clock, armed, caplog):
    fake_clock.advance(60)  # this server's clock, as the skew check reads it
    client = client_for(alice)
    with caplog.at_level(logging.WARNING, logger="locks.clock"):
        client.get(reverse("admin:index"))
        client.get(reverse("admin:index"))
    warnings = [r.getMessage() for r in caplog.records if r.name == "locks.clock"]
    assert len(warnings) == 1
    assert "s ahead of the database's" in warnings[0] and "NTP" in warnings[0]


def test_a_server_in_step_with_the_database_says_nothing(alice, armed, caplog):
    with caplog.at_level(logging.WARNING, logger="locks.clock"):
        client_for(alice).get(reverse("admin:index"))
    assert not [r for r in caplog.records if r.name == "locks.clock"]


def test_a_failed_clock_check_never_fails_the_request_and_runs_again(
    alice, fake_clock, armed, caplog, monkeypatch
):
    def unreachable():
        raise OSError("database clock unreachable")

    client = client_for(alice)
    with monkeypatch.context() as patch:
        patch.setattr(skew, "measure", unreachable)
        assert client.get(reverse("admin:index")).status_code == 200
    fake_clock.advance(-60)  # now this server is behind: the next request checks again
    with caplog.at_level(logging.WARNING, logger="locks.clock"):
        client.get(reverse("admin:index"))
    assert any("s behind the database's" in r.getMessage() for r in caplog.records)
