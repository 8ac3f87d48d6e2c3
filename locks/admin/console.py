"""The lock manager console and the audit trail: read-only ModelAdmins for the lock tables."""

from __future__ import annotations

import hashlib

from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import services, stats
from ..conf import lock_settings
from ..live import websocket_url
from ..models import EditLock, LockEvent
from ..policy import ago, is_lock_manager
from ..records import RecordRef
from .compose import extend_chosen_template, lock_media


def record_link(obj) -> str:
    """A link to the record's change form, or its name when it has no admin page."""
    label = obj.object_repr or obj.object_pk
    model = obj.content_type.model_class()
    if model is None:
        return label
    try:
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.object_pk]
        )
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


def may_read_audit(user) -> bool:
    """Lock managers and whoever may view lock events read the audit trail and its report."""
    return is_lock_manager(user) or user.has_perm("locks.view_lockevent")


def fingerprint(token: str) -> str:
    """A short, stable name for a lease token, so pages can tell leases apart without showing
    one: whoever reads a token could heartbeat, save or release as its holder."""
    return hashlib.sha256(token.encode()).hexdigest()[:8] if token else "-"


class LockStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("active")), ("stale", _("expired or idle"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.live()
        if self.value() == "stale":
            return queryset.stale()
        return queryset


class ManagersReadOnlyAdmin(admin.ModelAdmin):
    """Lock rows and audit events are written by the service layer only: the admin shows them
    (to lock managers too, without the model's view permission) and never edits them.

    Lease tokens are credentials: their pages show a fingerprint instead."""

    exclude = ["lease"]
    readonly_fields = ["lease_fingerprint"]

    def has_view_permission(self, request, obj=None) -> bool:
        return is_lock_manager(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("lease"))
    def lease_fingerprint(self, obj) -> str:
        return fingerprint(obj.lease)


@admin.register(EditLock)
class EditLockAdmin(ManagersReadOnlyAdmin):
    """The manager console: who holds what, for how long, and a way to free it."""

    list_display = [
        "record",
        "content_type",
        "holder",
        "acquired_at",
        "heartbeat_age",
        "idle_time",
        "lock_state",
    ]
    exclude = ["lease", "previous_lease"]
    list_filter = [
        LockStateFilter,
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("holder", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["object_repr", "object_pk", "holder__username"]
    actions = ["release_selected"]
    ordering = ["-acquired_at"]
    list_select_related = ["content_type", "holder"]

    @property
    def media(self):
        return super().media + lock_media()

    def get_queryset(self, request):
        # Ages and states by the database's clock, read with the rows.
        return super().get_queryset(request).held().with_clock()

    def changelist_view(self, request, extra_context=None):
        """The console refreshes itself when any lock changes (websocket, else polling).
        Above the list: the contention report over the period `?contention_days=` (1, 7, 30)."""
        days = stats.period_from(request.GET.get(stats.PERIOD_PARAM))
        if stats.PERIOD_PARAM in request.GET:
            # Not a filter of the list: the ChangeList would refuse it (redirect with ?e=1).
            request.GET = request.GET.copy()
            del request.GET[stats.PERIOD_PARAM]
        extra_context = {
            **(extra_context or {}),
            "locks_list": {
                "console": True,
                "ws_url": websocket_url(request),
                "interval": lock_settings.HEARTBEAT_INTERVAL,
            },
            "contention": stats.contention_report(days) if may_read_audit(request.user) else None,
        }
        response = super().changelist_view(request, extra_context)
        return extend_chosen_template(response, "locks/admin/console.html")

    @admin.display(description=_("record"), ordering="object_repr")
    def record(self, obj: EditLock) -> str:
        return record_link(obj)

    @admin.display(description=_("last heartbeat"), ordering="heartbeat_at")
    def heartbeat_age(self, obj: EditLock) -> str:
        if not obj.heartbeat_at:
            return "-"
        return _("%(age)s ago") % {"age": ago(obj.heartbeat_at, obj.clock_now)}

    @admin.display(description=_("idle for"), ordering="activity_at")
    def idle_time(self, obj: EditLock) -> str:
        return ago(obj.activity_at, obj.clock_now) if obj.activity_at else "-"

    @admin.display(description=_("state"))
    def lock_state(self, obj: EditLock) -> str:
        labels = {
            "active": _("active"),
            "idle": _("idle"),
            "expired": _("expired"),
            "free": _("free"),
        }
        state = obj.state()
        return format_html(
            '<span class="locks-state locks-state-{}">{}</span>', state, labels[state]
        )

    @admin.action(description=_("Release selected locks"), permissions=["manage"])
    def release_selected(self, request, queryset):
        released = 0
        for lock in queryset:
            ref = RecordRef(lock.content_type_id, lock.object_pk, lock.object_repr)
            outcome = services.force_release(
                ref, request.user, reason=_("Released from the lock console")
            )
            released += outcome.ok
        self.message_user(
            request,
            ngettext("Released %(count)d lock.", "Released %(count)d locks.", released)
            % {"count": released},
            messages.SUCCESS,
        )

    def has_manage_permission(self, request) -> bool:
        return is_lock_manager(request.user)


@admin.register(LockEvent)
class LockEventAdmin(ManagersReadOnlyAdmin):
    """The audit trail: browsable, filterable, never editable."""

    list_display = ["at", "kind", "record", "holder", "actor", "reason"]
    list_filter = [
        "kind",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("holder", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("at", admin.DateFieldListFilter),
    ]
    search_fields = ["object_repr", "object_pk", "holder__username", "actor__username", "reason"]
    date_hierarchy = "at"
    list_select_related = ["content_type", "holder", "actor"]

    @admin.display(description=_("record"), ordering="object_repr")
    def record(self, obj: LockEvent) -> str:
        return record_link(obj)
