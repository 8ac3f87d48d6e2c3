"""Running management commands in tests as an operator would, reading what they print."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

DAY = 24 * 60 * 60  # seconds, for moving the fake clock


def run(*args: str) -> str:
    """`manage.py <args>` in this process; its standard output."""
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
