"""Work-arounds for ASGI servers, applied once when the app loads.

Daphne hands a consumer's `websocket.close` code to autobahn's `sendClose()`, which accepts only
1000 and 3000-4999 and raises for every other code, so a consumer cannot close with 1008
(policy violation) as RFC 6455 and the protocol (docs/protocol.md) want. Daphne itself sends
1011 through the lower-level `sendCloseFrame()`; `allow_rfc_close_codes` makes its
`serverClose` do the same for the codes an endpoint may send. Other servers (uvicorn,
hypercorn) send these codes already and are left alone.
"""

from __future__ import annotations

# RFC 6455 section 7.4.1: codes an endpoint may send (1004-1006 and 1015 are reserved).
SENDABLE = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def allow_rfc_close_codes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not served by daphne
        return
    if getattr(WebSocketProtocol.serverClose, "locks_rfc_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def serverClose(self, code=None):  # daphne's name
        if code in SENDABLE:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code=code)

    serverClose.locks_rfc_codes = True
    WebSocketProtocol.serverClose = serverClose
