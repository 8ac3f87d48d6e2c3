"""LockedAdminMixin: pessimistic edit locks for any ModelAdmin, in one line.

    @admin.register(Customer)
    class CustomerAdmin(LockedAdminMixin, admin.ModelAdmin): ...

Opening a change form takes the lock for that tab; everyone else gets the page read-only
(through `has_change_permission`, so Django itself renders every field and inline read-only,
hides the save row and refuses the POST). Every write path checks the lease on the server:
the change POST (and its inlines, and "save as new"), the delete view, admin actions and
`list_editable`. Versioned models also get the version guard and the merge screen.
"""

from __future__ import annotations

from django.urls import reverse

from .change_form import ChangeFormLockMixin
from .change_list import ChangeListLockMixin
from .compose import lock_media
from .delete import DeleteLockMixin
from .merge_screen import MergeScreenMixin
from .permissions import LockPermissionsMixin
from .scope import LockScopeMixin
from .urls import LockUrlsMixin


class LockedAdminMixin(
    # The permission gate comes first: the other mixins' super().has_*_permission() then
    # reach Django's own permissions. MergeScreenMixin follows ChangeFormLockMixin, so its
    # super().get_form() is the form without the lock check.
    LockPermissionsMixin,
    ChangeFormLockMixin,
    MergeScreenMixin,
    DeleteLockMixin,
    ChangeListLockMixin,
    LockUrlsMixin,
    LockScopeMixin,
):
    """Mix into a ModelAdmin (before admin.ModelAdmin) to lock its change forms.

    It composes with the admin's templates rather than replacing them: the pages Django
    picks (the ModelAdmin's own templates, per-model and per-app overrides) stay in force.
    """

    @property
    def media(self):
        """The lock's script and stylesheet, after this model's JavaScript catalog."""
        catalog = reverse(f"{self.admin_site.name}:{self._lock_prefix}_jsi18n")
        return super().media + lock_media(catalog)
