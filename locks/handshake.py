"""The websocket handshake's login: the user and the socket's session binding in one trip.

Channels' `AuthMiddleware` reads the session and the user in one trip to the database thread;
the consumer then read the session row again (its expiry, for `sessions.SessionBinding`) in a
second trip. Here one trip reads the session row once (data and expiry) and the user: after a
server restart, 1,000 pages reconnecting at once queue their handshakes on that one thread
(benchmarks/reconnect_storm.py), so each trip and each query counts.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from .sessions import SCOPE_KEY, SessionBinding
from .trips import database_sync_to_async


def user_and_binding(scope: dict[str, Any]) -> tuple[Any, SessionBinding]:
    """The scope's user (as channels' `get_user` decides it: backend, session hash) and its
    session binding, from one read of the session row."""
    binding = SessionBinding.of(scope, prime=True)
    return get_user.func(scope), binding


class SessionUserMiddleware(AuthMiddleware):
    """`AuthMiddleware` that also binds the socket to its session, in the same trip."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        user, scope[SCOPE_KEY] = await database_sync_to_async(user_and_binding)(scope)
        scope["user"]._wrapped = user


def SessionUserMiddlewareStack(inner: Any) -> Any:
    """Cookies, session and login for the locks websocket, as `AuthMiddlewareStack` does."""
    return CookieMiddleware(SessionMiddleware(SessionUserMiddleware(inner)))
