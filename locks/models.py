"""Lock storage. The unique constraint is the last word on "one holder per record"."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.db.models.expressions import Expression
from django.utils.translation import gettext_lazy as _

from . import clock
from .conf import lock_settings


def live_q(now: datetime | Expression | None = None) -> Q:
    """Rows whose lease is current: held, heartbeat not expired, holder not idle. Compared
    in SQL with the lock clock (the database's) unless given a time."""
    now = clock.expression() if now is None else now
    return Q(
        holder__isnull=False, expires_at__gt=now, activity_at__gt=now - lock_settings.idle_timeout
    )


def stale_q(now: datetime | Expression | None = None) -> Q:
    """Rows still naming a holder whose lease has lapsed (expired or idle)."""
    now = clock.expression() if now is None else now
    return Q(holder__isnull=False) & (
        Q(expires_at__lte=now) | Q(activity_at__lte=now - lock_settings.idle_timeout)
    )


class EditLockQuerySet(models.QuerySet):
    def live(self, now: datetime | None = None) -> EditLockQuerySet:
        return self.filter(live_q(now))

    def stale(self, now: datetime | None = None) -> EditLockQuerySet:
        return self.filter(stale_q(now))

    def with_clock(self) -> EditLockQuerySet:
        """Each row with the lock clock's time as `clock_now`, read in the same query: what
        liveness and ages are measured against."""
        return self.annotate(clock_now=clock.expression())

    def held(self) -> EditLockQuerySet:
        return self.filter(holder__isnull=False)

    def for_object(self, obj: models.Model) -> EditLockQuerySet:
        return self.filter(
            content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
            object_pk=str(obj.pk),
        )


class EditLock(models.Model):
    """One row per record ever locked; `holder` is empty while the record is free.

    The row outlives its leases so that `fence` only grows: every new lease gets a larger
    number, and an older lease can never pass for a newer one.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_pk = models.CharField(_("object id"), max_length=255)
    object_repr = models.CharField(_("record"), max_length=200, blank=True)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="edit_locks",
        verbose_name=_("holder"),
    )
    lease = models.CharField(_("lease token"), max_length=64, blank=True)
    fence = models.PositiveBigIntegerField(_("fencing number"), default=0)
    acquired_at = models.DateTimeField(_("since"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True, db_index=True)
    # How the lease before the current one ended, when a new lease replaced a lapsed one in
    # the same statement: read back by the service to write that lease's audit event.
    previous_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    previous_lease = models.CharField(max_length=64, blank=True)
    previous_end = models.CharField(max_length=20, blank=True)
    handover_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handover_requested_at = models.DateTimeField(null=True, blank=True)
    # The holder's page says it has unsaved changes (viewers are told when this flips).
    # `previous_unsaved` is the flag as the last heartbeat found it: the heartbeat's one
    # statement sets both, so the service reads back whether it flipped.
    unsaved = models.BooleanField(_("unsaved changes"), default=False, db_default=False)
    previous_unsaved = models.BooleanField(default=False, db_default=False)

    objects = EditLockQuerySet.as_manager()

    class Meta:
        verbose_name = _("edit lock")
        verbose_name_plural = _("edit locks")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_pk"], name="locks_editlock_one_per_record"
            ),
            models.CheckConstraint(
                condition=Q(holder__isnull=True, lease="") | Q(holder__isnull=False) & ~Q(lease=""),
                name="locks_editlock_holder_has_lease",
            ),
        ]
        permissions = [("manage_locks", _("Can take over and release other users' locks"))]

    def __str__(self) -> str:
        return self.object_repr or f"{self.content_type.model} {self.object_pk}"

    def state(self, now: datetime | None = None) -> str:
        """active, idle, expired or free: what the manager console shows. Measured against
        the lock clock's time read with the row (`with_clock()`) unless given a time."""
        now = now or getattr(self, "clock_now", None) or clock.now()
        if self.holder_id is None:
            return "free"
        if self.activity_at and self.activity_at <= now - lock_settings.idle_timeout:
            return "idle"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "active"

    def get_object(self) -> models.Model | None:
        model = self.content_type.model_class()
        if model is None:
            return None
        return model._default_manager.filter(pk=self.object_pk).first()


class LockEvent(models.Model):
    """The audit trail: one row per thing that happened to a lock. Never edited."""

    class Kind(models.TextChoices):
        ACQUIRED = "acquired", _("acquired")
        RELEASED = "released", _("released")
        EXPIRED = "expired", _("expired")
        IDLE_RELEASED = "idle_released", _("released for idling")
        TAKEN_OVER = "taken_over", _("taken over")
        FORCE_RELEASED = "force_released", _("force-released")
        HANDOVER_REQUESTED = "handover_requested", _("handover requested")
        HANDOVER_DECLINED = "handover_declined", _("handover declined")
        MERGE_SHOWN = "merge_shown", _("merge screen shown")

    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices, db_index=True)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_pk = models.CharField(_("object id"), max_length=255, db_index=True)
    object_repr = models.CharField(_("record"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Who did it; empty when the system did (expiry, cron)."),
    )
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("holder"),
        help_text=_(
            "Whose lock it was: the new holder on acquire, the displaced holder on take-over "
            "and forced release."
        ),
    )
    lease = models.CharField(_("lease token"), max_length=64, blank=True)
    fence = models.PositiveBigIntegerField(_("fencing number"), default=0)
    reason = models.TextField(_("reason"), blank=True)
    at = models.DateTimeField(_("when"), db_index=True)

    class Meta:
        verbose_name = _("lock event")
        verbose_name_plural = _("lock events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_pk", "-at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.object_repr or self.object_pk}"
