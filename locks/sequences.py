"""Where each record stands now: its lock's fence, live holder and its version.

Pages and hubs compare these with what they have seen; a difference means an event was
lost (or is on its way), and the page resyncs. Reads only.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib.contenttypes.models import ContentType

from .models import EditLock
from .records import RecordRef
from .state import LockState

Sequence = tuple[int, int | None, int | None]  # (fence, live holder id, version)


def current(refs: list[RecordRef]) -> dict[str, Sequence]:
    """The sequence of each record by its key: one query per model for the locks and one
    per versioned model for the versions."""
    by_ct: dict[int, list[RecordRef]] = defaultdict(list)
    for ref in refs:
        by_ct[ref.content_type_id].append(ref)
    found: dict[str, Sequence] = {}
    for ct_id, group in by_ct.items():
        pks = [ref.object_pk for ref in group]
        locks = {
            lock.object_pk: LockState.from_lock(lock)
            for lock in EditLock.objects.with_clock().filter(
                content_type_id=ct_id, object_pk__in=pks
            )
        }
        versions: dict[str, int | None] = {}
        model = ContentType.objects.get_for_id(ct_id).model_class()
        if model is not None and any(f.name == "version" for f in model._meta.concrete_fields):
            rows = model._base_manager.filter(pk__in=pks).values_list("pk", "version")
            versions = {str(pk): version for pk, version in rows}
        for ref in group:
            state = locks.get(ref.object_pk)
            fence, holder = 0, None
            if state is not None:
                fence = state.fence
                holder = state.holder_id if state.is_live() else None
            found[ref.key] = (fence, holder, versions.get(ref.object_pk))
    return found
