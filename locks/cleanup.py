"""Housekeeping: the audit trail is kept for a bounded time, and lock rows go with their records.

Maintenance, not lock logic: nothing here takes, renews or hands over a lock (that is the
service layer's job). It deletes rows nobody can use any more, in short statements, so the
tables are never locked for long while editors work.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps as global_apps
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models.signals import post_delete

from . import clock
from .conf import lock_settings
from .models import EditLock, LockEvent

BATCH_SIZE = 1000
"""Rows per DELETE statement: each batch is its own short transaction."""

# Models whose rows are never locked through the admin: deleting them needs no lock clean-up.
_NEVER_LOCKED_APPS = frozenset({"locks", "sessions", "contenttypes", "admin", "migrations"})


# ---------------------------------------------------------------- a record is deleted


def remove_lock_of_deleted_record(sender, instance, **kwargs) -> None:
    """post_delete, any model: drop the deleted record's lock row once the deletion commits.

    A lock of a record that no longer exists protects nothing, held or not; the holder's page
    is told of the deletion (`record.deleted`). After commit, not at once: the delete view
    releases the deleter's lease in the same transaction, and that release belongs in the
    audit trail. A rolled-back deletion keeps its lock. One query when the record had no lock
    row (the usual case).
    """
    opts = instance._meta
    if opts.app_label in _NEVER_LOCKED_APPS or opts.apps is not global_apps:
        return  # our own tables, framework tables, or historical models inside a migration
    labels = {(opts.app_label, opts.model_name)}
    concrete = opts.concrete_model._meta
    labels.add((concrete.app_label, concrete.model_name))  # locked through a proxy's admin too
    condition = models.Q(object_pk=str(instance.pk))
    condition &= functools.reduce(
        operator.or_,
        (models.Q(content_type__app_label=a, content_type__model=m) for a, m in labels),
    )
    using = kwargs.get("using") or router.db_for_write(EditLock)
    transaction.on_commit(functools.partial(_remove_locks, condition, using), using=using)


def _remove_locks(condition: models.Q, using: str) -> None:
    ids = list(EditLock.objects.using(using).filter(condition).values_list("pk", flat=True))
    if ids:
        _delete_ids(EditLock, ids, using=using)


def connect_receivers() -> None:
    post_delete.connect(
        remove_lock_of_deleted_record, dispatch_uid="locks.remove_lock_of_deleted_record"
    )


# ---------------------------------------------------------------- the audit trail


def retention_cutoff(days: int, now: datetime | None = None) -> datetime:
    """Events before this moment are older than `days` days."""
    return (now or clock.now()) - timedelta(days=days)


def old_events(days: int) -> models.QuerySet[LockEvent]:
    return LockEvent.objects.filter(at__lt=retention_cutoff(days))


def prune_events(days: int | None = None, *, batch_size: int = BATCH_SIZE) -> Iterator[int]:
    """Delete audit events older than `days` (default LOCKS_AUDIT_RETENTION_DAYS), one batch
    at a time; yields the size of each batch deleted. `days` 0 deletes nothing."""
    days = lock_settings.AUDIT_RETENTION_DAYS if days is None else days
    if not days:
        return
    cutoff = retention_cutoff(days)
    while True:
        ids = list(
            LockEvent.objects.filter(at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return
        yield _delete_ids(LockEvent, ids)


# ---------------------------------------------------------------- lock rows of deleted records


@dataclass(frozen=True)
class OrphanLock:
    pk: int
    model: str
    object_pk: str
    object_repr: str
    held: bool


def orphan_locks(*, batch_size: int = BATCH_SIZE) -> Iterator[OrphanLock]:
    """Lock rows whose record no longer exists (or whose model is gone), held or free.

    Reads the lock table in batches and asks each model once per batch which of the
    batch's primary keys still exist.
    """
    last = 0
    while True:
        batch = list(
            EditLock.objects.filter(pk__gt=last)
            .select_related("content_type")
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return
        last = batch[-1].pk
        by_type: dict[int, list[EditLock]] = {}
        for lock in batch:
            by_type.setdefault(lock.content_type_id, []).append(lock)
        for locks in by_type.values():
            existing = _existing_pks(locks[0].content_type.model_class(), locks)
            for lock in locks:
                if lock.object_pk not in existing:
                    yield OrphanLock(
                        lock.pk,
                        f"{lock.content_type.app_label}.{lock.content_type.model}",
                        lock.object_pk,
                        lock.object_repr,
                        lock.holder_id is not None,
                    )


def _existing_pks(model: type[models.Model] | None, locks: list[EditLock]) -> set[str]:
    if model is None:
        return set()  # the model was removed from the code base: no record can exist
    pk_field = model._meta.pk
    wanted = []
    for lock in locks:
        try:
            wanted.append(pk_field.to_python(lock.object_pk))
        except ValidationError:  # a key the model cannot have names no record
            continue
    found = model._base_manager.filter(pk__in=wanted).values_list("pk", flat=True)
    return {str(pk) for pk in found}


def remove_orphan_locks(orphans: list[OrphanLock], *, batch_size: int = BATCH_SIZE) -> int:
    ids = [orphan.pk for orphan in orphans]
    return sum(
        _delete_ids(EditLock, ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)
    )


# ---------------------------------------------------------------- one short DELETE


def _delete_ids(model: type[models.Model], ids: list[int], using: str | None = None) -> int:
    """DELETE ... WHERE id IN (...): one statement, no per-row signals or object loading
    (the ORM's delete() would load every row, because post_delete has receivers)."""
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.pk.column)
    placeholders = ", ".join(["%s"] * len(ids))
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders})", ids)
        return cursor.rowcount
