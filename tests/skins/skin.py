"""Build a skin's settings from the demo's: the skin's apps go before django.contrib.admin,
as every skin's documentation asks, so its templates win over the admin's own."""

from __future__ import annotations

APPS_FIRST = [
    "django.template.loaders.app_directories.Loader",
    "django.template.loaders.filesystem.Loader",
]


def with_skin_apps(installed_apps: list[str], skin_apps: list[str]) -> list[str]:
    """`installed_apps` with `skin_apps` inserted just before django.contrib.admin."""
    at = installed_apps.index("django.contrib.admin")
    return [*installed_apps[:at], *skin_apps, *installed_apps[at:]]


def apps_before_site(templates: list[dict]) -> list[dict]:
    """The demo's templates/ brands the stock admin (admin/base_site.html), which would hide
    the skin's own base_site.html: search the apps' templates before the site's."""
    backend = {**templates[0], "APP_DIRS": False}
    backend["OPTIONS"] = {**backend["OPTIONS"], "loaders": APPS_FIRST}
    return [backend, *templates[1:]]
