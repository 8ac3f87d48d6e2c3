"""Models without a version column get the version guard too: the change form carries a
fingerprint of what it showed, and a save from a stale form becomes the merge screen."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.conftest import make_user
from tests.forms import posted
from tests.lockapp.models import Board, Card, Memo
from tests.test_admin_locking import client_for, hidden

pytestmark = pytest.mark.django_db


def memo_url(memo) -> str:
    return reverse("admin:lockapp_memo_change", args=[memo.pk])


def merge_choices(page) -> dict[str, str]:
    return dict(re.findall(r'name="_locks_choice_(\w+)" value="(\w+)" checked', page.text))


def test_stale_memo_save_by_another_user_is_shown_as_the_merge_screen(alice, bob, fake_clock):
    memo = Memo.objects.create(title="Plan", body="first draft", secret="s")
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(memo_url(memo))
    assert hidden(alice_page, "_locks_fingerprint")
    fake_clock.advance(60)  # Alice is away, her lock lapses; Bob edits and saves
    bob_page = bob_client.get(memo_url(memo))
    saved = bob_client.post(memo_url(memo), posted(bob_page, "memo_form", body="bob's draft"))
    assert saved.status_code == 302

    merge = alice_client.post(memo_url(memo), posted(alice_page, "memo_form", title="Plan A"))
    assert merge.status_code == 200
    assert "Save merged version" in merge.text
    assert "Someone else saved this record after you opened it" in merge.text
    assert merge_choices(merge) == {"title": "yours", "body": "theirs"}
    memo.refresh_from_db()
    assert (memo.title, memo.body) == ("Plan", "bob's draft")  # nothing of Alice's yet

    stored = alice_client.post(memo_url(memo), posted(merge, "locks-merge-form", _continue="1"))
    assert stored.status_code == 302, stored.text[:2000]
    memo.refresh_from_db()
    assert (memo.title, memo.body, memo.secret) == ("Plan A", "bob's draft", "s")


def test_write_without_the_lock_is_caught_and_the_merge_is_checked_again(alice):
    memo = Memo.objects.create(title="Plan", body="")
    client = client_for(alice)
    page = client.get(memo_url(memo))
    Memo.objects.filter(pk=memo.pk).update(body="from a script")  # takes no lock
    merge = client.post(memo_url(memo), posted(page, "memo_form", title="Mine"))
    assert "Save merged version" in merge.text
    Memo.objects.filter(pk=memo.pk).update(body="again")
    again = client.post(memo_url(memo), posted(merge, "locks-merge-form", _continue="1"))
    assert again.status_code == 200 and "Save merged version" in again.text
    memo.refresh_from_db()
    assert (memo.title, memo.body) == ("Plan", "again")


def test_fields_the_form_does_not_show_neither_conflict_nor_revert(alice):
    memo = Memo.objects.create(title="Plan", body="", secret="old")
    client = client_for(alice)
    page = client.get(memo_url(memo))
    Memo.objects.filter(pk=memo.pk).update(secret="rotated")  # `secret` is excluded
    saved = client.post(memo_url(memo), posted(page, "memo_form", title="Plan B"))
    assert saved.status_code == 302
    memo.refresh_from_db()
    assert (memo.title, memo.secret) == ("Plan B", "rotated")


def test_a_forged_fingerprint_is_refused(alice):
    memo = Memo.objects.create(title="Plan", body="")
    client = client_for(alice)
    page = client.get(memo_url(memo))
    forged = client.post(
        memo_url(memo), posted(page, "memo_form", title="Mine", _locks_fingerprint="0" * 64)
    )
    assert "Save merged version" in forged.text
    missing = posted(page, "memo_form", title="Mine")
    missing.pop("_locks_fingerprint")
    assert "Save merged version" in client.post(memo_url(memo), missing).text
    memo.refresh_from_db()
    assert memo.title == "Plan"


def test_auth_user_gets_the_merge_screen_in_the_demo(db):
    admin = make_user("root", superuser=True)
    dora = make_user("dora")
    url = reverse("admin:auth_user_change", args=[dora.pk])
    client = client_for(admin)
    page = client.get(url)
    assert "You are editing this record" in page.text
    assert hidden(page, "_locks_fingerprint")
    # Dora changes her own e-mail address through the site (no lock involved)
    User.objects.filter(pk=dora.pk).update(email="dora@new.example.com")

    merge = client.post(url, posted(page, "user_form", first_name="Dorothea"))
    assert merge.status_code == 200
    assert "Save merged version" in merge.text
    assert merge_choices(merge) == {"first_name": "yours", "email": "theirs"}
    saved = client.post(url, posted(merge, "locks-merge-form", _continue="1"))
    assert saved.status_code == 302, saved.text[:2000]
    dora.refresh_from_db()
    assert (dora.first_name, dora.email) == ("Dorothea", "dora@new.example.com")


def test_auth_user_is_read_only_for_others_while_held(db):
    root, admin2 = make_user("root", superuser=True), make_user("root2", superuser=True)
    dora = make_user("dora")
    url = reverse("admin:auth_user_change", args=[dora.pk])
    client_for(root).get(url)
    page = client_for(admin2).get(url)
    assert "Root is editing since" in page.text
    assert 'name="_save"' not in page.text


def test_inline_rows_are_part_of_the_fingerprint(db):
    root = make_user("root", superuser=True)
    board = Board.objects.create(name="Sprint 1")
    card = Card.objects.create(board=board, text="Write docs")
    url = reverse("admin:lockapp_board_change", args=[board.pk])
    client = client_for(root)
    page = client.get(url)
    Card.objects.filter(pk=card.pk).update(text="Write the docs")  # only a row changed

    merge = client.post(url, posted(page, "board_form", name="Sprint 2"))
    assert "Save merged version" in merge.text
    assert "only they changed this row" in merge.text
    saved = client.post(url, posted(merge, "locks-merge-form", _continue="1"))
    assert saved.status_code == 302, saved.text[:2000]
    board.refresh_from_db()
    card.refresh_from_db()
    assert (board.name, card.text) == ("Sprint 2", "Write the docs")
