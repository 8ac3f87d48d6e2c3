"""What pages see when Redis, the database or a server process goes away and comes back.

    python benchmarks/outages.py redis    # Redis restarted 3 times, then stopped a while
    python benchmarks/outages.py server   # the server process killed (-9) 3 times
    python benchmarks/outages.py db       # PostgreSQL stopped for 20 s (needs initdb/pg_ctl)

Starts its own redis-server (and for `db` its own PostgreSQL cluster, run as the `postgres`
user) and a Daphne process on free ports, drives two Chromium pages (alice holds a
customer, bob views it) with Playwright, and stops or kills only the processes it started.
Prints the times as JSON; docs/operations.md ("When something goes away and comes back")
reports them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # for the tests' helpers

import django  # noqa: E402

django.setup()

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import log_in  # noqa: E402
from tests.live import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DAPHNE_OPTIONS,
    LiveSite,
    free_port,
    wait_for_port,
)
from tests.redis_server import OwnRedis  # noqa: E402

LIVE = "window.locksPage && window.locksPage.live && window.locksPage.live.subscribed"
HEALED = "group memberships restored"


def until(condition, timeout: float, step: float = 0.02) -> float | None:
    """The monotonic time at which `condition()` first held, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return time.monotonic()
        except Exception:  # a page reloading answers nothing for a moment
            pass
        time.sleep(step)
    return None


class OwnPostgres:
    """A PostgreSQL cluster of this script's own, on a free port."""

    def __init__(self, workdir: Path) -> None:
        workdir.chmod(0o755)  # the postgres user must reach its data directory
        self.data = workdir / "pg"
        self.data.mkdir()
        subprocess.run(["chown", "postgres", str(self.data)], check=True)
        self.bin = next(Path("/usr/lib/postgresql").glob("*/bin"))
        self.port = free_port()
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _as_postgres(self, tool: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp"
        log = str(self.data / "log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def url(self, name: str) -> str:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
        )
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


class Run:
    def __init__(self, which: str, workdir: Path) -> None:
        self.which = which
        self.redis = OwnRedis(workdir)
        self.redis.start()
        env = {"REDIS_URL": self.redis.url}
        self.pg = None
        if which == "db":
            self.pg = OwnPostgres(workdir)
            self.pg.start()
            env["DATABASE_URL"] = self.pg.url("site")
        self.site = LiveSite(workdir / "site", extra_env=env)
        self.site.workdir.mkdir()
        self.site.prepare()
        self.port = free_port()
        self.server = self.start_server()
        self.url = f"http://127.0.0.1:{self.port}"
        code = "from records.models import Customer; print(Customer.objects.order_by('pk')[4].pk)"
        self.pk = self.site.manage("shell", "-c", code).strip().splitlines()[-1]

    def start_server(self) -> subprocess.Popen:
        log = open(self.site.workdir / f"daphne-{self.port}.log", "a")  # noqa: SIM115
        command = [sys.executable, "-m", "daphne", *DAPHNE_OPTIONS, "-b", "127.0.0.1"]
        proc = subprocess.Popen(
            [*command, "-p", str(self.port), "project.asgi:application"],
            cwd=ROOT,
            env=self.site.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.site.processes.append(proc)
        wait_for_port(self.port, proc)
        return proc

    def log(self) -> str:
        return "".join(p.read_text() for p in self.site.workdir.glob("daphne-*.log"))

    def stop(self) -> None:
        self.site.stop()
        self.redis.stop()
        if self.pg is not None:
            self.pg.stop()

    # ------------------------------------------------------------ pages

    def open_pages(self, browser) -> None:
        self.pages = {name: log_in(browser, self.url, name) for name in ("alice", "bob")}
        for page in self.pages.values():
            page.set_default_timeout(15_000)
            page.goto(f"{self.url}/admin/records/customer/{self.pk}/change/")
        for page in self.pages.values():
            page.wait_for_function(LIVE)

    def banner(self, name: str) -> str:
        return self.pages[name].locator("#locks-banner .locks-message").inner_text()

    def save_and_time(self, phone: str) -> dict[str, float | None]:
        """alice saves a new phone ("Save and continue"): her response time, and when bob's
        read-only page shows it, both from her click."""
        alice, bob = self.pages["alice"], self.pages["bob"]
        alice.fill("#id_phone", phone)
        clicked = time.monotonic()
        alice.click("input[name=_continue]")
        alice.wait_for_load_state("load")
        answered = time.monotonic()
        shown = bob.locator(".form-row.field-phone .readonly")
        seen = until(lambda: shown.inner_text().strip() == phone, 40)
        return {
            "save_response_s": answered - clicked,
            "viewer_sees_s": None if seen is None else seen - clicked,
        }

    def healed_after(self, answered: float, before: int) -> float | None:
        healed = until(lambda: self.log().count(HEALED) > before, 15)
        return None if healed is None else healed - answered

    # ------------------------------------------------------------ scenarios

    def redis_scenario(self) -> dict:
        results = {}
        for run in range(3):
            before = self.log().count(HEALED)
            self.redis.stop()
            self.redis.start()
            answered = time.monotonic()
            healed = self.healed_after(answered, before)
            time.sleep(3)  # as the acceptance check: alice saves 3 s after Redis answers
            results[f"restart{run}"] = {
                "heal_after_answer_s": healed,
                **self.save_and_time(f"+49 30 10{run}0{run}"),
            }
        self.redis.stop()
        time.sleep(1)
        results["redis_down"] = {**self.save_and_time("+49 30 5555555"), "bob": self.banner("bob")}
        before = self.log().count(HEALED)
        self.redis.start()
        healed = self.healed_after(time.monotonic(), before)
        results["redis_back"] = {
            "heal_after_answer_s": healed,
            **self.save_and_time("+49 30 6666666"),
        }
        return results

    def server_scenario(self) -> dict:
        results = {}
        for run in range(3):
            self.server.send_signal(signal.SIGKILL)
            self.server.wait()
            killed = time.monotonic()
            noticed = until(lambda: not self.pages["bob"].evaluate(LIVE), 10)
            banners = {name: self.banner(name) for name in self.pages}
            time.sleep(2)
            self.server = self.start_server()
            accepting = time.monotonic()
            back = {
                name: until(lambda p=page: p.evaluate(LIVE), 60)
                for name, page in self.pages.items()
            }
            results[f"kill{run}"] = {
                "page_noticed_s": None if noticed is None else noticed - killed,
                "banners_while_down": banners,
                **{
                    f"{name}_resubscribed_after_accepting_s": None if t is None else t - accepting
                    for name, t in back.items()
                },
                **self.save_and_time(f"+49 30 20{run}0{run}"),
            }
        return results

    def db_scenario(self) -> dict:
        change = f"{self.url}/admin/records/customer/{self.pk}/change/"
        alice = self.pages["alice"]
        self.pg.stop()
        time.sleep(20)
        down = {name: self.banner(name) for name in self.pages}
        down.update({f"{n}_live": p.evaluate(LIVE) for n, p in self.pages.items()})
        down["page_load_status"] = alice.request.get(change).status
        self.pg.start()
        up = time.monotonic()
        ok = until(lambda: alice.request.get(change).status == 200, 30, 0.2)
        back = {"first_200_after_up_s": None if ok is None else ok - up}
        back.update(self.save_and_time("+49 30 8888888"))
        return {"db_down_20s": down, "db_back": back}


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which not in {"redis", "server", "db"}:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix=f"outages-{which}-") as tmp:
        run = Run(which, Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                run.open_pages(browser)
                results = getattr(run, f"{which}_scenario")()
                browser.close()
        finally:
            run.stop()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
