"""Free expired and idle locks. Safe to run from cron every minute on several hosts."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from locks import services


class Command(BaseCommand):
    help = (
        "Release locks whose holder stopped sending heartbeats or idled too long, and record "
        "each in the audit trail. Safe to run from cron on several hosts at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be released; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        released = services.release_stale(dry_run=dry_run)
        verb = "Would release" if dry_run else "Released"
        for item in released:
            why = "idle" if item.kind == "idle_released" else "expired"
            self.stdout.write(
                f"{verb} {item.record.object_repr or item.record.object_pk} "
                f"(held by {item.holder or '?'}, {why})"
            )
        self.stdout.write(f"{verb} {len(released)} stale lock(s).")
