"""Contention numbers from the audit trail: what happened to locks over the last N days.

One function, `contention_report(days)`, gives plain data (JSON-ready) to the manager
console, its template fragment `locks/contention.html` and `manage.py locks --stats`.
Read-only; a handful of grouped queries over `LockEvent`, whatever the number of records.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import BigIntegerField, Case, Count, F, Max, Min, Q, When
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from . import clock
from .models import LockEvent
from .state import display_name

Kind = LockEvent.Kind

PERIODS = (1, 7, 30)
"""The periods the console offers, in days."""
DEFAULT_DAYS = 7
PERIOD_PARAM = "contention_days"
"""The console's query parameter for the period (the console view must take it out of the
change list's filters)."""
TOP = 10

REPORTED_KINDS = [
    Kind.ACQUIRED,
    Kind.TAKEN_OVER,
    Kind.EXPIRED,
    Kind.IDLE_RELEASED,
    Kind.HANDOVER_REQUESTED,
    Kind.FORCE_RELEASED,
    Kind.MERGE_SHOWN,
]

# A lease (one fencing number of one record) starts with `acquired`, or with `taken_over`,
# whose fence is the new lease's. It ends with one of these (same fence), or with the next
# lease's `taken_over` (fence + 1). Fences, not lease tokens: a reload rotates the token but
# keeps the holding and its fence.
_STARTS = [Kind.ACQUIRED, Kind.TAKEN_OVER]
_ENDS = [Kind.RELEASED, Kind.EXPIRED, Kind.IDLE_RELEASED, Kind.FORCE_RELEASED, Kind.TAKEN_OVER]

# Someone wanted a record somebody else held: asked for it, took it over, had it freed by a
# manager, or saved over a newer version (the merge screen). A user moving between their own
# tabs (`taken_over` by the holder) is not contention.
_CONTENTION = [Kind.HANDOVER_REQUESTED, Kind.TAKEN_OVER, Kind.FORCE_RELEASED, Kind.MERGE_SHOWN]
# Of those, the kinds whose actor is the one who waited (a forced release's actor is the
# manager who freed the record).
_WAITER_KINDS = {Kind.HANDOVER_REQUESTED, Kind.TAKEN_OVER, Kind.MERGE_SHOWN}


def contention_report(days: int = DEFAULT_DAYS, *, now: datetime | None = None) -> dict[str, Any]:
    """The last `days` days of the audit trail: counts by kind, how long leases were held,
    and the most contended records with who waited on whom. Plain data, JSON-ready."""
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ValueError(f"days must be a whole number of at least 1, not {days!r}")
    until = now or clock.now()
    since = until - timedelta(days=days)
    window = LockEvent.objects.filter(at__gt=since, at__lte=until)
    return {
        "days": days,
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
        "periods": list(PERIODS),
        "period_param": PERIOD_PARAM,
        "kinds": _counts(window),
        "held": _held(window),
        "contended": _contended(window),
    }


def period_from(value: Any) -> int:
    """The period asked for in a query string, or the default when it is not one offered."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_DAYS
    return days if days in PERIODS else DEFAULT_DAYS


# ---------------------------------------------------------------- counts by kind


def _counts(window) -> list[dict[str, Any]]:
    found = dict(
        window.filter(kind__in=REPORTED_KINDS)
        .values("kind")
        .order_by()
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    top = max(found.values(), default=0)
    return [
        {
            "kind": kind.value,
            "label": str(kind.label),
            "count": found.get(kind.value, 0),
            # Bar length in percent of the largest count; a non-zero count stays visible.
            "percent": math.ceil(100 * found.get(kind.value, 0) / top) if top else 0,
        }
        for kind in REPORTED_KINDS
    ]


# ---------------------------------------------------------------- time held


def _held(window) -> dict[str, Any]:
    """Median and 95th percentile time held, over the leases that started and ended in the
    window. An expiry counts from when it was recorded (by the sweeper within a second,
    by cron within a minute)."""
    starts = _lease_times(window.filter(kind__in=_STARTS), F("fence"), "start")
    ends = _lease_times(
        window.filter(kind__in=_ENDS),
        Case(
            When(kind=Kind.TAKEN_OVER, then=F("fence") - 1),
            default=F("fence"),
            output_field=BigIntegerField(),
        ),
        "end",
    )
    durations = sorted(
        (ends[key] - start).total_seconds()
        for key, start in starts.items()
        if key in ends and ends[key] >= start
    )
    median = _percentile(durations, 0.5)
    p95 = _percentile(durations, 0.95)
    return {
        "leases": len(durations),
        "median_s": median,
        "p95_s": p95,
        "median": format_duration(median),
        "p95": format_duration(p95),
    }


def _lease_times(events, fence, name: str) -> dict[tuple[int, str, int], datetime]:
    """{(content type, object id, fence): earliest event time} for the given events."""
    rows = (
        events.annotate(lease_fence=fence)
        .values("content_type_id", "object_pk", "lease_fence")
        .order_by()
        .annotate(**{name: Min("at")})
        .values_list("content_type_id", "object_pk", "lease_fence", name)
    )
    return {(ct, pk, lease_fence): at for ct, pk, lease_fence, at in rows}


def _percentile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (as spreadsheets and NumPy do)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 1)


def format_duration(seconds: float | None) -> str:
    """A short, translatable duration: "45 s", "4 min 12 s", "2 h 5 min", "3 d 4 h"."""
    if seconds is None:
        return ""
    total = round(seconds)
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return _("%(d)d d %(h)d h") % {"d": d, "h": h}
    if h:
        return _("%(h)d h %(m)d min") % {"h": h, "m": m}
    if m:
        return _("%(m)d min %(s)d s") % {"m": m, "s": s}
    return _("%(s)d s") % {"s": s}


# ---------------------------------------------------------------- most contended records


def _contended(window) -> list[dict[str, Any]]:
    rows = list(
        window.filter(kind__in=_CONTENTION)
        .exclude(kind=Kind.TAKEN_OVER, actor_id=F("holder_id"))
        .values("content_type_id", "object_pk")
        .annotate(contention=Count("pk"), last_at=Max("at"))
        .order_by("-contention", "-last_at")[:TOP]
    )
    if not rows:
        return []
    records = Q()
    for row in rows:
        records |= Q(content_type_id=row["content_type_id"], object_pk=row["object_pk"])
    events = list(
        window.filter(records, kind__in=_CONTENTION)
        .exclude(kind=Kind.TAKEN_OVER, actor_id=F("holder_id"))
        .order_by("at", "pk")
        .values_list("content_type_id", "object_pk", "object_repr", "kind", "actor_id", "holder_id")
    )
    names = _names({e[4] for e in events} | {e[5] for e in events})
    details: dict[tuple[int, str], dict[str, Any]] = {}
    for ct, pk, object_repr, kind, actor_id, holder_id in events:
        item = details.setdefault(
            (ct, pk), {"repr": "", "kinds": Counter(), "waiters": Counter(), "held_by": Counter()}
        )
        item["repr"] = object_repr or item["repr"]  # the latest name the record had
        item["kinds"][kind] += 1
        if kind in _WAITER_KINDS and actor_id in names:
            item["waiters"][names[actor_id]] += 1
        if holder_id in names and holder_id != actor_id:
            item["held_by"][names[holder_id]] += 1
    return [_record(row, details[(row["content_type_id"], row["object_pk"])]) for row in rows]


def _record(row: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    ct = ContentType.objects.get_for_id(row["content_type_id"])
    return {
        "model": f"{ct.app_label}.{ct.model}",
        "object_pk": row["object_pk"],
        "record": detail["repr"] or f"{ct.model} {row['object_pk']}",
        "url": _change_url(ct, row["object_pk"]),
        "contention": row["contention"],
        "last_at": row["last_at"].isoformat(),
        **{kind.value: detail["kinds"][kind.value] for kind in _CONTENTION},
        "waiters": [{"name": n, "count": c} for n, c in detail["waiters"].most_common()],
        "waited_on": [{"name": n, "count": c} for n, c in detail["held_by"].most_common()],
    }


def _names(user_ids: set[int | None]) -> dict[int, str]:
    users = get_user_model()._default_manager.filter(pk__in=[u for u in user_ids if u])
    return {user.pk: display_name(user) for user in users}


def _change_url(ct: ContentType, object_pk: str) -> str:
    try:
        return reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[quote(object_pk)])
    except NoReverseMatch:
        return ""
