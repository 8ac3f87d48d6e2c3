"""List the locks that are held now: record, holder, since, heartbeat, state."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from locks import clock
from locks.models import EditLock
from locks.state import display_name


class Command(BaseCommand):
    help = "List current locks (held, expired and idle) as a table, or as JSON with --json."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print a JSON array instead.")

    def handle(self, *args, **options):
        now = clock.now()
        rows = []
        for lock in (
            EditLock.objects.held().select_related("content_type", "holder").order_by("acquired_at")
        ):
            rows.append(
                {
                    "model": f"{lock.content_type.app_label}.{lock.content_type.model}",
                    "object_pk": lock.object_pk,
                    "record": lock.object_repr,
                    "holder": lock.holder.get_username(),
                    "holder_name": display_name(lock.holder),
                    "since": lock.acquired_at.isoformat(),
                    "last_heartbeat": lock.heartbeat_at.isoformat(),
                    "heartbeat_age_s": round((now - lock.heartbeat_at).total_seconds()),
                    "idle_s": round((now - lock.activity_at).total_seconds()),
                    "state": lock.state(now),
                    "fence": lock.fence,
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No locks are held.")
            return
        headers = [
            "model",
            "object_pk",
            "record",
            "holder",
            "since",
            "heartbeat_age_s",
            "idle_s",
            "state",
        ]
        table = [headers] + [[str(row[h]) for h in headers] for row in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
        for r in table:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            )
