"""The ASGI application the fan-out benchmark serves: our endpoint and a stock-Channels one.

`/ws/locks/` is the project's own consumer (events reach sockets through the per-process hub).
`/ws/baseline/` is what stock Channels code looks like: every socket has its own channel,
joins one group per record on connect, and encodes each event itself. Both sit behind the
same middleware as `project/asgi.py`, so the only difference is how events reach sockets.

Serve it with `python -m daphne benchmarks.baseline:application` from the repository root.

The stock consumers get their own instance of the project's default channel layer (same
backend, same Redis, same settings; alias `bench.baseline`). channels-redis lets only one
coroutine per layer instance read process-local channels at a time, and the reader loops on
its own channel-name prefix; the hub's `locks-hub.` prefix and Channels' `specific.` prefix
therefore starve each other inside one instance (whichever reads first wins, the other never
hears anything). Separate instances keep the two endpoints independent. See README.md.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Set up Django (apps, settings) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from urllib.parse import parse_qs  # noqa: E402

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

import project.asgi  # noqa: E402, F401  (the real server's process settings, e.g. its gc tuning)
from locks.consumers import LockConsumer  # noqa: E402
from locks.records import RecordRef  # noqa: E402

BASELINE_LAYER = "bench.baseline"
BASELINE_PREFIX = "bench.record."  # benchmarks/fanout.py publishes to these groups

layers = settings.CHANNEL_LAYERS
settings.CHANNEL_LAYERS = {**layers, BASELINE_LAYER: layers["default"]}


def baseline_group(ct: int, pk: str) -> str:
    return f"{BASELINE_PREFIX}{RecordRef(ct, pk).key}"


class BaselineConsumer(AsyncJsonWebsocketConsumer):
    """Stock fan-out: one channel per socket, one group membership per socket and record.

    Connect with `/ws/baseline/?ct=<content type id>&pk=<pk>`. The group is joined before the
    handshake completes, so an open socket is already in its group.
    """

    channel_layer_alias = BASELINE_LAYER

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.group = baseline_group(int(query["ct"][0]), query["pk"][0])
        except (KeyError, ValueError):
            await self.close(code=4400)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def bench_event(self, message: dict) -> None:
        await self.send_json(message["event"])  # encoded once per socket, as stock code does


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        path("ws/locks/", LockConsumer.as_asgi()),
                        path("ws/baseline/", BaselineConsumer.as_asgi()),
                    ]
                )
            )
        ),
    }
)
