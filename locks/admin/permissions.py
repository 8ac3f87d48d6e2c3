"""The permission gate: non-holders see the change form view-only, as Django renders it."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.options import TO_FIELD_VAR
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext as _

from ..policy import ADVISORY, PESSIMISTIC, LockPolicy
from ..records import ref_for
from ..state import LockState
from .context import LockContext


class LockPermissionsMixin:
    """`has_change_permission` / `has_delete_permission` answer for the lock of this request.

    Listed first among the concern mixins, so their `super().has_change_permission()` asks
    Django's own permission, without the lock.

    `lock_mode = "advisory"` makes nobody read-only: the lock only tells who else is editing,
    and saves are guarded by the version (or fingerprint) alone.

    `lock_queryset_by_user = True` declares that an overridden `get_queryset` decides what
    to filter from the user alone (their rights; not the clock, a flag or another table).
    The live channel then does not ask it again on every save for users it filters nothing
    for (docs/protocol.md, "When grants are asked again").
    """

    lock_mode: str = PESSIMISTIC
    lock_queryset_by_user: bool = False

    @property
    def lock_advisory(self) -> bool:
        return self.lock_mode == ADVISORY

    def lock_policy(
        self, state: LockState, request: HttpRequest, lease: str | None, now: datetime | None = None
    ) -> LockPolicy:
        """The policy for this request's user, in this admin's lock mode; judged at the
        database's time the state was read at unless given a time."""
        return LockPolicy(state, request.user, lease, now, advisory=self.lock_advisory)

    def _lock_context(self, request: HttpRequest, obj: models.Model | None) -> LockContext | None:
        ctx = getattr(request, "_locks", None)
        if ctx is None or obj is None or not ctx.ref.same_record(ref_for(self.lock_target(obj))):
            return None
        return ctx

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        ctx = self._lock_context(request, obj)
        if not allowed or ctx is None or request.method == "POST":
            # A POST goes on to validation, where the lease and the version are checked;
            # a refused POST is shown back with the user's input.
            return allowed
        return ctx.may_write

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        ctx = self._lock_context(request, obj)
        if not allowed or ctx is None:
            return allowed
        return ctx.may_write or request.method == "POST"

    def _refuse(self, request, state: LockState, verb: str) -> None:
        if state.is_live() and state.holder_id != request.user.pk:
            text = _("%(holder)s is editing this record, so it was not %(verb)s.") % {
                "holder": state.holder_name,
                "verb": verb,
            }
        elif state.is_live():
            text = _("You are editing this record in another tab, so it was not %(verb)s here.") % {
                "verb": verb
            }
        else:
            text = _("You do not hold this record's lock, so it was not %(verb)s. Try again.") % {
                "verb": verb
            }
        messages.error(request, text)

    def _to_field(self, request) -> str | None:
        """The field the URL names the object by (?_to_field=), as Django's views read it."""
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            raise DisallowedModelAdminToField(f"The field {to_field} cannot be referenced.")
        return to_field
