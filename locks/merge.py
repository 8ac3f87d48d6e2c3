"""The merge screen: base (what you opened), theirs (what is stored now) and yours, per field.

The change form carries a signed snapshot of the values it was opened with, so a refused save
can tell "you changed this" from "they changed this" and only asks where both did.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.core import signing
from django.db import models
from django.http import QueryDict

BASE_FIELD = "_locks_base"
CHOICE_PREFIX = "_locks_choice_"
_SALT = "locks.merge.base"


def _normalise(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\x1f".join(_normalise(v) for v in value)
    return str(value).replace("\r\n", "\n")


def form_values(form: forms.BaseForm) -> dict[str, str]:
    """The values an unbound form shows for its instance, as the browser would post them."""
    values = {}
    for name, bound in form.fields.items():
        initial = form.get_initial_for_field(bound, name)
        values[name] = _normalise(bound.prepare_value(initial))
    return values


def posted_values(form: forms.BaseForm) -> dict[str, str]:
    return {name: _normalise(form[name].data) for name in form.fields}


def sign_base(values: dict[str, str]) -> str:
    return signing.dumps(values, salt=_SALT, compress=True)


def read_base(token: str | None) -> dict[str, str] | None:
    if not token:
        return None
    try:
        return signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None


def display(field: forms.Field, value: str) -> str:
    """A value as a person reads it: choice labels, related records' names."""
    if value == "":
        return ""
    if isinstance(field, forms.ModelChoiceField):
        obj = field.queryset.filter(pk=value).first()
        return str(obj) if obj is not None else value
    choices = getattr(field, "choices", None)
    if choices is not None:
        labels = {str(k): str(v) for k, v in _flat(choices)}
        return labels.get(value, value)
    return value


def _flat(choices):
    for key, label in choices:
        if isinstance(label, (list, tuple)):
            yield from _flat(label)
        else:
            yield key, label


@dataclass(frozen=True)
class MergeField:
    name: str
    label: str
    base: str
    theirs: str
    yours: str
    theirs_display: str
    yours_display: str
    conflict: bool  # both sides changed it, differently

    @property
    def default(self) -> str:
        """Keep what changed: yours if only you changed it or both did, theirs otherwise."""
        if self.yours == self.base and self.theirs != self.base:
            return "theirs"
        return "yours"


def merge_fields(
    form_class, current: models.Model, bound_form: forms.BaseForm, base_token: str | None
) -> list[MergeField]:
    """Every field where the stored value and the submitted value differ."""
    theirs = form_values(form_class(instance=current))
    yours = posted_values(bound_form)
    base = read_base(base_token) or {}
    result = []
    for name, field in bound_form.fields.items():
        if theirs.get(name, "") == yours.get(name, ""):
            continue
        b = base.get(name, theirs.get(name, ""))
        result.append(
            MergeField(
                name=name,
                label=str(field.label or name),
                base=b,
                theirs=theirs.get(name, ""),
                yours=yours.get(name, ""),
                theirs_display=display(field, theirs.get(name, "")),
                yours_display=display(field, yours.get(name, "")),
                conflict=b != theirs.get(name, "") and b != yours.get(name, ""),
            )
        )
    return result


def apply_choices(post: QueryDict, form_class, current: models.Model) -> QueryDict:
    """The submitted merge: where the user chose "theirs", put the stored value back."""
    merged = post.copy()
    theirs = form_values(form_class(instance=current))
    for key in list(merged.keys()):
        if not key.startswith(CHOICE_PREFIX) or merged.get(key) != "theirs":
            continue
        name = key[len(CHOICE_PREFIX) :]
        if name in theirs:
            merged.setlist(name, theirs[name].split("\x1f") if theirs[name] else [""])
    merged[BASE_FIELD] = sign_base(theirs)
    return merged
