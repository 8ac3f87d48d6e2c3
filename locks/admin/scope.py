"""Lock scope: records edited as inline rows of a parent are locked by the parent's lock.

    @admin.register(OrderLine)
    class OrderLineAdmin(LockedAdminMixin, admin.ModelAdmin):
        lock_parent = "order"  # the foreign key to the record whose lock covers this one

Every lock operation of this admin (change form, delete, actions, list_editable) takes and
checks the parent's lock instead of the record's own: while someone else edits the order,
its lines are read-only everywhere, and editing a line holds the whole order, so the order's
inline rows can never be saved over a line edited on its own page (or the other way round).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F
from django.utils.translation import gettext as _

from .. import services
from ..records import ref_for
from ..state import LockState
from ..versioning import VersionedModel


class LockScopeMixin:
    """`lock_parent` names the foreign key to the record whose lock covers this admin's
    records; None (the default) locks each record by itself."""

    lock_parent: str | None = None

    def lock_target(self, obj: models.Model | None) -> models.Model | None:
        """The record whose lock governs `obj`: its parent, or `obj` itself."""
        if obj is None or not self.lock_parent:
            return obj
        parent = getattr(obj, self.lock_parent, None)
        return parent if parent is not None else obj

    def lock_owner_admin(self):
        """The ModelAdmin whose lock endpoints (heartbeat, release, state, ...) serve this
        admin's pages: the parent's locked admin, since the lock is the parent's."""
        if not self.lock_parent:
            return self
        parent_model = self.model._meta.get_field(self.lock_parent).related_model
        return self.admin_site._registry.get(parent_model, self)

    def lock_states(self, pks: list[Any]) -> dict[str, LockState]:
        """Live locks for change list rows, keyed by the rows' pks (their parents' locks)."""
        if not self.lock_parent:
            return services.live_states(self.model, pks)
        attname = self.model._meta.get_field(self.lock_parent).attname
        parents = dict(
            self.model._base_manager.filter(pk__in=pks).values_list("pk", attname).iterator()
        )
        parent_model = self.model._meta.get_field(self.lock_parent).related_model
        states = services.live_states(parent_model, list({p for p in parents.values() if p}))
        return {
            str(pk): states[str(parent)] for pk, parent in parents.items() if str(parent) in states
        }

    def check_parent(self, request, form) -> None:
        """A record added to (or moved into) a parent someone is editing is refused: its
        save would change what the holder's page shows without the holder's lease."""
        if not self.lock_parent or getattr(self, "lock_advisory", False):
            return
        parent = form.cleaned_data.get(self.lock_parent)
        if parent is None:
            return
        ctx = self._lock_context(request, form.instance) if form.instance.pk else None
        if ctx is not None and ctx.ref.same_record(ref_for(parent)):
            return  # the parent this page holds: check_write checks its lease
        state = services.get_state(parent)
        if state.is_live():
            holder = (
                state.holder_name
                if state.holder_id != request.user.pk
                else _("You (in another tab)")
            )
            form.add_error(
                self.lock_parent,
                _("%(holder)s is editing %(record)s, so nothing can be saved into it now.")
                % {"holder": holder, "record": parent},
            )

    def _touch_parent(self, obj: models.Model) -> None:
        """A versioned parent gets a new version when one of its rows changes on its own
        page, so a form of the parent opened before (with the old rows) gets the merge
        screen instead of saving the old rows back."""
        parent = self.lock_target(obj) if self.lock_parent else None
        if isinstance(parent, VersionedModel) and parent is not obj:
            type(parent)._base_manager.filter(pk=parent.pk).update(version=F("version") + 1)

    def save_model(self, request, obj, form, change):
        result = super().save_model(request, obj, form, change)
        self._touch_parent(obj)
        return result

    def delete_model(self, request, obj):
        self._touch_parent(obj)
        return super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        if self.lock_parent:
            for obj in queryset:
                self._touch_parent(obj)
        return super().delete_queryset(request, queryset)
