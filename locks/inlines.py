"""Inline rows in record events: a save that changes an order's lines tells the order's viewers.

The parent's `record.saved` (or `record.created`) is held until the transaction commits, so
the rows the admin saves after the parent (its formsets) travel with it, as they are after
the commit. Rows changed outside the admin (the shell, a script) are announced the same way:
the parent's viewers get a `record.saved` naming no changed field, with the rows.

The payload carries every field of every changed inline; `authority.shape_event` cuts it to
the inlines and fields each user's change form shows (docs/protocol.md, "Inline rows").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin.sites import all_sites
from django.db import DEFAULT_DB_ALIAS, models, router, transaction

from . import clock, events
from .records import ref_for, ref_for_pk
from .values import display_values


@dataclass(frozen=True)
class InlineLink:
    """An inline of a locked ModelAdmin: the child model and its foreign key to the parent."""

    inline: type
    fk: models.ForeignKey

    @property
    def key(self) -> tuple[str, str]:
        return (self.inline.model._meta.label_lower, self.fk.name)


def foreign_key(parent: type[models.Model], inline) -> models.ForeignKey | None:
    from django.forms.models import _get_foreign_key

    if not hasattr(inline, "fk_name"):
        return None  # generic inlines have no foreign key to follow
    try:
        return _get_foreign_key(parent, inline.model, fk_name=inline.fk_name)
    except ValueError:
        return None


def links_of(model_admin) -> list[InlineLink]:
    """The inlines a locked ModelAdmin declares, each with its foreign key."""
    links = []
    for inline in getattr(model_admin, "inlines", ()):
        fk = foreign_key(model_admin.model, inline)
        if fk is not None:
            links.append(InlineLink(inline, fk))
    return links


def _locked_admins() -> Iterator[Any]:
    from .admin import LockedAdminMixin

    seen = set()
    for site in all_sites:
        for model, model_admin in site._registry.items():
            if isinstance(model_admin, LockedAdminMixin) and model not in seen:
                seen.add(model)
                yield model_admin


def parents_of(child: models.Model) -> list[tuple[type[models.Model], Any, InlineLink]]:
    """(parent model, parent pk, link) for each locked, versioned parent whose change form
    shows `child` as an inline row."""
    from .versioning import VersionedModel

    found = []
    for model_admin in _locked_admins():
        if not issubclass(model_admin.model, VersionedModel):
            continue
        for link in links_of(model_admin):
            if isinstance(child, link.inline.model):
                parent_pk = getattr(child, link.fk.attname, None)
                if parent_pk is not None:
                    found.append((model_admin.model, parent_pk, link))
    return found


def row_names(link: InlineLink) -> list[str]:
    """The child's fields a row may show: every concrete field but its key and the parent's."""
    meta = link.inline.model._meta
    return [f.name for f in meta.concrete_fields if not f.primary_key and f.name != link.fk.name]


def rows_of(parent: models.Model, link: InlineLink) -> dict[str, Any]:
    """One inline's rows as stored now, in the admin's order, every field's display value."""
    model = link.inline.model
    ordering = link.inline.ordering or model._meta.ordering or ["pk"]
    rows = model._default_manager.filter(**{link.fk.name: parent}).order_by(*ordering)
    names = row_names(link)
    return {
        "model": model._meta.label_lower,
        "fk": link.fk.name,
        "rows": [{"pk": str(row.pk), "values": display_values(row, names)} for row in rows],
    }


def inline_rows(model_admin, parent: models.Model, only: set | None = None) -> list[dict]:
    """Every inline's rows (or only those whose (model, fk) key is in `only`)."""
    return [
        rows_of(parent, link) for link in links_of(model_admin) if only is None or link.key in only
    ]


# ---------------------------------------------------------------- held until commit


@dataclass
class Pending:
    """Record events and changed inlines of one transaction, published when it commits."""

    using: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    parents: dict[str, tuple[type[models.Model], Any]] = field(default_factory=dict)
    touched: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def flush(self) -> None:
        connection = transaction.get_connection(self.using)
        if getattr(connection, "_locks_pending", None) is self:
            connection._locks_pending = None
        for key, (model, pk) in self.parents.items():
            event = self.events.get(key)
            touched = self.touched.get(key)
            if touched:
                event = _with_rows(model, pk, event, touched)
            if event is not None:
                events.publish(event)

    def is_registered(self) -> bool:
        connection = transaction.get_connection(self.using)
        return any(func == self.flush for _, func, *_ in connection.run_on_commit)


def _with_rows(model, pk, event: dict | None, touched: set) -> dict | None:
    """The event with the changed inlines' rows; for rows changed alone, a `record.saved`."""
    from .authority import locked_admin

    model_admin = locked_admin(model)
    parent = model._base_manager.filter(pk=pk).first()
    if model_admin is None or parent is None:
        return event  # the parent is gone (deleted with its rows): its own event says so
    if event is None:
        event = {
            "type": events.RECORD_SAVED,
            "record": events.record_payload(ref_for(parent)),
            "version": getattr(parent, "version", None),
            "changed": [],
            "values": {},
            "at": clock.now().isoformat(),
        }
    return {**event, "inlines": inline_rows(model_admin, parent, touched)}


def _pending(using: str) -> Pending | None:
    """This transaction's buffer, or None outside a transaction (publish at once)."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return None
    pending = getattr(connection, "_locks_pending", None)
    if pending is None or not pending.is_registered():
        # None yet, or left by a transaction that rolled back (its callback went with it).
        pending = Pending(using)
        connection._locks_pending = pending
        transaction.on_commit(pending.flush, using=using, robust=True)
    return pending


def publish_record(instance: models.Model, event: dict[str, Any], using: str | None) -> None:
    """Publish a record event when the transaction commits, with any inline rows that
    change in the same transaction."""
    pending = _pending(using or DEFAULT_DB_ALIAS)
    if pending is None:
        events.publish(event)
        return
    key = event["record"]["key"]
    pending.parents.setdefault(key, (type(instance), instance.pk))
    pending.events[key] = event


def row_changed(child: models.Model, using: str | None) -> None:
    """An inline row was saved or deleted: its parents' viewers get the rows at commit."""
    for model, pk, link in parents_of(child):
        alias = using or router.db_for_write(model)
        pending = _pending(alias)
        if pending is None:
            event = _with_rows(model, pk, None, {link.key})
            if event is not None:
                events.publish(event)
            continue
        key = ref_for_pk(model, pk).key
        pending.parents.setdefault(key, (model, pk))
        pending.touched.setdefault(key, set()).add(link.key)
