"""`list_editable` keeps the version guard (issue 10): a row someone else saved after the
list was loaded is never overwritten from the stale list; the other rows are saved. Driven
through the demo's customer change list (status and phone are editable there)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from records.models import Customer

pytestmark = pytest.mark.django_db

LIST = reverse("admin:records_customer_changelist")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def list_post(page: str, **changes: str) -> dict[str, str]:
    """What the browser posts from the loaded list, with some inputs changed
    (`form-0-phone="..."`)."""
    data = dict(
        re.findall(r'<input type="(?:hidden|text)" name="(form-[^"]+)" value="([^"]*)"', page)
    )
    data.update(re.findall(r'<input type="hidden" name="(form-[A-Z_]+)" value="([^"]*)"', page))
    for name, select in re.findall(
        r'<select name="(form-\d+-\w+)"[^>]*>(.*?)</select>', page, re.S
    ):
        data[name] = re.search(r'<option value="([^"]*)" selected', select).group(1)
    for name in re.findall(r'<input type="text" name="(form-\d+-\w+)"(?! value)', page):
        data.setdefault(name, "")
    data.update({key.replace("__", "-"): value for key, value in changes.items()})
    data["_save"] = "Save"
    return data


def row_of(page: str, customer: Customer) -> str:
    index = re.search(rf'name="form-(\d+)-id" value="{customer.pk}"', page).group(1)
    return f"form__{index}"


@pytest.fixture
def two(customer):
    grace = Customer.objects.create(name="Grace Hopper", email="grace@example.com")
    return customer, grace


def test_stale_row_is_refused_other_rows_are_saved(alice, bob, two):
    ada, grace = two
    page = client_for(bob).get(LIST).content.decode()
    assert 'name="form-0-_locks_row"' in page
    # someone saves ada's status after bob loaded the list
    stored = Customer.objects.get(pk=ada.pk)
    stored.status = "inactive"
    stored.save()

    response = client_for(bob).post(
        LIST,
        list_post(
            page,
            **{f"{row_of(page, ada)}__phone": "+1 555 0101"},
            **{f"{row_of(page, grace)}__phone": "+1 555 0202"},
        ),
        follow=True,
    )
    text = response.content.decode()
    assert "“Ada Lovelace” was not saved: someone else saved it after you loaded this list." in text
    assert "Your change (Phone: “+1 555 0101”) was left out" in text
    assert "1 customer was changed successfully." in text
    ada.refresh_from_db()
    grace.refresh_from_db()
    assert (ada.status, ada.phone) == ("inactive", "")
    assert grace.phone == "+1 555 0202"


def test_stale_list_never_puts_back_a_status_someone_saved(alice, bob, two):
    """The acceptance check: bob's post changes only grace's phone; the status alice saved
    on ada stays, and bob is not bothered about a row he did not touch."""
    ada, grace = two
    page = client_for(bob).get(LIST).content.decode()
    alice_page = client_for(alice).get(LIST).content.decode()
    client_for(alice).post(
        LIST, list_post(alice_page, **{f"{row_of(alice_page, ada)}__status": "inactive"})
    )
    ada.refresh_from_db()
    assert ada.status == "inactive"

    response = client_for(bob).post(
        LIST, list_post(page, **{f"{row_of(page, grace)}__phone": "+1 555 0202"}), follow=True
    )
    assert "was not saved" not in response.content.decode()
    ada.refresh_from_db()
    grace.refresh_from_db()
    assert (ada.status, grace.phone) == ("inactive", "+1 555 0202")


def test_row_posted_without_what_it_was_loaded_as_is_refused(bob, two):
    ada, _ = two
    page = client_for(bob).get(LIST).content.decode()
    data = list_post(page, **{f"{row_of(page, ada)}__status": "inactive"})
    data = {key: value for key, value in data.items() if not key.endswith("_locks_row")}
    response = client_for(bob).post(LIST, data, follow=True)
    assert "“Ada Lovelace” was not saved" in response.content.decode()
    ada.refresh_from_db()
    assert ada.status == "active"


def test_fresh_list_saves(bob, two):
    ada, _ = two
    page = client_for(bob).get(LIST).content.decode()
    response = client_for(bob).post(
        LIST, list_post(page, **{f"{row_of(page, ada)}__status": "inactive"})
    )
    assert response.status_code == 302
    ada.refresh_from_db()
    assert (ada.status, ada.version) == ("inactive", 2)


def test_stale_row_with_an_input_the_page_lost_does_not_hold_up_the_others(bob, two):
    """A page whose script replaced a stale row's select by text posts the row without it:
    the row is refused as stale, not reported as invalid, and the other rows are saved."""
    ada, grace = two
    page = client_for(bob).get(LIST).content.decode()
    stored = Customer.objects.get(pk=ada.pk)
    stored.status = "inactive"
    stored.save()
    data = list_post(
        page,
        **{f"{row_of(page, ada)}__phone": "+1 555 0101"},
        **{f"{row_of(page, grace)}__phone": "+1 555 0202"},
    )
    del data[f"{row_of(page, ada).replace('__', '-')}-status"]
    text = client_for(bob).post(LIST, data, follow=True).content.decode()
    assert "Your change (Phone: “+1 555 0101”) was left out" in text
    ada.refresh_from_db()
    grace.refresh_from_db()
    assert (ada.status, ada.phone, grace.phone) == ("inactive", "", "+1 555 0202")


def test_model_without_a_version_column_is_guarded_by_its_values(bob):
    from tests.lockapp.admin import MemoAdmin
    from tests.lockapp.models import Memo

    memo = Memo.objects.create(title="Plan", body="draft")
    url = reverse("admin:lockapp_memo_changelist")
    MemoAdmin.list_display, MemoAdmin.list_editable = ["title", "body"], ["body"]
    try:
        page = client_for(bob).get(url).content.decode()
        Memo.objects.filter(pk=memo.pk).update(body="final")  # saved by someone else
        data = list_post(page, form__0__body="bob's text")
        text = client_for(bob).post(url, data, follow=True).content.decode()
        assert "“Plan” was not saved: someone else saved it after you loaded this list." in text
        memo.refresh_from_db()
        assert memo.body == "final"
        page = client_for(bob).get(url).content.decode()  # a fresh list saves
        client_for(bob).post(url, list_post(page, form__0__body="bob's text"))
        memo.refresh_from_db()
        assert memo.body == "bob's text"
    finally:
        MemoAdmin.list_display, MemoAdmin.list_editable = ["__str__"], []
