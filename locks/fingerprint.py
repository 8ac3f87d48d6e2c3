"""The version guard for models without a version column (auth.User, third-party models).

The change form carries a keyed hash of the values it was rendered from: the form's fields
and its inline rows, as the admin read them. The save reads the stored row again, locked
until the transaction ends where the database allows (`SELECT ... FOR UPDATE`), computes the
same hash and refuses the save when they differ, exactly as a stale version is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django import forms
from django.db import models, router, transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from .merge import form_values, stored_rows

_SALT = "locks.fingerprint"


def _canonical(value: str | list) -> str | list:
    # Many-to-many values come in whatever order the database returns: compare them as sets.
    return sorted(value) if isinstance(value, list) else value


def fingerprint(form: forms.BaseForm, formsets: Iterable = ()) -> str:
    """A keyed hash of what an unbound change form (and its inline formsets) shows."""
    instance = form.instance
    values = {name: _canonical(value) for name, value in form_values(form).items()}
    rows = {
        formset.prefix: [[pk, [_canonical(v) for v in row]] for pk, row in stored_rows(formset)]
        for formset in formsets
    }
    payload = json.dumps(
        [instance._meta.label_lower, str(instance.pk), values, rows], sort_keys=True, default=str
    )
    return salted_hmac(_SALT, payload, algorithm="sha256").hexdigest()


def matches(posted: str | None, current: str) -> bool:
    return bool(posted) and constant_time_compare(posted, current)


def locked_row(obj: models.Model) -> models.Model | None:
    """The record as stored now; inside a transaction its row stays locked until commit (on
    databases with SELECT ... FOR UPDATE; elsewhere Django ignores the request)."""
    using = router.db_for_write(type(obj), instance=obj)
    rows = type(obj)._base_manager.using(using).filter(pk=obj.pk)
    if not transaction.get_autocommit(using):
        rows = rows.select_for_update()
    return rows.first()


def keep_stored_values(instance: models.Model, stored: models.Model) -> None:
    """Give `instance` the stored values of every concrete field (the form then sets its own),
    so fields the form does not show are saved as they are now, not as first read."""
    for field in instance._meta.concrete_fields:
        setattr(instance, field.attname, getattr(stored, field.attname))
