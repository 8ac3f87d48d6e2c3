"""The change list: live lock badges, admin actions and `list_editable` that respect locks."""

from __future__ import annotations

import dataclasses
from functools import wraps

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import services
from ..conf import lock_settings
from ..live import websocket_url
from ..records import ref_for
from ..state import FREE
from ..versioning import StaleVersionError, VersionedModel
from .compose import extend_chosen_template
from .list_versions import refuse_stale_row, row_form


class ChangeListLockMixin:
    """Badges beside each record, actions run only on records nobody else edits, and list
    edits refused for records being edited."""

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        request._locks_states = self.lock_states([o.pk for o in changelist.result_list])
        return changelist

    def get_list_display(self, request):
        def lock_badge(obj):
            state = getattr(request, "_locks_states", {}).get(str(obj.pk), FREE)
            if state.holder_id is None:
                return format_html('<span class="locks-badge" data-locks-pk="{}"></span>', obj.pk)
            label = _("You") if state.holder_id == request.user.pk else state.holder_name
            return format_html(
                '<span class="locks-badge locks-badge-held" data-locks-pk="{}" title="{}">'
                "✎ {}</span>",
                obj.pk,
                _("Being edited by %(holder)s") % {"holder": state.holder_name},
                label,
            )

        lock_badge.short_description = gettext_lazy("editing")
        first, *rest = super().get_list_display(request)
        return [first, lock_badge, *rest]  # beside the record's name, where it is seen

    def get_actions(self, request, action_location=None):
        # Django 6.1 passes where the actions are shown and returns Action objects; 5.2
        # passes nothing and returns (func, name, description) tuples.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        wrapped = {}
        for name, action in actions.items():
            if isinstance(action, tuple):
                func, label, description = action
                wrapped[name] = (self._locking_action(func), label, description)
            else:
                wrapped[name] = dataclasses.replace(action, func=self._locking_action(action.func))
        return wrapped

    def _locking_action(self, func):
        """Run an admin action only on records nobody else is editing, holding their locks
        for the duration of the action."""

        if self.lock_advisory:
            return func  # the lock only tells who edits

        @wraps(func)
        def run(modeladmin, request, queryset):
            held, refused, targets = [], [], {}
            for obj in queryset:  # each lock once: several lines may share one parent
                target = modeladmin.lock_target(obj)
                targets.setdefault(ref_for(target).key, target)
            for target in targets.values():
                outcome = services.acquire(target, request.user)
                (held if outcome.ok else refused).append((target, outcome))
            try:
                if refused:
                    names = ", ".join(
                        _("%(record)s (%(holder)s)")
                        % {"record": obj, "holder": o.state.holder_name}
                        for obj, o in refused
                    )
                    messages.error(
                        request,
                        _("Nothing was done: these records are being edited: %(names)s.")
                        % {"names": names},
                    )
                    return None
                return func(modeladmin, request, queryset)
            finally:
                for obj, outcome in held:
                    services.release(ref_for(obj), request.user, outcome.lease)

        return run

    def get_changelist_formset(self, request, **kwargs):
        formset_class = super().get_changelist_formset(request, **kwargs)
        versioned = issubclass(self.model, VersionedModel)
        editable = list(formset_class.form.base_fields)
        admin = self

        class LockCheckedFormSet(formset_class):
            form = row_form(formset_class.form, editable, versioned)

            def clean(self):
                super().clean()
                for form in self.forms:
                    stale = getattr(form, "stale", False)  # never saved: see list_versions
                    changed = bool(form.edited) if stale else form.has_changed()
                    if not changed or form.instance.pk is None:
                        continue
                    # Advisory mode refuses no edit for a lock; the version guard stays.
                    advisory = admin.lock_advisory
                    state = (
                        FREE if advisory else services.get_state(admin.lock_target(form.instance))
                    )
                    if state.is_live():
                        form.add_error(
                            None,
                            _("%(holder)s is editing this record; not saved.")
                            % {"holder": state.holder_name},
                        )
                    elif stale:
                        refuse_stale_row(request, form)

        return LockCheckedFormSet

    def changelist_view(self, request, extra_context=None):
        ct = ContentType.objects.get_for_model(self.model, for_concrete_model=False)
        extra_context = {
            **(extra_context or {}),
            "locks_list": {
                "ct": ct.pk,
                "states_url": reverse(f"{self.admin_site.name}:{self._lock_prefix}_states"),
                "jsi18n": reverse(f"{self.admin_site.name}:{self._lock_prefix}_jsi18n"),
                "ws_url": websocket_url(request),
                "interval": lock_settings.HEARTBEAT_INTERVAL,
            },
        }
        try:
            response = super().changelist_view(request, extra_context)
        except services.LeaseError as refused:
            self._refuse(request, refused.state, _("saved"))
            return HttpResponseRedirect(request.get_full_path())
        except StaleVersionError as stale:
            # Saved by someone else between the check and the write: nothing was written.
            messages.error(
                request,
                _(
                    "Nothing was saved: “%(record)s” was saved by someone else at the same "
                    "moment. Check the list and enter your changes again."
                )
                % {"record": stale.instance},
            )
            return HttpResponseRedirect(request.get_full_path())
        return extend_chosen_template(response, "locks/admin/change_list.html")
