"""Two server processes on one PostgreSQL database, the second with its clock 60 s ahead
(libfaketime, LD_PRELOAD): a lock taken through one holds on the other, ages agree, and the
skewed server says so in its log.

PostgreSQL only: SQLite has no clock of its own (each process reads its host's, which
libfaketime shifts too), and a file database is not shared between hosts anyway.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import require_postgres, skip_or_fail
from tests.live import LiveSite
from tests.test_multiprocess import logged_in

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
AHEAD = {
    "LD_PRELOAD": LIBFAKETIME,
    "FAKETIME": "+60s",
    "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # asyncio's timers keep their pace
}


def admin_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def skewed_site(tmp_path_factory):
    require_postgres()
    if not os.path.exists(LIBFAKETIME):
        skip_or_fail(f"needs libfaketime at {LIBFAKETIME} (apt-get install faketime)")
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = f"{urlsplit(url).path.lstrip('/')}_skew"
    with psycopg.connect(admin_database(url, "postgres"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    site = LiveSite(tmp_path_factory.mktemp("skew"), database_url=admin_database(url, name))
    try:
        site.prepare()
        site.on_time = site.start_server()
        site.ahead = site.start_server(AHEAD)
        with psycopg.connect(site.database_url) as db:
            rows = db.execute("SELECT id FROM records_customer ORDER BY id LIMIT 2 OFFSET 7")
            site.customers = [pk for (pk,) in rows]
        yield site
    finally:
        site.stop()
        with psycopg.connect(admin_database(url, "postgres"), autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_log(site: LiveSite, base: str) -> Path:
    return site.workdir / f"daphne-{urlsplit(base).port}.log"


def wait_for_text(path: Path, pattern: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text())
        if found:
            return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in {path}:\n{path.read_text()[-2000:]}")


@pytest.mark.postgres
def test_a_lock_taken_through_one_server_holds_on_a_server_60_s_ahead(skewed_site):
    site = skewed_site
    page, other = (f"/admin/records/customer/{pk}/change/" for pk in site.customers)
    alice, _ = logged_in(site.on_time, "alice")
    bob, _ = logged_in(site.ahead, "bob")

    # The second server's clock really is a minute ahead, and it says so at its first request.
    wait_for_text(server_log(site, site.ahead), r"clock is (59|60)\.\d\d s ahead of the database's")
    assert "clock is" not in server_log(site, site.on_time).read_text()

    alice_page = alice.open(site.on_time + page).read().decode()
    assert 'name="_save"' in alice_page and "You are editing this record" in alice_page

    bob_page = bob.open(site.ahead + page).read().decode()
    assert "Alice Archer is editing since" in bob_page
    assert 'name="_save"' not in bob_page  # read-only: the lock holds on the skewed server

    # Ages are the database's: "active a moment ago", not a minute.
    state = bob.open(f"{site.ahead}{page.replace('change/', 'lock/state/')}").read().decode()
    idle = int(re.search(r'"idle_seconds": (\d+)', state).group(1))
    assert idle < 10, state

    # And the other way round: a lock taken through the skewed server holds on the other.
    assert 'name="_save"' in bob.open(site.ahead + other).read().decode()
    assert "Bob Brown is editing since" in alice.open(site.on_time + other).read().decode()
