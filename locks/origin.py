"""Websocket handshakes only from this site's own pages: Django's CSRF origin rule for sockets.

Browsers send `Origin` with every websocket handshake and do not apply the same-origin policy
to websockets, so any page on the web could open one with the user's session cookie. Channels'
`AllowedHostsOriginValidator` compares the origin's host name only, so another port or scheme
on an allowed host (a second app on `:8080`, plain `http://` on an HTTPS site) got through.

`OriginValidator` here accepts a handshake when its `Origin` is exactly

- this site as the request reached it: `http://` (`https://` for `wss`, or when
  `SECURE_PROXY_SSL_HEADER` says so), plus the `Host` header, which must be in `ALLOWED_HOSTS`;
- or an origin in `CSRF_TRUSTED_ORIGINS` (also `https://*.example.com` subdomain patterns),

as `CsrfViewMiddleware` does for an unsafe HTTP request. Anything else, and a handshake without
an `Origin`, is refused before the consumer runs (daphne answers HTTP 403).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

Scope = dict[str, Any]


class OriginValidator:
    """ASGI middleware for the websocket stack, in place of `AllowedHostsOriginValidator`."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def origin_allowed(scope: Scope) -> bool:
    """Whether the handshake's `Origin` is this site itself or a trusted origin."""
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    own = own_origin(scope)
    if own is not None and origin.lower() == own.lower():
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parts.netloc, trusted.netloc.removeprefix("*"))
        for trusted in map(urlsplit, settings.CSRF_TRUSTED_ORIGINS)
        if trusted.scheme == parts.scheme and trusted.netloc.startswith("*")
    )


def own_origin(scope: Scope) -> str | None:
    """The site's origin as this request reached it, or None if its Host is not allowed."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host()
    if not domain or not validate_host(domain, allowed):
        return None
    return f"{'https' if _is_secure(scope) else 'http'}://{host}"


def _is_secure(scope: Scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        # "HTTP_X_FORWARDED_PROTO" names the header x-forwarded-proto.
        raw = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1")
        value = _header(scope, raw)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key.lower() == name]
    if len(values) != 1:  # missing, or sent twice to confuse a proxy
        return None
    try:
        return values[0].decode("latin1").strip()
    except UnicodeDecodeError:
        return None
