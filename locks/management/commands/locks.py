"""List the locks that are held now: record, holder, since, heartbeat, state."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from locks import stats
from locks.models import EditLock
from locks.state import display_name


class Command(BaseCommand):
    help = (
        "List current locks (held, expired and idle) as a table, or as JSON with --json. "
        "With --stats: the contention report of the last --days days instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead.")
        parser.add_argument(
            "--stats",
            action="store_true",
            help="Print the contention report (counts by kind, time held, most contended "
            "records) instead of the current locks.",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=stats.DEFAULT_DAYS,
            help=f"With --stats: how many days back (default {stats.DEFAULT_DAYS}).",
        )

    def handle(self, *args, **options):
        if options["stats"]:
            if options["days"] < 1:
                raise CommandError("--days must be at least 1.")
            report = stats.contention_report(options["days"])
            if options["json"]:
                self.stdout.write(json.dumps(report, indent=2))
            else:
                print_report(self.stdout.write, report)
            return
        rows = []
        for lock in (
            EditLock.objects.held()
            .with_clock()
            .select_related("content_type", "holder")
            .order_by("acquired_at")
        ):
            now = lock.clock_now  # ages by the database's clock, as the pages show them
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


def print_report(write, report: dict) -> None:
    """The contention report as text: counts with bars, time held, most contended records."""
    write(f"Lock contention, last {report['days']} day(s), since {report['since']}")
    width = max(len(row["label"]) for row in report["kinds"])
    digits = max(len(str(row["count"])) for row in report["kinds"])
    for row in report["kinds"]:
        bar = "#" * round(row["percent"] / 5)
        write(f"  {row['label']:{width}}  {row['count']:>{digits}}  {bar}".rstrip())
    held = report["held"]
    if held["leases"]:
        write(
            f"Time held: median {held['median']}, 95th percentile {held['p95']} "
            f"({held['leases']} lease(s))"
        )
    else:
        write("Time held: no lease started and ended in this period.")
    if not report["contended"]:
        write("Most contended records: none.")
        return
    write("Most contended records:")
    for row in report["contended"]:
        waiters = ", ".join(f"{w['name']} ({w['count']})" for w in row["waiters"]) or "-"
        held_by = ", ".join(f"{w['name']} ({w['count']})" for w in row["waited_on"]) or "-"
        write(
            f"  {row['contention']:>3}  {row['model']} {row['object_pk']} {row['record']}: "
            f"waited {waiters}; held by {held_by}"
        )
