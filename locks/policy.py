"""What a given user may do with a given lock. Reads only; never writes.

In the manner of Wagtail's lock classes: views and templates ask this object and never read
lock fields themselves.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.formats import time_format
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import clock
from .state import LockState

MANAGE_PERMISSION = "locks.manage_locks"
ADVISORY = "advisory"  # ModelAdmin.lock_mode: warn who else edits, make nobody read-only
PESSIMISTIC = "pessimistic"


def ago(then: datetime, now: datetime) -> str:
    """ "4 s", "3 minutes": seconds matter while someone is typing."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return ngettext("%(n)d s", "%(n)d s", seconds) % {"n": seconds}
    return timesince(then, now)


def is_lock_manager(user) -> bool:
    return bool(user and user.is_active and user.has_perm(MANAGE_PERMISSION))


class LockPolicy:
    """`advisory`: the lock only says who else is editing; nobody is made read-only, and
    the version guard (with its merge screen) protects the data."""

    def __init__(
        self,
        state: LockState,
        user,
        lease: str | None,
        now: datetime | None = None,
        *,
        advisory: bool = False,
    ) -> None:
        self.state = state
        self.user = user
        self.lease = lease or ""
        # The database's time the state was read at, so every server judges it alike.
        self.now = now or state.as_of or clock.now()
        self.live = state.is_live(self.now)
        self.advisory = advisory

    @property
    def is_free(self) -> bool:
        return not self.live

    @property
    def can_edit(self) -> bool:
        """This tab holds the current lease."""
        return (
            self.live
            and self.state.holder_id == self.user.pk
            and bool(self.lease)
            and self.lease == self.state.lease
        )

    @property
    def held_in_other_tab(self) -> bool:
        return self.live and self.state.holder_id == self.user.pk and not self.can_edit

    @property
    def held_by_other_user(self) -> bool:
        return self.live and self.state.holder_id != self.user.pk

    @property
    def is_view_only(self) -> bool:
        return self.live and not self.can_edit and not self.advisory

    @property
    def may_write(self) -> bool:
        """This tab may save: it holds the lease, or the lock is only advisory."""
        return self.can_edit or self.advisory

    @property
    def holder_has_unsaved(self) -> bool:
        """The holder's page reported unsaved changes (when the lock records it)."""
        return self.live and bool(getattr(self.state, "unsaved", False))

    @property
    def can_take_over(self) -> bool:
        """The same user's other tab, or a manager, may take a live lock."""
        if self.advisory:
            return False  # nothing to take: everyone may edit
        return self.held_in_other_tab or (self.held_by_other_user and is_lock_manager(self.user))

    @property
    def can_release(self) -> bool:
        return self.can_edit or (self.held_by_other_user and is_lock_manager(self.user))

    @property
    def can_request_handover(self) -> bool:
        return self.held_by_other_user and not is_lock_manager(self.user) and not self.advisory

    @property
    def can_decline_handover(self) -> bool:
        """This tab holds the lock and someone asked for it."""
        return self.can_edit and self.state.handover_requested_by_id is not None

    def get_message(self) -> str:
        """The banner text for this user, in their language."""
        if self.advisory:
            return self._advisory_message()
        if not self.live:
            return _("Nobody is editing this record.")
        if self.can_edit:
            return _("You are editing this record. Others see it read-only.")
        if self.held_in_other_tab:
            return _("You are editing this in another tab.")
        return _("%(holder)s is editing since %(since)s (active %(ago)s ago).") % {
            "holder": self.state.holder_name,
            "since": time_format(timezone.localtime(self.state.acquired_at), "H:i"),
            "ago": ago(self.state.activity_at, self.now),
        }

    def _advisory_message(self) -> str:
        if not self.live:
            return _("Nobody else is editing this record.")
        if self.can_edit:
            return _(
                "You are editing this record. Others may edit it too: if someone saves first, "
                "you choose what to keep when you save."
            )
        if self.held_in_other_tab:
            return _("You are also editing this record in another tab.")
        values = {
            "holder": self.state.holder_name,
            "ago": ago(self.state.activity_at, self.now),
        }
        if self.holder_has_unsaved:
            return (
                _(
                    "%(holder)s is editing this record too and has unsaved changes (active "
                    "%(ago)s ago). You may edit it as well: if they save first, you choose what "
                    "to keep when you save."
                )
                % values
            )
        return (
            _(
                "%(holder)s is editing this record too (active %(ago)s ago). You may edit it as "
                "well: if they save first, you choose what to keep when you save."
            )
            % values
        )

    def get_context(self) -> dict:
        return {
            "state": self.state,
            "live": self.live,
            "can_edit": self.can_edit,
            "view_only": self.is_view_only,
            "held_in_other_tab": self.held_in_other_tab,
            "held_by_other_user": self.held_by_other_user,
            "can_take_over": self.can_take_over,
            "can_release": self.can_release,
            "can_request_handover": self.can_request_handover,
            "advisory": self.advisory,
            "holder_has_unsaved": self.holder_has_unsaved,
            "can_decline_handover": self.can_decline_handover,
            "message": self.get_message(),
        }
