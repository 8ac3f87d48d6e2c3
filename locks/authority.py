"""Who may see what, live: the answer of the ModelAdmin registered for the model.

The socket, the HTTP state endpoint and every event payload ask the same questions the admin
asks for an HTTP request by that user: is the row in `get_queryset(request)`, does
`has_view_permission(request, obj)` (or change) allow it, and which fields does that user's
change form show. A model without a locked ModelAdmin is not served at all.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.sites import all_sites
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.sql.constants import LOUTER
from django.http import HttpRequest

from . import inlines

# ModelAdmin methods whose answer may depend on the row or on the user beyond model
# permissions. When a locked ModelAdmin overrides none of them, a grant made at subscription
# holds until the user's rights change; otherwise it is asked again for every record event.
ROW_SENSITIVE = (
    "get_queryset",
    "has_view_permission",
    "has_change_permission",
    "has_view_or_change_permission",
    "get_fields",
    "get_fieldsets",
    "get_exclude",
    "get_readonly_fields",
    "get_form",
    "get_inlines",
    "get_inline_instances",
    "get_formset",
)
ROW_SENSITIVE_BUT_QUERYSET = tuple(hook for hook in ROW_SENSITIVE if hook != "get_queryset")


# The hooks that decide which fields a change form shows. When a ModelAdmin's class answers
# none of them itself, Django's answer depends on neither the user nor the row (`get_form`
# is asked with change=False), so the field set is worked out once per ModelAdmin.
FIELD_HOOKS = ("get_fields", "get_fieldsets", "get_exclude", "get_readonly_fields", "get_form")


@dataclass(frozen=True)
class InlineGrant:
    """One inline this user's change form shows: where (its formset prefix), which of its
    fields, in column order, and, when the inline's own `get_queryset` chooses its rows,
    which rows (by primary key as text; None: every row of the record)."""

    model: str  # app_label.model_name of the inline's rows
    fk: str  # the rows' foreign key to the record
    prefix: str
    fields: tuple[str, ...]
    rows: frozenset[str] | None = None


@dataclass(frozen=True)
class Grant:
    """What one user may see of one record: the fields whose values may travel to them.

    Hashable, so the hub encodes an event once per distinct grant, not once per socket."""

    fields: frozenset[str]
    dynamic: bool = False  # ask the ModelAdmin again on every record event
    console: bool = False
    inlines: tuple[InlineGrant, ...] = ()


class Grants(dict):
    """One socket's grants by topic. After every change `Grants.changes` takes a new value
    (this process, all sockets), so the hub may keep a topic's sockets grouped by grant from
    one event to the next and groups them again once any grant changed (locks.hub).

    The value is a fresh number from one counter, set after the change is made: sockets
    change grants on the database thread while the hub reads them on the event loop, and a
    value is never set twice, so a grouping made before a change can never match after it."""

    changes = 0

    def _changed(self) -> None:
        Grants.changes = next(_grant_changes)

    def __setitem__(self, key: str, value: Grant) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            self._changed()

    def popitem(self) -> tuple[str, Grant]:
        try:
            return super().popitem()
        finally:
            self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        try:
            return super().setdefault(key, default)
        finally:
            self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __ior__(self, other: Any) -> Grants:
        try:
            return super().__ior__(other)
        finally:
            self._changed()


_grant_changes = itertools.count(1)


CONSOLE = Grant(frozenset(), console=True)
"""The lock console's grant: lock events as the console page shows them, no record values."""


def locked_admin(model: type[models.Model]):
    """The ModelAdmin with `LockedAdminMixin` registered for `model`, or None."""
    from .admin import LockedAdminMixin

    for site in sorted(all_sites, key=lambda s: s.name != "admin"):  # the default site first
        model_admin = site._registry.get(model)
        if isinstance(model_admin, LockedAdminMixin):
            return model_admin
    return None


def request_for(user, scope: dict[str, Any] | None = None) -> HttpRequest:
    """An HttpRequest standing for a socket's message, so ModelAdmin hooks can be asked."""
    request = HttpRequest()
    request.method = "GET"
    request.user = user
    if scope is not None:
        request.path = request.path_info = scope.get("path", "")
        request.session = scope.get("session")
        for name, value in scope.get("headers", []):
            key = name.decode("latin1").upper().replace("-", "_")
            if key not in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
                key = f"HTTP_{key}"
            request.META[key] = value.decode("latin1")
        request.COOKIES = dict(scope.get("cookies", {}))
    return request


def is_dynamic(model_admin, request: HttpRequest | None = None) -> bool:
    """True when the ModelAdmin's class (or one of its inlines) answers a ROW_SENSITIVE
    question itself (not Django's default, not this app's mixin), or when the model's
    default manager, where Django's own `get_queryset` starts, filters rows: the answer may
    change with the row.

    One such answer is looked at more closely, when the ModelAdmin declares
    `lock_queryset_by_user = True` (its `get_queryset` chooses what to filter from the user
    alone, not from the clock, a flag or another table) and the request is given: a queryset
    that then filters nothing for this user (it only annotates, orders or joins for display)
    shows them every row whatever its values, so a save cannot take the row out of their
    view (a deletion has an event of its own), and nothing needs asking again on every save.
    Undeclared, nothing tells what else the queryset depends on, so it is asked again."""
    classes = (type(model_admin), *getattr(model_admin, "inlines", ()))
    if not any(_overrides(admin_class, ROW_SENSITIVE) for admin_class in classes):
        # Django's own get_queryset starts from the model's default manager: one that
        # filters (a soft delete, a tenant) can lose the row to a save.
        return not _default_rows_unfiltered(model_admin.model)
    if request is None or not getattr(model_admin, "lock_queryset_by_user", False):
        return True
    if _overrides(type(model_admin), ROW_SENSITIVE_BUT_QUERYSET):
        return True
    if any(_overrides(inline, ROW_SENSITIVE) for inline in classes[1:]):
        return True
    try:
        return not shows_every_row(model_admin.get_queryset(request), model_admin.model)
    except Exception:  # asked on the socket's path: what cannot be looked into is asked again
        return True


def _default_rows_unfiltered(model: type[models.Model]) -> bool:
    """The model's default manager shows every row (no soft delete, no tenant filter)."""
    try:
        return shows_every_row(model._default_manager.all(), model)
    except Exception:  # asked on the socket's path: what cannot be looked into is asked again
        return False


def shows_every_row(queryset: Any, model: type[models.Model] | None = None) -> bool:
    """True when `queryset` cannot leave out a row of its model: no WHERE, no slice, no
    set operation, no extra SQL, and every join an outer one (an inner join could drop
    rows). Anything else counts as a filter, and so does anything but a QuerySet of `model`
    (a Manager, which the admin accepts too, a RawQuerySet, another model's rows)."""
    if not isinstance(queryset, models.QuerySet):
        return False
    if model is not None and queryset.model is not model:
        return False
    query = queryset.query
    if query.where or query.is_sliced or query.combinator or query.extra or query.extra_tables:
        return False
    # The model's own table has no join type; a join is INNER or LOUTER.
    return all(join.join_type in (None, LOUTER) for join in query.alias_map.values())


@functools.cache
def _overrides(admin_class: type, hooks: tuple[str, ...]) -> bool:
    for name in hooks:
        for klass in admin_class.__mro__:
            if name in vars(klass):
                module = klass.__module__
                if not module.startswith(("django.contrib.", "locks.")):
                    return True
                break
    return False


_static_fields: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def visible_fields(model_admin, request: HttpRequest, obj: models.Model | None) -> frozenset[str]:
    """Names of the model fields that user's change form shows for `obj` (editable or
    read-only), as the admin lays them out: fieldsets, fields, exclude.

    Asked for every subscription; a ModelAdmin that answers no FIELD_HOOKS itself shows
    every user every row the same fields, so its answer is kept (per ModelAdmin instance,
    never per user), and building its form class is not repeated for each socket."""
    if obj is None or _overrides(type(model_admin), FIELD_HOOKS):
        return _visible_fields(model_admin, request, obj)
    fields = _static_fields.get(model_admin)
    if fields is None:
        fields = _static_fields[model_admin] = _visible_fields(model_admin, request, obj)
    return fields


def _visible_fields(model_admin, request: HttpRequest, obj: models.Model | None) -> frozenset[str]:
    shown = set(flatten_fieldsets(model_admin.get_fieldsets(request, obj)))
    concrete = {f.name for f in model_admin.model._meta.concrete_fields}
    return frozenset(shown & concrete - {"version"})


def may_view(model_admin, request: HttpRequest, obj: models.Model) -> bool:
    return bool(
        model_admin.has_view_permission(request, obj)
        or model_admin.has_change_permission(request, obj)
    )


def visible_objects(
    model_admin, request: HttpRequest, pks: Iterable[Any]
) -> dict[str, models.Model]:
    """The named rows this user's admin would show, by primary key as text (one query)."""
    try:
        # The admin's ordering means nothing for a lookup by key; leaving it out makes the
        # query cheaper to build (it is asked per socket and, for row-sensitive ModelAdmins,
        # per user on every save).
        rows = model_admin.get_queryset(request).filter(pk__in=list(pks)).order_by()
        found = {str(obj.pk): obj for obj in rows}
    except (ValueError, TypeError, ValidationError):
        return {}
    return {pk: obj for pk, obj in found.items() if may_view(model_admin, request, obj)}


def inline_grants(model_admin, request: HttpRequest, obj: models.Model) -> tuple[InlineGrant, ...]:
    """The inlines that user's change form shows for `obj` and may view, with the formset
    prefix the admin gives each (numbered as the admin numbers repeated prefixes) and the
    fields each shows."""
    links = {link.inline: link for link in inlines.links_of(model_admin)}
    prefixes: dict[str, int] = {}
    granted = []
    for inline in model_admin.get_inline_instances(request, obj):
        link = links.get(type(inline))
        fk = link.fk if link is not None else inlines.foreign_key(model_admin.model, inline)
        if fk is None:
            continue
        prefix = fk.remote_field.get_accessor_name(model=inline.model).replace("+", "")
        prefixes[prefix] = prefixes.get(prefix, 0) + 1
        if prefixes[prefix] != 1 or not prefix:
            prefix = f"{prefix}-{prefixes[prefix]}"
        if not (
            inline.has_view_permission(request, obj) or inline.has_change_permission(request, obj)
        ):
            continue
        link = inlines.InlineLink(type(inline), fk)
        names = set(inlines.row_names(link))
        shown = [n for n in flatten_fieldsets(inline.get_fieldsets(request, obj)) if n in names]
        rows = _inline_rows_shown(inline, request, fk, obj)
        granted.append(InlineGrant(link.key[0], fk.name, prefix, tuple(dict.fromkeys(shown)), rows))
    return tuple(granted)


def _inline_rows_shown(
    inline, request: HttpRequest, fk, obj: models.Model
) -> frozenset[str] | None:
    """The record's rows an inline with its own `get_queryset` shows this user (its formset
    lists only those); None when the inline leaves it to Django (every row of the record).
    Such an inline makes its ModelAdmin row-sensitive, so this is asked again per save."""
    if not _overrides(type(inline), ("get_queryset",)):
        return None
    shown = inline.get_queryset(request).filter(**{fk.name: obj}).values_list("pk", flat=True)
    return frozenset(str(pk) for pk in shown)


def grant(
    model_admin, request: HttpRequest, obj: models.Model, dynamic: bool | None = None
) -> Grant:
    """That user's grant for `obj`; `dynamic` when the caller already asked `is_dynamic` for
    this request (it calls `get_queryset`: once per subscription, not once per row)."""
    return Grant(
        visible_fields(model_admin, request, obj),
        dynamic=is_dynamic(model_admin, request) if dynamic is None else dynamic,
        inlines=inline_grants(model_admin, request, obj),
    )


def regrant(model_admin, request: HttpRequest, pk: str) -> Grant | None:
    """The grant asked again (the row may have changed): None when it is no longer visible."""
    obj = visible_objects(model_admin, request, [pk]).get(str(pk))
    # This grant only shapes the one event (the socket keeps its own): whether it is
    # dynamic changes nothing here, so get_queryset is not called a second time to find out.
    return None if obj is None else grant(model_admin, request, obj, dynamic=True)


def only_visible(values: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name in fields}


LOCK_EVENT_FIELDS = ("type", "record", "lock", "at")


def shape_event(event: dict[str, Any], given: Grant) -> dict[str, Any] | None:
    """The event as this grant may see it, or None when it is not for them.

    Record events carry only the values (and changed names) of fields the grant shows. The
    console hears lock events as its own page shows locks (record, holder, times), and no
    record events at all."""
    kind = event.get("type", "")
    if given.console:
        if not kind.startswith("lock."):
            return None
        return {key: event[key] for key in LOCK_EVENT_FIELDS if key in event}
    if "values" not in event and "changed" not in event:
        return event
    shaped = dict(event)
    shaped["values"] = only_visible(event.get("values", {}), given.fields)
    shaped["changed"] = [name for name in event.get("changed", []) if name in given.fields]
    shaped.pop("inlines", None)
    rows = shape_inlines(event.get("inlines", []), given)
    if rows:
        shaped["inlines"] = rows
    return shaped


def shape_inlines(groups: list[dict[str, Any]], given: Grant) -> list[dict[str, Any]]:
    """Inline rows as this grant's change form shows them: only inlines it may view, only
    their visible fields, in its column order (docs/protocol.md, "Inline rows")."""
    by_key = {(group["model"], group["fk"]): group for group in groups}
    shaped = []
    for inline in given.inlines:
        group = by_key.get((inline.model, inline.fk))
        if group is None:
            continue
        rows = [
            {
                "pk": row["pk"],
                "values": {name: row["values"].get(name, "") for name in inline.fields},
            }
            for row in group["rows"]
            if inline.rows is None or str(row["pk"]) in inline.rows
        ]
        shaped.append(
            {
                "prefix": inline.prefix,
                "model": inline.model,
                "fields": list(inline.fields),
                "rows": rows,
            }
        )
    return shaped


def regrant_users(ct_id: int, pk: str, users: dict[int, Any]) -> dict[int, Grant | None]:
    """Each user's grant for one record, asked again after it changed (dynamic admins)."""
    from django.contrib.contenttypes.models import ContentType

    model = ContentType.objects.get_for_id(ct_id).model_class()
    model_admin = None if model is None else locked_admin(model)
    if model_admin is None:
        return dict.fromkeys(users)
    return {uid: regrant(model_admin, request_for(user), pk) for uid, user in users.items()}
