"""The lock's inputs travel with the change form's class, so every template renders them."""

from __future__ import annotations

from django import forms

from ..merge import BASE_FIELD
from .context import FINGERPRINT_FIELD, LEASE_FIELD, VERSION_FIELD

TOKEN_FIELDS = (LEASE_FIELD, VERSION_FIELD, FINGERPRINT_FIELD, BASE_FIELD)


class LockTokenField(forms.CharField):
    """A value the lock needs back with the POST: this tab's lease, the version (or, without
    a version column, the fingerprint) the form was based on, the signed values it showed.
    Hidden; rendered from the page's current lock (never from what was posted, which may be
    stale) and never a change to the record."""

    lock_token = True
    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def bound_data(self, data, initial):
        return initial

    def has_changed(self, initial, data) -> bool:
        return False


def token_attrs() -> dict[str, LockTokenField]:
    """The token fields, to declare on a form class."""
    return {name: LockTokenField() for name in TOKEN_FIELDS}


def without_tokens(names):
    """`names` (fields or a fieldset's fields) without the token fields."""
    if names is None:
        return None
    return [name for name in names if name not in TOKEN_FIELDS]


def add_tokens(adminform, locks: dict) -> None:
    """Render the token fields (hidden) with the first fieldset, valued from the page's lock:
    every change form template renders the fieldsets."""
    form = adminform.form
    if LEASE_FIELD not in form.fields or not adminform.fieldsets:
        return
    version = locks["version"]
    form.initial.update(
        {
            LEASE_FIELD: locks["lease"],
            VERSION_FIELD: "" if version is None else version,
            FINGERPRINT_FIELD: locks["fingerprint"],
            BASE_FIELD: locks["base"],
        }
    )
    name, options = adminform.fieldsets[0]
    fields = [*without_tokens(options.get("fields", ())), *TOKEN_FIELDS]
    adminform.fieldsets[0] = (name, {**options, "fields": fields})
