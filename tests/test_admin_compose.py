"""The lock composes with the admin's own templates: a ModelAdmin's own templates, per-model
and per-app overrides stay in force, and locking and saving still work under them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.lockapp.models import Memo, Page
from tests.test_admin_locking import client_for, hidden

pytestmark = pytest.mark.django_db


def url(obj, view: str = "change") -> str:
    return reverse(f"admin:lockapp_{obj._meta.model_name}_{view}", args=[obj.pk])


def lock_inputs(page) -> dict[str, str]:
    return {
        name: hidden(page, name)
        for name in ("_locks_lease", "_locks_version", "_locks_fingerprint", "_locks_base")
    }


def test_own_change_form_template_is_used_locks_and_saves(alice, bob):
    record = Page.objects.create(title="Draft")
    alice_client = client_for(alice)
    page = alice_client.get(url(record))
    assert "page-own-template" in page.text  # the ModelAdmin's own template
    assert "You are editing this record" in page.text  # and the lock's banner
    assert "locks/locks.js" in page.text and "locks/locks.css" in page.text

    bob_page = client_for(bob).get(url(record))
    assert "page-own-template" in bob_page.text
    assert "Alice is editing since" in bob_page.text
    assert 'name="_save"' not in bob_page.text  # read-only for everyone else

    for shown in (page, bob_page):  # the declared fieldsets are not extended in place
        assert shown.text.count('name="_locks_lease"') == 1
    saved = alice_client.post(url(record), {"title": "Final", **lock_inputs(page), "_save": "1"})
    assert saved.status_code == 302
    record.refresh_from_db()
    assert record.title == "Final"


def test_own_template_still_refuses_a_save_without_the_lease(alice, bob):
    record = Page.objects.create(title="Draft")
    client_for(alice).get(url(record))
    bob_client = client_for(bob)
    bob_page = bob_client.get(url(record))
    refused = bob_client.post(url(record), {"title": "Bob's", **lock_inputs(bob_page)})
    assert refused.status_code == 200
    assert "Alice is editing this record now" in refused.text
    record.refresh_from_db()
    assert record.title == "Draft"


def test_per_model_override_is_used_with_exclude_and_no_version_column(alice, bob):
    memo = Memo.objects.create(title="Plan", body="", secret="kept")
    alice_client = client_for(alice)
    page = alice_client.get(url(memo))
    assert "memo-override" in page.text  # admin/lockapp/memo/change_form.html
    assert "You are editing this record" in page.text
    assert 'name="secret"' not in page.text  # the ModelAdmin's exclude still applies
    assert lock_inputs(page)["_locks_version"] == ""  # nothing to compare without a column

    assert "Alice is editing since" in client_for(bob).get(url(memo)).text

    for title in ("Plan B", "Plan C"):  # save and continue keeps the lock for the next save
        saved = alice_client.post(
            url(memo), {"title": title, "body": "", **lock_inputs(page), "_continue": "1"}
        )
        assert saved.status_code == 302, saved.text
        page = alice_client.get(saved["Location"])
    memo.refresh_from_db()
    assert (memo.title, memo.secret) == ("Plan C", "kept")


def test_per_app_change_list_override_keeps_the_badges(alice, bob):
    memo = Memo.objects.create(title="Plan")
    client_for(alice).get(url(memo))
    page = client_for(bob).get(reverse("admin:lockapp_memo_changelist"))
    assert "lockapp-list-override" in page.text  # admin/lockapp/change_list.html
    assert 'id="locks-list"' in page.text
    assert "✎ Alice" in page.text
    assert "locks/locks.js" in page.text


def test_own_delete_template_keeps_the_lease_and_deletes(alice):
    record = Page.objects.create(title="Old")
    client = client_for(alice)
    page = client.get(url(record, "delete"), follow=True)
    assert "page-own-delete" in page.text  # the ModelAdmin's own template
    assert 'id="locks-page"' in page.text
    deleted = client.post(
        page.request["PATH_INFO"] + "?" + page.request["QUERY_STRING"], {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not Page.objects.filter(pk=record.pk).exists()
