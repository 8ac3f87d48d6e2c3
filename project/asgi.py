"""ASGI entry point: HTTP through Django, websockets through the locks app's helper."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Set up Django (apps, settings) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from locks.asgi import with_websockets  # noqa: E402

# A long-lived server holding many sockets: keep everything loaded at start-up out of the
# collector's way and collect young objects less often, so a full collection does not stall
# an event's fan-out (benchmarks/README.md: p99 at 1,000 pages).
gc.freeze()
gc.set_threshold(50_000, 20, 100)

# HTTP through Django; websockets through the locks route behind the session login and an
# origin check (the helper docs/install.md names).
application = with_websockets(django_asgi_app)
