"""Advisory mode (`lock_mode = "advisory"`): everyone may edit and is told who else is
editing; the version guard and the merge screen protect the data."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from locks import services
from tests.forms import posted
from tests.lockapp.models import Notice
from tests.test_admin_locking import change_url, client_for, hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def notice(db):
    return Notice.objects.create(title="Opening hours", body="9 to 5")


def test_two_users_edit_and_the_second_save_gets_the_merge_screen(notice, alice, bob):
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(notice))
    bob_page = bob_client.get(change_url(notice))
    for page in (alice_page, bob_page):  # nobody gets a read-only page
        assert 'id="id_title"' in page.text and 'name="_save"' in page.text
        assert 'class="readonly"' not in page.text
    assert "Others may edit it too" in alice_page.text
    assert "Alice is editing this record too" in bob_page.text
    assert "Ask to edit" not in bob_page.text and "Take over" not in bob_page.text
    assert hidden(bob_page, "_locks_lease") == ""  # Bob holds nothing, and needs nothing

    saved = bob_client.post(change_url(notice), posted(bob_page, "notice_form", body="9 to 6"))
    assert saved.status_code == 302
    notice.refresh_from_db()
    assert (notice.body, notice.version) == ("9 to 6", 2)

    merge = alice_client.post(change_url(notice), posted(alice_page, "notice_form", title="Hours"))
    assert merge.status_code == 200
    assert "Save merged version" in merge.text
    assert "is editing this record now" not in merge.text  # not a lock refusal
    rows = dict(re.findall(r'name="_locks_choice_(\w+)" value="(\w+)" checked', merge.text))
    assert rows == {"title": "yours", "body": "theirs"}
    stored = alice_client.post(change_url(notice), posted(merge, "locks-merge-form", _save="1"))
    assert stored.status_code == 302, stored.text[:2000]
    notice.refresh_from_db()
    assert (notice.title, notice.body, notice.version) == ("Hours", "9 to 6", 3)
    assert services.get_state(notice).holder_id is None  # Alice's save released her lock


def test_the_lock_endpoints_answer_in_advisory_terms(notice, alice, bob):
    client_for(alice).get(change_url(notice))
    state = client_for(bob).get(reverse("admin:lockapp_notice_lock_state", args=[notice.pk])).json()
    assert state["advisory"] is True and state["view_only"] is False
    assert state["lock"]["holder"] == "Alice"
    assert "Alice is editing this record too" in state["message"]


def test_delete_and_actions_do_not_wait_for_the_holder(notice, alice, bob):
    other = Notice.objects.create(title="Parking")
    client_for(alice).get(change_url(notice))
    client_for(alice).get(change_url(other))
    bob_client = client_for(bob)
    deleted = bob_client.post(
        reverse("admin:lockapp_notice_delete", args=[notice.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not Notice.objects.filter(pk=notice.pk).exists()
    bob_client.post(
        reverse("admin:lockapp_notice_changelist"),
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )
    assert not Notice.objects.filter(pk=other.pk).exists()


def test_a_misspelt_lock_mode_is_a_check_error():
    from django.contrib import admin

    from locks.admin import LockedAdminMixin
    from locks.admin.checks import check_lock_mode

    class Misspelt(LockedAdminMixin, admin.ModelAdmin):
        lock_mode = "advisary"

    [error] = check_lock_mode(Misspelt(Notice, admin.AdminSite(name="mode-check")))
    assert error.id == "locks.E042" and "'advisory'" in error.hint
