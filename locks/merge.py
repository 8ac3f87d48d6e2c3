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


def _normalise(value) -> str | list:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return str(value).replace("\r\n", "\n")


def record_fields(form: forms.BaseForm) -> dict[str, forms.Field]:
    """The form's fields that edit the record (not the lock's own hidden inputs)."""
    return {n: f for n, f in form.fields.items() if not getattr(f, "lock_token", False)}


def form_values(form: forms.BaseForm) -> dict[str, str]:
    """The values an unbound form shows for its instance, as the browser would post them."""
    values = {}
    for name, bound in record_fields(form).items():
        initial = form.get_initial_for_field(bound, name)
        values[name] = _normalise(bound.prepare_value(initial))
    return values


def posted_values(form: forms.BaseForm) -> dict[str, str]:
    return {name: _normalise(form[name].data) for name in record_fields(form)}


def sign_base(values: dict[str, str]) -> str:
    return signing.dumps(values, salt=_SALT, compress=True)


def read_base(token: str | None) -> dict[str, str] | None:
    if not token:
        return None
    try:
        return signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None


def display(field: forms.Field, value: str | list) -> str:
    """A value as a person reads it: choice labels, related records' names."""
    if isinstance(value, list):
        return ", ".join(display(field, v) for v in value)
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
    def yours_values(self) -> list[str]:
        """The submitted value(s), for the merge form's hidden inputs."""
        return self.yours if isinstance(self.yours, list) else [self.yours]

    @property
    def default(self) -> str:
        """Keep what changed: yours if only you changed it or both did, theirs otherwise."""
        if self.yours == self.base and self.theirs != self.base:
            return "theirs"
        return "yours"


def merge_fields(
    form_class, current: models.Model, bound_form: forms.BaseForm, base_token: str | None
) -> list[MergeField]:
    """Every field where the stored value and the submitted value differ (as the field itself
    compares them: a split date and time, a set of choices; disabled fields are never posted)."""
    stored_form = form_class(instance=current)
    theirs = form_values(stored_form)
    yours = posted_values(bound_form)
    base = read_base(base_token) or {}
    result = []
    for name, field in record_fields(bound_form).items():
        if theirs.get(name, "") == yours.get(name, "") or field.disabled:
            continue
        if name in stored_form.fields and not field.has_changed(
            stored_form.get_initial_for_field(stored_form.fields[name], name), bound_form[name].data
        ):
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


def apply_choices(
    post: QueryDict, form_class, current: models.Model, current_formsets=()
) -> QueryDict:
    """The submitted merge: where the user chose "theirs", put the stored value back."""
    merged = post.copy()
    theirs = form_values(form_class(instance=current))
    for key in list(merged.keys()):
        if not key.startswith(CHOICE_PREFIX) or merged.get(key) != "theirs":
            continue
        name = key[len(CHOICE_PREFIX) :]
        if name in theirs:
            value = theirs[name]
            merged.setlist(name, value if isinstance(value, list) else [value])
    apply_inline_choices(merged, current_formsets)
    merged[BASE_FIELD] = sign_base(base_with_inlines(theirs, current_formsets))
    return merged


# ---------------------------------------------------------------- inline formsets (order lines)
#
# Inline rows are merged as a whole per formset: if only one side changed the rows, that
# side is kept without asking; if both did, the user chooses. Never is a formset's POST data
# from an older version saved over rows someone else changed.

INLINE_CHOICE_PREFIX = "_locks_inline_"
_SKIP = {"DELETE", "ORDER"}


def _row_fields(formset) -> list[str]:
    skip = {*_SKIP, formset.model._meta.pk.name}
    if getattr(formset, "fk", None) is not None:
        skip.add(formset.fk.name)
    return [name for name in formset.form.base_fields if name not in skip]


def stored_rows(formset) -> list[list]:
    """The rows an unbound inline formset shows: [pk, [values…]] each."""
    names = _row_fields(formset)
    rows = []
    for form in formset.initial_forms:
        values = form_values(form)
        rows.append([str(form.instance.pk), [values.get(n, "") for n in names]])
    return rows


def posted_rows(formset) -> list[list]:
    """The rows a bound inline formset would save: kept and new ones, not deleted ones."""
    names = _row_fields(formset)
    rows = []
    for index, form in enumerate(formset.forms):
        initial = index < formset.initial_form_count()
        if not initial and not form.has_changed():
            continue  # an untouched extra form
        if formset.can_delete and str(form["DELETE"].data).lower() in {"on", "true", "1"}:
            continue
        pk = str(form.instance.pk) if initial and form.instance.pk is not None else ""
        rows.append([pk, [_normalise(form[n].data) for n in names]])
    return rows


def formset_post(formset) -> dict[str, list[str]]:
    """POST data that saves exactly the rows an unbound formset shows (no extra forms)."""
    data = {
        formset.add_prefix("TOTAL_FORMS"): [str(formset.initial_form_count())],
        formset.add_prefix("INITIAL_FORMS"): [str(formset.initial_form_count())],
        formset.add_prefix("MIN_NUM_FORMS"): [str(formset.min_num)],
        formset.add_prefix("MAX_NUM_FORMS"): [str(formset.max_num)],
    }
    for form in formset.initial_forms:
        for name, value in form_values(form).items():
            if name in _SKIP:
                continue
            data[form.add_prefix(name)] = value if isinstance(value, list) else [value]
    return data


def rows_display(formset, rows: list[list]) -> str:
    labels = [str(formset.form.base_fields[n].label or n) for n in _row_fields(formset)]
    if not rows:
        return ""
    return "\n".join(
        ", ".join(
            f"{label}: {display(formset.form.base_fields[n], v) if isinstance(v, str) else v}"
            for label, n, v in zip(labels, _row_fields(formset), values, strict=True)
        )
        for _, values in rows
    )


@dataclass(frozen=True)
class MergeInline:
    prefix: str
    label: str
    theirs_display: str
    yours_display: str
    decision: str  # "theirs" or "yours" when only one side changed; "" when both did


def merge_inlines(bound_formsets, current_formsets, base: dict | None) -> list[MergeInline]:
    """Per inline formset, what to keep: decided when one side changed, asked when both did."""
    base_rows = (base or {}).get("__inlines__", {})
    result = []
    for bound, stored in zip(bound_formsets, current_formsets, strict=True):
        yours, theirs = posted_rows(bound), stored_rows(stored)
        if yours == theirs:
            continue
        before = base_rows.get(bound.prefix)
        if before is not None and yours == before:
            decision = "theirs"  # you did not touch these rows; keep what was saved
        elif before is not None and theirs == before:
            decision = "yours"
        else:
            decision = ""
        result.append(
            MergeInline(
                prefix=bound.prefix,
                label=str(bound.model._meta.verbose_name_plural),
                theirs_display=rows_display(stored, theirs),
                yours_display=rows_display(bound, yours),
                decision=decision,
            )
        )
    return result


def base_with_inlines(values: dict, formsets) -> dict:
    return {**values, "__inlines__": {fs.prefix: stored_rows(fs) for fs in formsets}}


def apply_inline_choices(post: QueryDict, current_formsets) -> None:
    """Where "theirs" was chosen (or decided), the formset's data becomes the stored rows."""
    for formset in current_formsets:
        if post.get(INLINE_CHOICE_PREFIX + formset.prefix) != "theirs":
            continue
        for key in [k for k in post if k.startswith(formset.prefix + "-")]:
            del post[key]
        for key, values in formset_post(formset).items():
            post.setlist(key, values)
