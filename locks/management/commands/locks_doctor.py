"""Check that locks and live updates can work in this deployment; exit 1 if not."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from locks import doctor

_MARK = {
    doctor.OK: "ok",
    doctor.WARNING: "WARN",
    doctor.FAILED: "FAIL",
    doctor.SKIPPED: "skip",
}


class Command(BaseCommand):
    help = (
        "Check the database and lock tables, the channel layer (a real round trip), the "
        "websocket route, the server clock, stale locks and the lock settings. Exit status 0 "
        "when nothing failed, 1 otherwise: a deploy pipeline can gate on it."
    )
    requires_system_checks = []  # the doctor runs the lock checks itself and reports them

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the findings as JSON."
        )

    def handle(self, *args, as_json: bool = False, **options):
        findings = doctor.run_checks()
        ok = doctor.healthy(findings)
        if as_json:
            self._print_json(findings, ok)
        else:
            self._print_lines(findings)
        if not ok:
            failed = ", ".join(f.check for f in findings if f.status == doctor.FAILED)
            raise CommandError(f"locks_doctor: failed: {failed}", returncode=1)

    def _print_lines(self, findings: list[doctor.Finding]) -> None:
        width = max(len(f.check) for f in findings)
        for finding in findings:
            timing = f" ({finding.ms:g} ms)" if finding.ms is not None else ""
            line = f"{_MARK[finding.status]:4}  {finding.check:{width}}  {finding.detail}{timing}"
            style = {
                doctor.FAILED: self.style.ERROR,
                doctor.WARNING: self.style.WARNING,
            }.get(finding.status, str)
            self.stdout.write(style(line))
            if finding.fix and finding.status in {doctor.FAILED, doctor.WARNING}:
                self.stdout.write(f"      {'':{width}}  fix: {finding.fix}")

    def _print_json(self, findings: list[doctor.Finding], ok: bool) -> None:
        payload = {"ok": ok, "checks": [f.as_dict() for f in findings]}
        self.stdout.write(json.dumps(payload, indent=2))
