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
    apply_inline_choices(merged, current_formsets, read_base(post.get(BASE_FIELD)))
    merged[BASE_FIELD] = sign_base(base_with_inlines(theirs, current_formsets))
    return merged


# ---------------------------------------------------------------- inline formsets (order lines)
#
# Inline rows are merged row by row, three ways: base (the rows the page was opened with),
# theirs (the rows stored now) and yours (the rows posted). A row only one side changed,
# added or deleted keeps that side's version without asking; only a row both sides changed,
# differently, is a choice. Never is a formset's POST data from an older version saved over
# rows someone else changed.

INLINE_CHOICE_PREFIX = "_locks_inline_"
_SKIP = {"DELETE", "ORDER"}

Row = list  # [pk (text, "" for a new row), [values in _row_fields order]]


def _row_fields(formset) -> list[str]:
    skip = {*_SKIP, formset.model._meta.pk.name}
    if getattr(formset, "fk", None) is not None:
        skip.add(formset.fk.name)
    return [name for name in formset.form.base_fields if name not in skip]


def stored_rows(formset) -> list[Row]:
    """The rows an unbound inline formset shows: [pk, [values…]] each."""
    names = _row_fields(formset)
    rows = []
    for form in formset.initial_forms:
        values = form_values(form)
        rows.append([str(form.instance.pk), [values.get(n, "") for n in names]])
    return rows


def posted_rows(formset, data: QueryDict | None = None) -> list[Row]:
    """The rows a post would save for this inline: kept and new ones, not deleted ones, not
    untouched extra forms. Read from `data` by the formset's own widgets and prefixes."""
    data = formset.data if data is None else data
    names = _row_fields(formset)
    fields = formset.form.base_fields
    pk_name = formset.model._meta.pk.name

    def value(index: int, name: str):
        widget = fields[name].widget if name in fields else forms.HiddenInput()
        return widget.value_from_datadict(data, {}, f"{formset.prefix}-{index}-{name}")

    try:
        total = int(data.get(f"{formset.prefix}-TOTAL_FORMS", 0))
        initial = int(data.get(f"{formset.prefix}-INITIAL_FORMS", 0))
    except (TypeError, ValueError):
        return []
    rows = []
    for index in range(min(total, formset.absolute_max)):
        if formset.can_delete and str(value(index, "DELETE")).lower() in {"on", "true", "1"}:
            continue
        if index >= initial:
            form = formset.form(
                data=data,
                prefix=f"{formset.prefix}-{index}",
                empty_permitted=True,
                use_required_attribute=False,
            )
            if not form.has_changed():
                continue  # an untouched extra form
            pk = ""
        else:
            pk = _normalise(value(index, pk_name))
        rows.append([pk, [_normalise(value(index, n)) for n in names]])
    return rows


def formset_post(formset, rows: list[Row] | None = None, deleted=frozenset()) -> dict[str, list]:
    """POST data that saves `rows` (default: exactly the rows an unbound formset shows):
    stored rows first, in the formset's order, those in `deleted` marked for deletion; rows
    with no pk are added."""
    names = _row_fields(formset)
    pk_name = formset.model._meta.pk.name
    stored = [str(form.instance.pk) for form in formset.initial_forms]
    rows = stored_rows(formset) if rows is None else rows
    by_pk = {pk: values for pk, values in rows if pk}
    new = [values for pk, values in rows if not pk]
    data = {
        formset.add_prefix("TOTAL_FORMS"): [str(len(stored) + len(new))],
        formset.add_prefix("INITIAL_FORMS"): [str(len(stored))],
        formset.add_prefix("MIN_NUM_FORMS"): [str(formset.min_num)],
        formset.add_prefix("MAX_NUM_FORMS"): [str(formset.max_num)],
    }
    original = dict(stored_rows(formset))
    for index, pk in enumerate(stored):
        values = by_pk.get(pk, original[pk])
        data[f"{formset.prefix}-{index}-{pk_name}"] = [pk]
        if pk in deleted:
            data[f"{formset.prefix}-{index}-DELETE"] = ["on"]
        for name, value in zip(names, values, strict=True):
            data[f"{formset.prefix}-{index}-{name}"] = value if isinstance(value, list) else [value]
    for offset, values in enumerate(new):
        index = len(stored) + offset
        data[f"{formset.prefix}-{index}-{pk_name}"] = [""]
        for name, value in zip(names, values, strict=True):
            data[f"{formset.prefix}-{index}-{name}"] = value if isinstance(value, list) else [value]
    return data


def row_display(formset, values: list | None) -> str:
    if values is None:
        return ""
    names = _row_fields(formset)
    fields = formset.form.base_fields
    return ", ".join(
        f"{fields[n].label or n}: {display(fields[n], v) if isinstance(v, str) else v}"
        for n, v in zip(names, values, strict=True)
    )


@dataclass(frozen=True)
class MergeRow:
    """One inline row that differs between theirs and yours."""

    key: str  # the row's choice input is _locks_inline_<prefix>-<key>
    theirs: list | None  # None: not there (deleted, or never added)
    yours: list | None
    theirs_display: str
    yours_display: str
    decision: str  # "theirs" or "yours" when only one side changed it; "" when both did

    @property
    def note(self) -> str:
        """What happened to the row, for the merge screen: "theirs", "they added", "they
        deleted", the same for "you"/"yours", or "both"."""
        if not self.decision:
            return "both"
        kept, other = (
            (self.theirs, self.yours) if self.decision == "theirs" else (self.yours, self.theirs)
        )
        who = "they" if self.decision == "theirs" else "you"
        if kept is None:
            return f"{who} deleted"
        return f"{who} added" if other is None else self.decision


@dataclass(frozen=True)
class MergeInline:
    prefix: str
    label: str
    rows: list[MergeRow]

    @property
    def decision(self) -> str:
        """ "" when any row is a choice, else the side every row keeps ("both" if mixed)."""
        decisions = {row.decision for row in self.rows}
        if "" in decisions:
            return ""
        return decisions.pop() if len(decisions) == 1 else "both"


def merge_rows(base: list[Row] | None, theirs: list[Row], yours: list[Row]) -> list[tuple]:
    """Row-by-row three-way merge: (key, theirs values, yours values, decision) for each row
    that differs. Without a base (an old page) every differing row is a choice."""
    base_map = None if base is None else dict(base)
    theirs_map = dict(theirs)
    yours_map = {pk: values for pk, values in yours if pk}
    order = list(dict.fromkeys([*theirs_map, *yours_map, *(base_map or {})]))
    result = []
    for pk in order:
        t, y = theirs_map.get(pk), yours_map.get(pk)
        if t == y:
            continue
        b = None if base_map is None else base_map.get(pk)
        if base_map is not None and y == b:
            decision = "theirs"  # you did not touch this row (or never had it)
        elif base_map is not None and t == b:
            decision = "yours"
        else:
            decision = ""
        result.append((pk, t, y, decision))
    for index, (pk, values) in enumerate(yours):
        if not pk:
            result.append((f"new{index}", None, values, "yours"))  # only you added it
    return result


def merge_inlines(bound_formsets, current_formsets, base: dict | None) -> list[MergeInline]:
    """Per inline formset, the rows that differ: decided where one side changed a row,
    asked where both did."""
    base_rows = None if base is None else base.get("__inlines__", {})
    result = []
    for bound, stored in zip(bound_formsets, current_formsets, strict=True):
        before = None if base_rows is None else base_rows.get(bound.prefix)
        merged = merge_rows(before, stored_rows(stored), posted_rows(bound))
        if not merged:
            continue
        rows = [
            MergeRow(key, t, y, row_display(stored, t), row_display(bound, y), decision)
            for key, t, y, decision in merged
        ]
        result.append(
            MergeInline(
                prefix=bound.prefix,
                label=str(bound.model._meta.verbose_name_plural),
                rows=rows,
            )
        )
    return result


def base_with_inlines(values: dict, formsets) -> dict:
    return {**values, "__inlines__": {fs.prefix: stored_rows(fs) for fs in formsets}}


def apply_inline_choices(post: QueryDict, current_formsets, base: dict | None = None) -> None:
    """The formset data becomes the merged rows: the stored rows, with the rows only you
    changed, added or deleted taken from your post, and each row both sides changed taken
    from the side chosen for it (`_locks_inline_<prefix>-<pk>`; `_locks_inline_<prefix>`
    chooses for every such row of the inline; yours when nothing was chosen)."""
    base_rows = None if base is None else base.get("__inlines__", {})
    for formset in current_formsets:
        theirs = stored_rows(formset)
        yours = posted_rows(formset, post)
        before = None if base_rows is None else base_rows.get(formset.prefix)
        merged = merge_rows(before, theirs, yours)
        if not merged:
            continue
        overall = post.get(INLINE_CHOICE_PREFIX + formset.prefix, "yours")
        rows = dict(theirs)
        deleted, added = set(), []
        for key, t, y, decision in merged:
            side = decision or post.get(f"{INLINE_CHOICE_PREFIX}{formset.prefix}-{key}", overall)
            if side != "yours":
                continue
            if t is None:
                added.append(["", y])  # yours only: new, or kept although they deleted it
            elif y is None:
                deleted.add(key)
            else:
                rows[key] = y
        for key in [k for k in post if k.startswith(formset.prefix + "-")]:
            del post[key]
        for key, values in formset_post(formset, [*rows.items(), *added], deleted).items():
            post.setlist(key, values)
