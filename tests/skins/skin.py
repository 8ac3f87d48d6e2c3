"""Build a skin's settings from the demo's: the skin's apps go before django.contrib.admin,
as every skin's documentation asks, so its templates win over the admin's own."""

from __future__ import annotations


def with_skin_apps(installed_apps: list[str], skin_apps: list[str]) -> list[str]:
    """`installed_apps` with `skin_apps` inserted just before django.contrib.admin."""
    at = installed_apps.index("django.contrib.admin")
    return [*installed_apps[:at], *skin_apps, *installed_apps[at:]]
