"""Shared fixtures: demo users, a fake clock, and service requirements.

Tests that need PostgreSQL, Redis or Chromium skip with the reason when it is absent, and
fail instead when REQUIRE_SERVICES=1 (CI), so a missing service can never pass silently.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection

from locks.clock import FakeClock, use_clock
from tests.live import CHROMIUM, CHROMIUM_ARGS

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")


def require_redis() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        skip_or_fail("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    return url


def make_user(username: str, *perms: str, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username,
        f"{username}@example.com",
        "demo",
        is_staff=True,
        is_superuser=superuser,
        first_name=username.capitalize(),
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # fresh, so the permission cache is empty


EDITOR = [
    f"{app}.{action}_{model}"
    for app, models in [
        ("records", ("customer", "order", "orderline")),
        ("lockapp", ("contact", "ticket", "ticketline", "memo", "page", "notice")),
    ]
    for model in models
    for action in ("view", "add", "change", "delete")
]


@pytest.fixture
def alice(db) -> User:
    return make_user("alice", *EDITOR)


@pytest.fixture
def bob(db) -> User:
    return make_user("bob", *EDITOR)


@pytest.fixture
def carol(db) -> User:
    """A lock manager."""
    return make_user(
        "carol", *EDITOR, "locks.manage_locks", "locks.view_editlock", "locks.view_lockevent"
    )


@pytest.fixture
def fake_clock():
    with use_clock(FakeClock()) as clock:
        yield clock


@pytest.fixture
def contact(db):
    """A versioned record of the lock tests' own app."""
    from tests.lockapp.models import Contact

    return Contact.objects.create(name="Ada Lovelace", email="ada@example.com", status="active")


@pytest.fixture
def customer(db):
    from records.models import Customer

    return Customer.objects.create(name="Ada Lovelace", email="ada@example.com", status="active")


# ---------------------------------------------------------------- browser tests


@pytest.fixture(scope="session")
def live_site(tmp_path_factory):
    """The demo site on a real ASGI server, with short lock timeouts for expiry scenarios."""
    from tests.live import LiveSite

    site = LiveSite(
        tmp_path_factory.mktemp("live"),
        extra_env={"LOCKS_TIMEOUT": "6", "LOCKS_HEARTBEAT_INTERVAL": "2"},
    )
    site.prepare()
    site.url = site.start_server()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if REQUIRE_SERVICES or os.environ.get("CI"):
            pytest.fail(
                f"{CHROMIUM} is missing: browser tests must run in CI (apt-get install chromium)"
            )
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def log_in(browser, base_url: str, username: str, password: str = "demo"):
    """A Page of a fresh browser context, logged in to the admin at `base_url` (through the
    login form's field names, which every admin skin keeps)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("[name=username]", username)
    page.fill("[name=password]", password)
    page.press("[name=password]", "Enter")
    page.wait_for_url(f"{base_url}/admin/")
    return page


@contextmanager
def logins(browser, base_url: str):
    """login("alice") -> a logged-in Page; every context is closed on exit."""
    pages = []

    def _login(username: str, password: str = "demo"):
        pages.append(log_in(browser, base_url, username, password))
        return pages[-1]

    try:
        yield _login
    finally:
        for page in pages:
            page.context.close()


@pytest.fixture
def login(browser, live_site):
    """login("alice") -> a Page of a fresh browser context, logged in to the live site."""
    with logins(browser, live_site.url) as _login:
        yield _login
