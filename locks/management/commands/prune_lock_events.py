"""Keep the audit trail bounded, and drop lock rows of deleted records. Cron it daily."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from locks import cleanup
from locks.conf import lock_settings


class Command(BaseCommand):
    help = (
        "Delete lock events older than LOCKS_AUDIT_RETENTION_DAYS (or --older-than DAYS), "
        f"{cleanup.BATCH_SIZE:,} rows per statement, and remove the lock rows of records that "
        "no longer exist. Safe to run on several hosts at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            help="Delete events older than this many days instead of the setting's value.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say how many rows would go; delete nothing."
        )

    def handle(self, *args, older_than: int | None = None, dry_run: bool = False, **options):
        if older_than is not None and older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        self.verbosity = options.get("verbosity", 1)
        days = lock_settings.AUDIT_RETENTION_DAYS if older_than is None else older_than
        self._events(days, dry_run)
        self._orphans(dry_run)

    def _events(self, days: int, dry_run: bool) -> None:
        if not days:
            self.stdout.write("LOCKS_AUDIT_RETENTION_DAYS is 0: every lock event is kept.")
            return
        cutoff = cleanup.retention_cutoff(days).isoformat(timespec="seconds")
        if dry_run:
            count = cleanup.old_events(days).count()
            self.stdout.write(
                f"Would delete {count} lock event(s) older than {days} day(s) (before {cutoff})."
            )
            return
        total = 0
        for deleted in cleanup.prune_events(days):
            total += deleted
            if self.verbosity > 1:
                self.stdout.write(f"Deleted a batch of {deleted} lock event(s).")
        self.stdout.write(
            f"Deleted {total} lock event(s) older than {days} day(s) (before {cutoff})."
        )

    def _orphans(self, dry_run: bool) -> None:
        orphans = list(cleanup.orphan_locks())
        verb = "Would remove" if dry_run else "Removed"
        for orphan in orphans:
            if self.verbosity > 1 or orphan.held:
                held = ", held" if orphan.held else ""
                self.stdout.write(
                    f"{verb} the lock row of {orphan.model} {orphan.object_pk} "
                    f"({orphan.object_repr or '?'}{held}): the record no longer exists."
                )
        # Another host may have removed some meanwhile: count what this run deleted.
        count = len(orphans) if dry_run else cleanup.remove_orphan_locks(orphans)
        self.stdout.write(f"{verb} {count} lock row(s) of deleted records.")
