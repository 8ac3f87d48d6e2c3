"""The delete flow: the confirmation page holds a lease, the POST must present it."""

from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.db import router, transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import services
from ..records import ref_for
from .compose import extend_chosen_template
from .context import LEASE_FIELD, LockContext


class DeleteLockMixin:
    """Deleting a record needs its lock, like saving it."""

    def delete_view(self, request, object_id, extra_context=None):
        """Deleting needs the lease too. The confirmation page holds one in its URL, so the
        page's own form (which posts to its URL) carries it without any JavaScript."""
        obj = self.get_object(request, unquote(object_id), self._to_field(request))
        if obj is None or not super().has_delete_permission(request, obj) or self.lock_advisory:
            # Unknown object, no permission (Django answers), or advisory: no lock needed.
            return super().delete_view(request, object_id, extra_context)
        ref = ref_for(self.lock_target(obj))
        lease = request.POST.get(LEASE_FIELD) or request.GET.get(LEASE_FIELD, "")
        change_url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[obj.pk],
        )
        if request.method == "POST":
            with transaction.atomic(using=router.db_for_write(self.model)):
                try:
                    state = services.check_lease(ref, request.user, lease)
                except services.LeaseError as refused:
                    self._refuse(request, refused.state, _("deleted"))
                    return HttpResponseRedirect(change_url)
                request._locks = LockContext(
                    ref, obj, lease, state, self.lock_policy(state, request, lease)
                )
                response = super().delete_view(request, object_id, extra_context)
                if isinstance(response, HttpResponseRedirect):
                    services.release(ref, request.user, lease)
                return response
        outcome = services.acquire(ref, request.user, lease or None)
        if not outcome.ok:
            self._refuse(request, outcome.state, _("deleted"))
            return HttpResponseRedirect(change_url)
        if outcome.lease != lease:
            query = request.GET.copy()
            query[LEASE_FIELD] = outcome.lease
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        request._locks = LockContext(
            ref, obj, lease, outcome.state, self.lock_policy(outcome.state, request, lease)
        )
        extra_context = {
            **(extra_context or {}),
            "locks_page": {
                "lease": lease,
                "release_url": self.lock_owner_admin().lock_url("release", ref.object_pk),
            },
        }
        response = super().delete_view(request, object_id, extra_context)
        return extend_chosen_template(response, "locks/admin/delete_confirmation.html")
