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

import dataclasses
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.i18n import JavaScriptCatalog

from . import clock, services, views
from .conf import lock_settings
from .live import websocket_url
from .merge import (
    BASE_FIELD,
    CHOICE_PREFIX,
    INLINE_CHOICE_PREFIX,
    apply_choices,
    base_with_inlines,
    form_values,
    merge_fields,
    merge_inlines,
    read_base,
    sign_base,
)
from .policy import LockPolicy
from .records import RecordRef, ref_for
from .state import FREE, LockState
from .versioning import StaleVersionError, VersionedModel, current_version
from .views import continue_key, reclaim_cookie

LEASE_FIELD = "_locks_lease"
VERSION_FIELD = "_locks_version"
MERGE_FIELD = "_locks_merge"


@dataclass
class LockContext:
    """What this request knows about the record's lock; kept on the request."""

    ref: RecordRef
    target: models.Model | None
    lease: str
    state: LockState
    policy: LockPolicy
    based_on_version: int | None = None
    refused: bool = False
    conflict: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def can_edit(self) -> bool:
        return self.policy.can_edit


class LockedAdminMixin:
    """Mix into a ModelAdmin (before admin.ModelAdmin) to lock its change forms."""

    change_form_template = "locks/change_form.html"
    change_list_template = "locks/change_list.html"
    delete_confirmation_template = "locks/delete_confirmation.html"
    merge_template = "locks/merge.html"

    # ------------------------------------------------------------ URLs

    def get_urls(self):
        def wrap(view):
            @wraps(view)
            def wrapper(request, *args, **kwargs):
                return view(request, self, *args, **kwargs)

            return self.admin_site.admin_view(wrapper)

        prefix = self._lock_prefix
        ours = [
            path(f"<path:object_id>/lock/{slug}/", wrap(view), name=f"{prefix}_{name}")
            for slug, name, view in [
                ("heartbeat", "heartbeat", views.heartbeat),
                ("release", "release", views.release),
                ("state", "state", views.state),
                ("take-over", "take_over", views.take_over),
                ("request", "request", views.request_handover),
            ]
        ]
        ours.append(path("lock/states/", wrap(views.list_states), name=f"{prefix}_states"))
        ours.append(
            path(
                "lock/jsi18n/",
                JavaScriptCatalog.as_view(packages=["locks"]),
                name=f"{prefix}_jsi18n",
            )
        )
        return ours + super().get_urls()

    @property
    def _lock_prefix(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_lock"

    def lock_url(self, name: str, object_id: Any) -> str:
        return reverse(f"{self.admin_site.name}:{self._lock_prefix}_{name}", args=[object_id])

    # ------------------------------------------------------------ permissions

    def _lock_context(self, request: HttpRequest, obj: models.Model | None) -> LockContext | None:
        ctx = getattr(request, "_locks", None)
        if ctx is None or obj is None or not ctx.ref.same_record(ref_for(obj)):
            return None
        return ctx

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        ctx = self._lock_context(request, obj)
        if not allowed or ctx is None or request.method == "POST":
            # A POST goes on to validation, where the lease and the version are checked;
            # a refused POST is shown back with the user's input.
            return allowed
        return ctx.can_edit

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        ctx = self._lock_context(request, obj)
        if not allowed or ctx is None:
            return allowed
        return ctx.can_edit or request.method == "POST"

    # ------------------------------------------------------------ the change form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None:  # the add view takes no lock
            return super().changeform_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, unquote(object_id), self._to_field(request))
        if obj is None or not super().has_change_permission(request, obj):
            # Unknown object (Django answers) or a view-only user: no lock involved.
            return super().changeform_view(request, object_id, form_url, extra_context)
        ref = ref_for(obj)
        now = clock.now()
        if request.method == "POST":
            lease = request.POST.get(LEASE_FIELD, "")
            if MERGE_FIELD in request.POST:
                form_class = self.get_form(request, obj, change=True)
                request.POST = apply_choices(
                    request.POST, form_class, obj, self._unbound_formsets(request, obj)
                )
            # The lock is read (and on PostgreSQL locked) when the form validates: check_write.
            state = FREE
            based_on = _int_or_none(request.POST.get(VERSION_FIELD))
        else:
            # This tab's lease, if it has one: handed over by the previous POST ("Save and
            # continue", "Take over") or left by the same tab just before a reload.
            handed = request.session.pop(continue_key(ref), None)
            reclaimed = None if handed else request.COOKIES.get(reclaim_cookie(ref))
            # A reload gets a fresh token for the same holding (rotate), so the old page's
            # release beacon, which arrives after this request, cannot end it.
            outcome = services.acquire(
                ref, request.user, handed or reclaimed, rotate=bool(reclaimed)
            )
            lease, state, based_on = (outcome.lease if outcome.ok else ""), outcome.state, None
        request._locks = LockContext(
            ref,
            obj,
            lease,
            state,
            LockPolicy(state, request.user, lease, now),
            based_on_version=based_on,
        )
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if reclaim_cookie(ref) in request.COOKIES:
                response.delete_cookie(reclaim_cookie(ref), path="/", samesite="Strict")
            return response
        except StaleVersionError:
            # Someone saved between our check and our write (a path without the lock): the
            # admin's transaction rolled back, nothing was written. Validating the same POST
            # again now finds the newer version and shows the merge screen with this input.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        ctx = getattr(request, "_locks", None)
        if ctx is None or request.method != "POST":
            return form_class
        if obj is None and "_saveasnew" in request.POST:
            target, save_as_new = ctx.target, True  # a copy, made from the locked screen
        elif self._lock_context(request, obj) is not None:
            target, save_as_new = obj, False
        else:
            return form_class
        admin = self

        class LockCheckedForm(form_class):
            def clean(self):
                cleaned = super().clean()
                admin.check_write(request, target, self, check_version=not save_as_new)
                return cleaned

        LockCheckedForm.__name__ = form_class.__name__
        return LockCheckedForm

    def check_write(self, request, obj: models.Model, form, *, check_version: bool = True) -> None:
        """Refuse the POST unless it carries the current lease and the current version.

        Runs inside the admin's transaction: on PostgreSQL the lock row stays locked until
        commit, so nobody can take the lock between this check and the save.
        """
        ctx = request._locks
        now = clock.now()
        try:
            ctx.state = services.check_lease(obj, request.user, ctx.lease)
        except services.LeaseError as refused:
            ctx.refused = True
            if refused.state.is_live(now):
                form.add_error(
                    None,
                    _(
                        "%(holder)s is editing this record now, so your changes were not saved. "
                        "They are still shown below."
                    )
                    % {
                        "holder": refused.state.holder_name
                        if refused.state.holder_id != request.user.pk
                        else _("You (in another tab)")
                    },
                )
                ctx.state = refused.state
            else:
                # The lease lapsed and nobody took the record: refuse this save, but give
                # the user a fresh lease so they can check their input and save again.
                outcome = services.acquire(ctx.ref, request.user)
                ctx.lease, ctx.state = outcome.lease, outcome.state
                form.add_error(
                    None,
                    _(
                        "Your lock had lapsed, so this save was not made. You hold the lock again "
                        "now: check your changes and save again."
                    ),
                )
        ctx.policy = LockPolicy(ctx.state, request.user, ctx.lease, now)
        if check_version and isinstance(obj, VersionedModel):
            latest = current_version(type(obj), obj.pk)
            if ctx.based_on_version is None or ctx.based_on_version != latest:
                ctx.conflict = True
                if not ctx.refused:
                    form.add_error(
                        None,
                        _(
                            "Someone else saved this record since you opened it. Choose, field by "
                            "field, what to keep."
                        ),
                    )

    def save_model(self, request, obj, form, change):
        ctx = self._lock_context(request, obj) if change else None
        if ctx is not None:
            if isinstance(obj, VersionedModel) and ctx.based_on_version is not None:
                obj.version = ctx.based_on_version  # the conditional UPDATE checks it again
            return super().save_model(request, obj, form, change)
        if change:
            # Any other write of an existing record (list_editable, a custom view): hold the
            # record's lock for the duration of the save, or refuse.
            outcome = services.acquire(obj, request.user)
            if not outcome.ok:
                raise services.LeaseError(outcome.state)
            try:
                return super().save_model(request, obj, form, change)
            finally:
                services.release(ref_for(obj), request.user, outcome.lease)
        return super().save_model(request, obj, form, change)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        ctx = self._lock_context(request, obj)
        if ctx is not None:
            if ctx.conflict and request.method == "POST":
                return self.render_merge(request, context, obj, ctx)
            context["locks"] = self.lock_template_context(
                request,
                obj,
                ctx,
                context["adminform"].form,
                [inline.formset for inline in context.get("inline_admin_formsets", [])],
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def lock_template_context(
        self, request, obj, ctx: LockContext, form=None, formsets=()
    ) -> dict[str, Any]:
        now = clock.now()
        base = ""
        if form is not None and not form.is_bound:
            # What this page shows now: a later merge tells your changes from theirs by it.
            base = sign_base(base_with_inlines(form_values(form), formsets))
        version = getattr(obj, "version", None)
        if request.method == "POST" and ctx.based_on_version is not None:
            version = ctx.based_on_version
        pk = obj.pk
        return {
            **ctx.policy.get_context(),
            "ct": ctx.ref.content_type_id,
            "pk": ctx.ref.object_pk,
            "fence": ctx.state.fence,
            "ws_url": websocket_url(request),
            "lease": ctx.lease,
            "version": version,
            "record_key": ctx.ref.key,
            "public": ctx.state.as_public_dict(now),
            "heartbeat_interval": lock_settings.HEARTBEAT_INTERVAL,
            "timeout": lock_settings.TIMEOUT,
            "jsi18n": reverse(f"{self.admin_site.name}:{self._lock_prefix}_jsi18n"),
            "urls": {
                name: self.lock_url(name, pk)
                for name in ("heartbeat", "release", "state", "take_over", "request")
            },
            "refused": ctx.refused,
            "base": request.POST.get(BASE_FIELD, "") if request.method == "POST" else base,
        }

    def render_merge(self, request, context, obj, ctx: LockContext) -> HttpResponse:
        form = context["adminform"].form
        current = type(obj)._base_manager.get(pk=obj.pk)
        form_class = super().get_form(request, current, change=True)
        fields = merge_fields(form_class, current, form, request.POST.get(BASE_FIELD))
        shown = {f.name for f in fields}  # posted again by the merge table itself
        skip = {"csrfmiddlewaretoken", VERSION_FIELD, LEASE_FIELD, MERGE_FIELD, BASE_FIELD}
        inlines = merge_inlines(
            [inline.formset for inline in context.get("inline_admin_formsets", [])],
            self._unbound_formsets(request, current),
            read_base(request.POST.get(BASE_FIELD)),
        )
        context.update(
            {
                "title": _("Merge your changes into %(record)s") % {"record": current},
                "subtitle": None,
                "merge_fields": fields,
                "merge_inlines": inlines,
                "current": current,
                "current_version": current.version,
                "based_on_version": ctx.based_on_version,
                "locks": self.lock_template_context(request, current, ctx),
                "hidden_post": [
                    (key, value)
                    for key, values in request.POST.lists()
                    if key not in skip
                    and key not in shown
                    and not key.startswith((CHOICE_PREFIX, INLINE_CHOICE_PREFIX))
                    for value in values
                ],
                "lease": ctx.lease,
                "opts": self.opts,
            }
        )
        # "Discard my changes" goes back to the change form: let it keep this tab's lease.
        request.session[continue_key(ctx.ref)] = ctx.lease
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.merge_template, context)

    def _unbound_formsets(self, request, obj) -> list:
        """The inline formsets of `obj` as stored, with the prefixes the change form uses."""
        formsets, prefixes = [], {}
        for formset_class, inline in self.get_formsets_with_inlines(request, obj):
            prefix = formset_class.get_default_prefix()
            prefixes[prefix] = prefixes.get(prefix, 0) + 1
            if prefixes[prefix] != 1 or not prefix:
                prefix = f"{prefix}-{prefixes[prefix]}"
            formsets.append(
                formset_class(instance=obj, prefix=prefix, queryset=inline.get_queryset(request))
            )
        return formsets

    def response_change(self, request, obj):
        ctx = self._lock_context(request, obj)
        if ctx is not None and ctx.lease:
            if "_continue" in request.POST:
                request.session[continue_key(ctx.ref)] = ctx.lease  # the next GET renews it
            else:
                services.release(ctx.ref, request.user, ctx.lease)
        return super().response_change(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        ctx = getattr(request, "_locks", None)
        if ctx is not None and ctx.lease and "_saveasnew" in request.POST:
            services.release(ctx.ref, request.user, ctx.lease)  # the copy is a new record
        return super().response_add(request, obj, post_url_continue)

    # ------------------------------------------------------------ delete

    def delete_view(self, request, object_id, extra_context=None):
        """Deleting needs the lease too. The confirmation page holds one in its URL, so the
        page's own form (which posts to its URL) carries it without any JavaScript."""
        obj = self.get_object(request, unquote(object_id), self._to_field(request))
        if obj is None or not super().has_delete_permission(request, obj):
            return super().delete_view(request, object_id, extra_context)
        ref = ref_for(obj)
        now = clock.now()
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
                    ref, obj, lease, state, LockPolicy(state, request.user, lease, now)
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
            ref, obj, lease, outcome.state, LockPolicy(outcome.state, request.user, lease, now)
        )
        extra_context = {
            **(extra_context or {}),
            "locks_page": {"lease": lease, "release_url": self.lock_url("release", obj.pk)},
        }
        return super().delete_view(request, object_id, extra_context)

    def _refuse(self, request, state: LockState, verb: str) -> None:
        now = clock.now()
        if state.is_live(now) and state.holder_id != request.user.pk:
            text = _("%(holder)s is editing this record, so it was not %(verb)s.") % {
                "holder": state.holder_name,
                "verb": verb,
            }
        elif state.is_live(now):
            text = _("You are editing this record in another tab, so it was not %(verb)s here.") % {
                "verb": verb
            }
        else:
            text = _("You do not hold this record's lock, so it was not %(verb)s. Try again.") % {
                "verb": verb
            }
        messages.error(request, text)

    # ------------------------------------------------------------ change list, actions, list edits

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        request._locks_states = services.live_states(
            self.model, [o.pk for o in changelist.result_list]
        )
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

        @wraps(func)
        def run(modeladmin, request, queryset):
            held, refused = [], []
            for obj in queryset:
                outcome = services.acquire(obj, request.user)
                (held if outcome.ok else refused).append((obj, outcome))
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

        class LockCheckedFormSet(formset_class):
            def clean(self):
                super().clean()
                now = clock.now()
                for form in self.forms:
                    if not form.has_changed() or form.instance.pk is None:
                        continue
                    state = services.get_state(form.instance)
                    if state.is_live(now):
                        form.add_error(
                            None,
                            _("%(holder)s is editing this record; not saved.")
                            % {"holder": state.holder_name},
                        )

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
            return super().changelist_view(request, extra_context)
        except services.LeaseError as refused:
            self._refuse(request, refused.state, _("saved"))
            return HttpResponseRedirect(request.get_full_path())

    def _to_field(self, request) -> str | None:
        """The field the URL names the object by (?_to_field=), as Django's views read it."""
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            raise DisallowedModelAdminToField(f"The field {to_field} cannot be referenced.")
        return to_field


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
