"""A socket belongs to the session that opened it.

Logout and deleted sessions are announced through the channel layer (every server process
hears it and closes that session's sockets with 4401); a password change or a lost staff
flag reaches the sockets as a user change (`locks.signals`) and is checked here. Expiry, and
deletions nobody announced (raw SQL, cache-only session stores), are caught by each socket's
own timer: at the session's expiry and every SESSION_RECHECK seconds (which also reads the
user again, so rights changed behind Django's back are noticed without a read per message).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, user_logged_out
from django.db import connections, router, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import events

SESSION_RECHECK = 120.0  # seconds between two checks of a socket's session and user
SCOPE_KEY = "locks.session_binding"  # set by locks.handshake at the websocket handshake


def fingerprint(session_key: str | None) -> str:
    """A session's name on the channel layer: never the key itself."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:24]


def _store(session_key: str | None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def _stored(session_key: str) -> tuple[dict[str, Any], datetime | None]:
    """The session's data and expiry as stored: one query for database-backed stores."""
    store = _store(session_key)
    get_model = getattr(store, "get_model_class", None)
    if get_model is not None:
        row = _session_row(get_model(), session_key)
        if row is None or row[1] <= timezone.now():
            return {}, None
        return store.decode(row[0]), row[1]
    data = store.load()
    try:
        return data, store.get_expiry_date() if data else None
    except Exception:
        return data, None


def _session_row(model, session_key: str) -> tuple[str, datetime] | None:
    """The stored session's data and expiry, by one plain statement: read at every websocket
    handshake (after a restart, by every open page at once), where building the ORM query
    cost twenty times the query itself. Values come back as the ORM would give them."""
    connection = connections[router.db_for_read(model)]
    meta = model._meta
    data, expiry, key = (
        meta.get_field(name) for name in ("session_data", "expire_date", "session_key")
    )
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(data.column)}, {quote(expiry.column)} FROM {quote(meta.db_table)} "
            f"WHERE {quote(key.column)} = %s",
            [session_key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    column = expiry.get_col(meta.db_table)
    expires = row[1]
    for convert in connection.ops.get_db_converters(column) + expiry.get_db_converters(connection):
        expires = convert(expires, column, connection)
    return row[0], expires


def hash_matches(session_hash: str, user) -> bool:
    """The session's auth hash still matches the user's password (as django.contrib.auth's
    get_user checks it, fallback secrets included)."""
    if not hasattr(user, "get_session_auth_hash"):
        return True
    if session_hash and constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        session_hash and constant_time_compare(session_hash, user._get_session_auth_hash(secret=s))
        for s in getattr(settings, "SECRET_KEY_FALLBACKS", [])
    )


@dataclass
class SessionBinding:
    key: str | None
    fingerprint: str
    user_id: str
    expires_at: datetime | None

    @classmethod
    def of(cls, scope: dict[str, Any], prime: bool = False) -> SessionBinding:
        """The binding of the scope's session (one read of the stored session). With `prime`,
        the scope's session store is given the data read, so reading the user from it next
        costs no second read (locks.handshake, before the session was loaded)."""
        session = scope["session"]
        key = session.session_key
        data, expires_at = _stored(key) if key else ({}, None)
        if prime and data:
            session._session_cache = data
        return cls(key, fingerprint(key), str(session.get(SESSION_KEY, "")), expires_at)

    def seconds_to_next_check(self) -> float:
        if self.expires_at is None:
            return SESSION_RECHECK
        left = (self.expires_at - timezone.now()).total_seconds()
        return max(0.05, min(SESSION_RECHECK, left + 0.05))

    def is_alive(self, user) -> bool:
        """The session is still in the store, unexpired, for this user, with a current
        password hash; and the user may still use the admin."""
        if user is None or not user.is_active or not user.is_staff or not self.key:
            return False
        data, self.expires_at = _stored(self.key)
        if not data or str(data.get(SESSION_KEY, "")) != self.user_id:
            return False
        return str(user.pk) == self.user_id and hash_matches(data.get(HASH_SESSION_KEY, ""), user)


# ---------------------------------------------------------------- announcing ended sessions

_pending = threading.local()


def announce_ended(user_id: Any, session_key: str | None) -> None:
    """After commit, close this session's sockets on every server process (batched: one
    message per user however many sessions a transaction deletes)."""
    batch = getattr(_pending, "batch", None)
    first = batch is None
    if first:
        batch = _pending.batch = {}
    batch.setdefault(events.user_group(user_id), []).append(fingerprint(session_key))
    if first:
        transaction.on_commit(_flush, robust=True)  # at once outside a transaction


def _flush() -> None:
    batch, _pending.batch = getattr(_pending, "batch", None) or {}, None
    events.send_to_groups(
        {
            group: {"type": "locks.session", "topic": group, "sessions": prints}
            for group, prints in batch.items()
        }
    )


@receiver(user_logged_out, dispatch_uid="locks.logged_out")
def logged_out(sender, request, user, **kwargs) -> None:
    if user is not None and getattr(request, "session", None) is not None:
        announce_ended(user.pk, request.session.session_key)


def session_deleted(sender, instance, **kwargs) -> None:
    """A stored session row was deleted (flush, an admin, a script): its sockets close.
    Expired rows (clearsessions) are skipped: their sockets closed at expiry."""
    if instance.expire_date <= timezone.now():
        return
    try:
        user_id = instance.get_decoded().get(SESSION_KEY)
    except Exception:
        return
    if user_id:
        announce_ended(user_id, instance.session_key)


def connect_session_model() -> None:
    """Watch the database session model when the sessions app is installed."""
    from django.apps import apps

    if apps.is_installed("django.contrib.sessions"):
        from django.contrib.sessions.models import Session

        post_delete.connect(session_deleted, sender=Session, dispatch_uid="locks.session_gone")
