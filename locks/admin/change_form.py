"""The change form's lifecycle: take the lock on GET, check lease and version on POST,
hand the lease on (save and continue) or release it (save), render the lock's context."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import fingerprint, services
from ..conf import lock_settings
from ..live import websocket_url
from ..merge import BASE_FIELD, apply_choices, base_with_inlines, form_values, sign_base
from ..records import ref_for
from ..state import FREE
from ..versioning import StaleVersionError, VersionedModel, current_version
from ..views import continue_key, reclaim_cookie
from .compose import extend_chosen_template
from .context import (
    FINGERPRINT_FIELD,
    LEASE_FIELD,
    MERGE_FIELD,
    VERSION_FIELD,
    LockContext,
    int_or_none,
)
from .forms import add_tokens, token_attrs, without_tokens
from .markers import mark_inline_values, mark_readonly_values


class ChangeFormLockMixin:
    """Locks the change form (and its inlines, and "save as new") of an existing record."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None:  # the add view takes no lock
            return super().changeform_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, unquote(object_id), self._to_field(request))
        if obj is None or not super().has_change_permission(request, obj):
            # Unknown object (Django answers) or a view-only user: no lock involved.
            return super().changeform_view(request, object_id, form_url, extra_context)
        ref = ref_for(self.lock_target(obj))
        if request.method == "POST":
            lease = request.POST.get(LEASE_FIELD, "")
            if MERGE_FIELD in request.POST:
                form_class = self.get_form(request, obj, change=True)
                request.POST = apply_choices(
                    request.POST, form_class, obj, self._unbound_formsets(request, obj)
                )
            # The lock is read (and on PostgreSQL locked) when the form validates: check_write.
            state = FREE
            based_on = int_or_none(request.POST.get(VERSION_FIELD))
            based_on_fingerprint = request.POST.get(FINGERPRINT_FIELD, "")
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
            based_on_fingerprint = ""
        request._locks = LockContext(
            ref,
            obj,
            lease,
            state,
            self.lock_policy(state, request, lease),
            based_on_version=based_on,
            based_on_fingerprint=based_on_fingerprint,
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

    def get_fields(self, request, obj=None):
        # The lock's inputs are added to the rendered fieldsets by render_change_form.
        return without_tokens(super().get_fields(request, obj))

    def get_formsets_with_inlines(self, request, obj=None):
        """A read-only page's inlines offer no blank rows and no delete boxes. Django drops
        them only while wrapping the built formsets for the template: too late for a skin
        that reads the forms first (unfold's nested inlines keep a row of live inputs) or asks
        the formset whether rows can be deleted (grappelli shows the boxes)."""
        read_only = self._lock_context(request, obj) is not None and not (
            self.has_change_permission(request, obj)
        )
        for formset_class, inline in super().get_formsets_with_inlines(request, obj):
            if read_only:
                attrs = {"extra": 0, "can_delete": False}
                formset_class = type(formset_class.__name__, (formset_class,), attrs)
            yield formset_class, inline

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The change form of a locked record carries the lock's hidden inputs (so any
        template that renders the form renders them) and, on POST, checks them."""
        if kwargs.get("fields") is not None:
            kwargs["fields"] = without_tokens(kwargs["fields"])
        form_class = super().get_form(request, obj, change=change, **kwargs)
        ctx = getattr(request, "_locks", None)
        target, save_as_new = None, False
        if ctx is None:
            pass
        elif request.method == "POST" and obj is None and "_saveasnew" in request.POST:
            target, save_as_new = ctx.target, True  # a copy, made from the locked screen
        elif self._lock_context(request, obj) is not None:
            target = obj
        if target is None and not (self.lock_parent and request.method == "POST"):
            return form_class
        admin = self
        attrs = token_attrs() if target is not None else {}
        if request.method == "POST":

            def clean(form):
                cleaned = super(locked, form).clean()
                if target is not None:
                    admin.check_write(request, target, form, check_version=not save_as_new)
                admin.check_parent(request, form)  # lock scope: adding into a held parent
                return cleaned

            attrs["clean"] = clean
        locked = type(form_class.__name__, (form_class,), attrs)
        return locked

    def check_write(self, request, obj: models.Model, form, *, check_version: bool = True) -> None:
        """Refuse the POST unless it carries the current lease (not needed when the lock is
        advisory) and the current version (or, without a version column, the fingerprint of
        the values stored now).

        Runs inside the admin's transaction: on PostgreSQL the lock row stays locked until
        commit, so nobody can take the lock between this check and the save.
        """
        ctx = request._locks
        if self.lock_advisory:
            ctx.state = services.get_state(ctx.ref)  # only to show who else edits
        else:
            self._check_lease(request, form, ctx)
        ctx.policy = self.lock_policy(ctx.state, request, ctx.lease)
        if check_version and not self._is_current(request, obj, form, ctx):
            ctx.conflict = True
            if not ctx.refused:
                form.add_error(
                    None,
                    _(
                        "Someone else saved this record since you opened it. Choose, field by "
                        "field, what to keep."
                    ),
                )

    def _check_lease(self, request, form, ctx: LockContext) -> None:
        """Refuse the save unless this tab presents the lock's current lease."""
        try:
            ctx.state = services.check_lease(ctx.ref, request.user, ctx.lease)
        except services.LeaseError as refused:
            ctx.refused = True
            if refused.state.is_live():
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

    def _is_current(self, request, obj: models.Model, form, ctx: LockContext) -> bool:
        """The POST is based on what is stored now: the same version, or (a model without a
        version column) the same fingerprint, compared with the row locked for this save."""
        if isinstance(obj, VersionedModel):
            latest = current_version(type(obj), obj.pk)
            return ctx.based_on_version is not None and ctx.based_on_version == latest
        stored = fingerprint.locked_row(obj)
        if stored is None:
            return True  # deleted meanwhile: Django's own save path answers
        now = fingerprint.fingerprint(
            type(form)(instance=stored), self._unbound_formsets(request, stored)
        )
        if not fingerprint.matches(ctx.based_on_fingerprint, now):
            return False
        fingerprint.keep_stored_values(form.instance, stored)
        return True

    def save_model(self, request, obj, form, change):
        ctx = self._lock_context(request, obj) if change else None
        if ctx is not None:
            if isinstance(obj, VersionedModel) and ctx.based_on_version is not None:
                obj.version = ctx.based_on_version  # the conditional UPDATE checks it again
            return super().save_model(request, obj, form, change)
        if change and not self.lock_advisory:
            # Any other write of an existing record (list_editable, a custom view): hold the
            # record's lock for the duration of the save, or refuse.
            target = self.lock_target(obj)
            outcome = services.acquire(target, request.user)
            if not outcome.ok:
                raise services.LeaseError(outcome.state)
            try:
                return super().save_model(request, obj, form, change)
            finally:
                services.release(ref_for(target), request.user, outcome.lease)
        return super().save_model(request, obj, form, change)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        ctx = self._lock_context(request, obj)
        if ctx is None:
            return super().render_change_form(request, context, add, change, form_url, obj)
        if ctx.conflict and request.method == "POST":
            return self.render_merge(request, context, obj, ctx)
        adminform = context["adminform"]
        locks = self.lock_template_context(
            request,
            obj,
            ctx,
            adminform.form,
            [inline.formset for inline in context.get("inline_admin_formsets", [])],
        )
        context["locks"] = locks
        add_tokens(adminform, locks)
        # Read-only values carry their field's name, so the page finds them under any skin.
        context["adminform"] = mark_readonly_values(adminform)
        context["inline_admin_formsets"] = mark_inline_values(
            context.get("inline_admin_formsets", [])
        )
        response = super().render_change_form(request, context, add, change, form_url, obj)
        return extend_chosen_template(response, "locks/admin/change_form.html")

    def lock_template_context(
        self, request, obj, ctx: LockContext, form=None, formsets=()
    ) -> dict[str, Any]:
        base = ""
        if form is not None and not form.is_bound:
            # What this page shows now: a later merge tells your changes from theirs by it.
            base = sign_base(base_with_inlines(form_values(form), formsets))
        version = getattr(obj, "version", None)
        if request.method == "POST" and ctx.based_on_version is not None:
            version = ctx.based_on_version
        if request.method == "POST":
            based_on = ctx.based_on_fingerprint  # the form still shows what it was based on
        elif form is not None and not form.is_bound and not isinstance(obj, VersionedModel):
            based_on = fingerprint.fingerprint(form, formsets)
        else:
            based_on = ""
        owner = self.lock_owner_admin()  # the parent's admin when the lock is the parent's
        return {
            **ctx.policy.get_context(),
            "ct": ctx.ref.content_type_id,
            "pk": ctx.ref.object_pk,
            "fence": ctx.state.fence,
            "ws_url": websocket_url(request),
            "lease": ctx.lease,
            "version": version,
            "fingerprint": based_on,
            "record_key": ctx.ref.key,
            "public": ctx.state.as_public_dict(),
            "heartbeat_interval": lock_settings.HEARTBEAT_INTERVAL,
            "timeout": lock_settings.TIMEOUT,
            "jsi18n": reverse(f"{self.admin_site.name}:{self._lock_prefix}_jsi18n"),
            "urls": {
                name: owner.lock_url(name, ctx.ref.object_pk)
                for name in ("heartbeat", "release", "state", "take_over", "request", "decline")
            },
            "refused": ctx.refused,
            "base": request.POST.get(BASE_FIELD, "") if request.method == "POST" else base,
        }

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
