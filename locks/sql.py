"""The lock's SQL: one conditional statement per state change, per database vendor.

The service layer (`locks.services`) runs these; nothing else should. Each statement changes
a lock only if it is in the state the operation expects, and returns what it changed, so two
requests can never both win. The templates name columns by key (`{holder}`, `{lease}` ...);
`statement()` fills in the quoted names for the database in use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils.dateparse import parse_datetime

from . import clock
from .conf import lock_settings
from .models import EditLock
from .state import FREE, LockState, display_name

ACQUIRE = """
INSERT INTO {t} ({ct}, {pk}, {repr}, {holder}, {lease}, {fence}, {acquired}, {heartbeat},
                 {activity}, {expires}, {prev_holder}, {prev_lease}, {prev_end},
                 {handover_by}, {handover_at}, {unsaved}, {prev_unsaved})
VALUES (%(ct)s, %(pk)s, %(repr)s, %(user)s, %(new)s, 1, {now}, {now}, {now}, {new_expiry},
        NULL, '', '', NULL, NULL, FALSE, FALSE)
ON CONFLICT ({ct}, {pk}) DO UPDATE SET
    {prev_holder} = CASE WHEN {renew} THEN NULL ELSE {t}.{holder} END,
    {prev_lease} = CASE WHEN {renew} THEN '' ELSE {t}.{lease} END,
    {prev_end} = CASE WHEN {renew} THEN 'renewed' WHEN {t}.{holder} IS NULL THEN ''
                      WHEN {t}.{activity} <= {idle_cutoff} THEN 'idle_released'
                      ELSE 'expired' END,
    {fence} = CASE WHEN {renew} THEN {t}.{fence} ELSE {t}.{fence} + 1 END,
    {acquired} = CASE WHEN {renew} THEN {t}.{acquired} ELSE {now} END,
    {lease} = CASE WHEN {renew} AND %(rotate)s = 0 THEN {t}.{lease} ELSE %(new)s END,
    {handover_by} = CASE WHEN {renew} THEN {t}.{handover_by} ELSE NULL END,
    {handover_at} = CASE WHEN {renew} THEN {t}.{handover_at} ELSE NULL END,
    {prev_unsaved} = {t}.{unsaved},
    {unsaved} = CASE WHEN {renew} AND %(rotate)s = 1 THEN {t}.{unsaved} ELSE FALSE END,
    {holder} = %(user)s,
    {repr} = %(repr)s,
    {heartbeat} = {now},
    {activity} = {now},
    {expires} = {new_expiry}
WHERE {t}.{holder} IS NULL OR {t}.{expires} <= {now} OR {t}.{activity} <= {idle_cutoff}
   OR {renew}
RETURNING {lease}, {fence}, {acquired}, {prev_holder}, {prev_lease}, {prev_end},
          {handover_by}, {handover_at}, {prev_unsaved}, {heartbeat}, {expires}
"""

# `unsaved` NULL keeps the flag; the right-hand sides all read the row as it was, so
# {prev_unsaved} gets the flag before this heartbeat and the service can tell a flip.
HEARTBEAT = """
UPDATE {t} SET {heartbeat} = {now}, {expires} = {new_expiry}{activity_set},
    {prev_unsaved} = {unsaved}, {unsaved} = COALESCE(%(unsaved)s, {unsaved})
WHERE {ct} = %(ct)s AND {pk} = %(pk)s AND {lease} = %(own)s AND {holder} = %(user)s
  AND {expires} > {now} AND {activity} > {idle_cutoff}
RETURNING {fence}, {acquired}, {activity}, {handover_by}, {prev_unsaved}, {unsaved}, {heartbeat},
          {expires}
"""

RELEASE = """
UPDATE {t} SET {holder} = NULL, {lease} = '', {expires} = NULL, {handover_by} = NULL,
    {handover_at} = NULL, {prev_holder} = NULL, {prev_lease} = '', {prev_end} = '',
    {unsaved} = FALSE
WHERE {ct} = %(ct)s AND {pk} = %(pk)s AND {lease} = %(own)s AND {holder} = %(user)s
RETURNING {fence}, {repr}, {now}
"""

# The lock as pages see it, with the lock clock's time: no joins, no ORM (it is read for every
# page that (re)connects or polls); the holder's and requester's names come after, by id.
READ = """
SELECT {holder}, {lease}, {fence}, {acquired}, {heartbeat}, {activity}, {expires},
       {handover_by}, {handover_at}, {unsaved}, {now}
FROM {t} WHERE {ct} = %(ct)s AND {pk} = %(pk)s{for_update}
"""

# The statements per database vendor. PostgreSQL and SQLite (3.35+) share one dialect:
# INSERT ... ON CONFLICT DO UPDATE ... WHERE and UPDATE ... RETURNING.
_COMMON = {"acquire": ACQUIRE, "heartbeat": HEARTBEAT, "release": RELEASE, "read": READ}
STATEMENTS: dict[str, dict[str, str]] = {"postgresql": _COMMON, "sqlite": _COMMON}

_COLUMNS = {
    "ct": "content_type_id",
    "pk": "object_pk",
    "repr": "object_repr",
    "holder": "holder_id",
    "lease": "lease",
    "fence": "fence",
    "acquired": "acquired_at",
    "heartbeat": "heartbeat_at",
    "activity": "activity_at",
    "expires": "expires_at",
    "prev_holder": "previous_holder_id",
    "prev_lease": "previous_lease",
    "prev_end": "previous_end",
    "handover_by": "handover_requested_by_id",
    "handover_at": "handover_requested_at",
    "unsaved": "unsaved",
    "prev_unsaved": "previous_unsaved",
}

# What a freed lock row carries (for the ORM updates of force-release and the sweeper).
FREED = {
    "holder_id": None,
    "lease": "",
    "expires_at": None,
    "handover_requested_by": None,
    "handover_requested_at": None,
    "previous_holder_id": None,
    "previous_lease": "",
    "previous_end": "",
    "unsaved": False,
}


def conn():
    """The connection lock rows are written through."""
    return connections[router.db_for_write(EditLock)]


# "This tab's lease is still current": the only case in which acquire renews.
RENEW = (
    "({t}.{lease} = %(own)s AND {t}.{holder} = %(user)s AND {t}.{expires} > {now} "
    "AND {t}.{activity} > {idle_cutoff})"
)


def statement(name: str, **fragments: str) -> str:
    """The statement `name` for the database in use, with quoted names filled in.

    `fragments` fill optional placeholders (as the heartbeat's `{activity_set}`, and the
    lock clock's `{now}`, `{new_expiry}` and `{idle_cutoff}`); they may use the column keys
    themselves.
    """
    connection = conn()
    try:
        template = STATEMENTS[connection.vendor][name]
    except KeyError:
        raise NotImplementedError(
            f"Edit locks have no SQL for the {connection.vendor!r} database; "
            f"supported: {', '.join(sorted(STATEMENTS))}."
        ) from None
    template = template.replace("{renew}", RENEW)
    for key, fragment in fragments.items():
        template = template.replace("{" + key + "}", fragment)
    names = {key: connection.ops.quote_name(column) for key, column in _COLUMNS.items()}
    names["t"] = connection.ops.quote_name(EditLock._meta.db_table)
    return template.format(**names)


def times() -> tuple[dict[str, str], dict[str, Any]]:
    """The lock clock in SQL: `{now}`, `{new_expiry}` (a lease renewed now ends then) and
    `{idle_cutoff}` (a holder inactive since then is idle), with their parameters.

    The database's clock, read inside the statement itself; under a FakeClock, its time.
    """
    connection = conn()
    fragments: dict[str, str] = {}
    params: dict[str, Any] = {}
    for name, offset in (
        ("now", clock.ZERO),
        ("new_expiry", lock_settings.timeout),
        ("idle_cutoff", -lock_settings.idle_timeout),
    ):
        fragments[name], needed = clock.sql(connection, name, offset)
        params.update(needed)
    return fragments, params


def execute(name: str, params: dict[str, Any], **fragments: str) -> tuple | None:
    """Run statement `name` with the lock clock's times and return the row it returned
    (None: nothing changed)."""
    time_fragments, time_params = times()
    with conn().cursor() as cursor:
        cursor.execute(statement(name, **fragments, **time_fragments), {**params, **time_params})
        return cursor.fetchone()


def as_datetime(value: Any) -> datetime | None:
    """Raw SQL returns text on SQLite; make it an aware datetime like the ORM would."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


def read_state(ref, *, for_update: bool = False, known: Any = None) -> LockState:
    """The record's lock as a LockState: one plain statement (row-locked until commit if
    asked and possible), then one query for the names of the holder and the handover
    requester when there are any other than the `known` user."""
    lock_row = for_update and conn().features.has_select_for_update
    row = execute(
        "read",
        {"ct": ref.content_type_id, "pk": ref.object_pk},
        for_update=" FOR UPDATE" if lock_row else "",
    )
    if row is None:
        return FREE
    holder, lease, fence, acquired, heartbeat, activity, expires, by, by_at, unsaved, now = row
    names = {known.pk: display_name(known)} if known is not None else {}
    names.update(user_names([uid for uid in (holder, by) if uid is not None and uid not in names]))
    return LockState(
        holder_id=holder,
        holder_name=names.get(holder, "") if holder is not None else "",
        lease=lease,
        fence=fence,
        acquired_at=as_datetime(acquired),
        heartbeat_at=as_datetime(heartbeat),
        activity_at=as_datetime(activity),
        expires_at=as_datetime(expires),
        handover_requested_by=names.get(by, "") if by is not None else "",
        handover_requested_at=as_datetime(by_at),
        as_of=as_datetime(now),
        handover_requested_by_id=by,
        unsaved=bool(unsaved),
    )


def user_names(ids: list[Any]) -> dict[Any, str]:
    """Display names by user id (the user model's own `get_full_name`, as the ORM gives)."""
    if not ids:
        return {}
    users = get_user_model()._default_manager.in_bulk(set(ids))
    return {pk: display_name(user) for pk, user in users.items()}


def read(ref, *, for_update: bool = False) -> EditLock | None:
    """The record's lock row with its holder and the lock clock's time (`clock_now`),
    row-locked until commit if asked and possible."""
    qs = (
        EditLock.objects.with_clock()
        .select_related("holder", "handover_requested_by")
        .filter(content_type_id=ref.content_type_id, object_pk=ref.object_pk)
    )
    features = conn().features
    if for_update and features.has_select_for_update:
        qs = (
            qs.select_for_update(of=("self",))
            if features.has_select_for_update_of
            else qs.select_for_update()
        )
    return qs.first()
