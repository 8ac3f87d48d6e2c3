"""The websocket handshake's login: the user and the socket's session binding in one trip.

Channels' `AuthMiddleware` reads the session and the user in one trip to the database thread;
the consumer then read the session row again (its expiry, for `sessions.SessionBinding`) in a
second trip. Here one trip reads the session row once (data and expiry) and the user: after a
server restart, 1,000 pages reconnecting at once queue their handshakes on that one thread
(benchmarks/reconnect_storm.py), so each trip and each query counts.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.auth import _get_user_session_key as session_user_id
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, load_backend
from django.contrib.auth.models import AnonymousUser
from django.utils.crypto import constant_time_compare

from . import sharing
from .sessions import SCOPE_KEY, SessionBinding
from .trips import database_sync_to_async


def session_user(scope: dict[str, Any], healthy: bool = False) -> Any:
    """The scope's user, decided as channels' `get_user` decides it (the session's backend
    and user id, then the session hash), with the user row another socket of this user read
    a moment ago when there is one (`locks.sharing`)."""
    session = scope["session"]
    try:
        user_id = session_user_id(session)
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    user = sharing.borrow_user(backend_path, user_id, healthy)
    if user is None:
        user = load_backend(backend_path).get_user(user_id)
        sharing.keep_user(backend_path, user, healthy)
    if user is not None and hasattr(user, "get_session_auth_hash"):
        session_hash = session.get(HASH_SESSION_KEY)
        if not (session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())):
            session.flush()
            user = None
    return user or AnonymousUser()


def user_and_binding(scope: dict[str, Any], healthy: bool = False) -> tuple[Any, SessionBinding]:
    """The scope's user and its session binding, from one read of the session row."""
    binding = SessionBinding.of(scope, prime=True)
    return session_user(scope, healthy), binding


class SessionUserMiddleware(AuthMiddleware):
    """`AuthMiddleware` that also binds the socket to its session, in the same trip."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        from .hub import layer_healthy

        user, scope[SCOPE_KEY] = await database_sync_to_async(user_and_binding)(
            scope, layer_healthy()
        )
        scope["user"]._wrapped = user


def SessionUserMiddlewareStack(inner: Any) -> Any:
    """Cookies, session and login for the locks websocket, as `AuthMiddlewareStack` does."""
    return CookieMiddleware(SessionMiddleware(SessionUserMiddleware(inner)))
