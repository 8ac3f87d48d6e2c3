"""Reconnect-storm benchmark: a server holding N open change forms is killed and started
again; how long until every page is subscribed again, against a bare ASGI server taking the
same N reconnections from the same client in the same run.

    python benchmarks/reconnect_storm.py                    # 1,000 pages, 2 rounds per target
    python benchmarks/reconnect_storm.py --pages 500 --rounds 3
    python benchmarks/reconnect_storm.py --targets ours-daphne,ours-uvicorn,bare-uvicorn

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0; a spare database is best) and
`pip install -r benchmarks/requirements.txt`. It builds the same throw-away SQLite site as
benchmarks/fanout.py. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fanout import (
    HOST,
    ROOT,
    Page,
    ServerLog,
    Site,
    build_site,
    check_redis,
    counter_text,
    demo_records,
    failure_name,
    fmt,
    free_port,
    login_session,
    open_page,
    percentile,
    raise_fd_limit,
    stop_server,
)
from benchmarks.save_fanout import BARE, OURS, VIEWERS, commit, versions

# The page's reconnect rule (locks/static/locks/transport.js, `backoff`): after a socket
# that was open closes, try again after min(cap, 1 s * 2^(failures-1)) * (0.5 .. 1.0), so no
# page waits longer than the cap for any try; a request unanswered after 5 s drops the socket.
# (The page slows to a 15 s cap after a minute of outage; a restart here takes seconds.)
RECONNECT_CAP = 3.0
REQUEST_TIMEOUT = 5.0  # the page's `ask` timeout: an unanswered subscribe is a failure
HANDSHAKE_TIMEOUT = 30.0  # daphne's --websocket_connect_timeout, as deployed
GIVE_UP = 60.0  # seconds after the server accepts: a page not back by then is reported
TARGETS = {
    "ours-daphne": (OURS, "daphne"),
    "before-daphne": (OURS, "daphne"),  # --before: the same, served from another checkout
    "ours-uvicorn": (OURS, "uvicorn"),
    "bare-uvicorn": (BARE, "uvicorn"),
}


def backoff(failures: int, cap: float) -> float:
    """The page's delay before its next try, in seconds (transport.js `backoff`)."""
    ceiling = min(cap, 1.0 * 2 ** max(0, failures - 1))
    return ceiling * (0.5 + random.random() / 2)


class Quiet:
    """Pages' pushed events (presence and the like) are not what this benchmark times."""

    def arrived(self, at: float, message: dict[str, Any]) -> None:
        pass


# ---------------------------------------------------------------- servers


def argv_for(name: str, port: int) -> list[str]:
    application, server = TARGETS[name]
    if server == "daphne":
        argv = ["-m", "daphne", "--websocket_connect_timeout", str(int(HANDSHAKE_TIMEOUT))]
        return [sys.executable, *argv, "-b", HOST, "-p", str(port), application]
    argv = ["-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--ws", "websockets"]
    argv += ["--lifespan", "off", "--no-access-log", "--log-level", "warning"]
    return [
        sys.executable,
        *argv,
        "--host",
        HOST,
        "--port",
        str(port),
        "--backlog",
        "8192",
        application,
    ]


def launch(
    argv: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
) -> subprocess.Popen:
    """The server runs from `cwd` (`python -m` imports the project from there)."""
    with open(log_path, "a") as log:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


async def accepting(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> float:
    """The moment (monotonic) the server first accepts a TCP connection: probed every 5 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.005)
            continue
        at = time.monotonic()
        writer.close()
        return at
    raise TimeoutError(f"nothing accepted on port {port} within {timeout:.0f} s")


# ---------------------------------------------------------------- a page that reconnects


@dataclass
class Outcome:
    back_at: float | None = None  # subscribed again (ours) or open again (bare)
    synced_at: float | None = None  # ours: the sync right after answered
    tries: int = 0
    failures: Counter = field(default_factory=Counter)  # after the server accepted


class ReconnectingPage:
    """One open change form: subscribed to its record (ours) or just open (bare). When its
    socket closes it reconnects as the page does, then subscribes and syncs."""

    def __init__(self, url: str, site: Site, record: dict[str, Any] | None, cap: float):
        self.url, self.site, self.record, self.cap = url, site, record, cap
        self.page: Page | None = None
        self.next_id = 0

    async def ask(
        self, page: Page, message: dict[str, Any], answer: str, timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """A request as the page asks it: by id, answered within `timeout` or failed."""
        self.next_id += 1
        page.send({**message, "id": self.next_id})
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {answer} within {timeout:.0f} s")
            try:
                reply = await page.reply(left)
            except TimeoutError:
                raise TimeoutError(f"no {answer} within {timeout:.0f} s") from None
            if reply.get("type") == "closed":
                raise ConnectionError(f"closed before {answer}")
            if reply.get("id") == self.next_id:
                if reply.get("type") != answer:
                    raise ConnectionError(f"{answer} refused: {reply.get('code')}")
                return reply

    async def open(self, timeout: float = REQUEST_TIMEOUT) -> tuple[Page, bool]:
        """Open the socket and subscribe as the change form does: with `sync`, so the reply
        carries the record's state (True) unless an event came in meanwhile (False)."""
        page = await asyncio.wait_for(open_page(self.url, self.site, Quiet()), HANDSHAKE_TIMEOUT)
        synced = False
        if self.record is not None:
            sync = {"version": self.record["version"], "lease": None}
            try:
                reply = await self.ask(
                    page,
                    {"type": "subscribe", "record": self.record, "presence": True, "sync": sync},
                    "subscribed",
                    timeout,
                )
            except BaseException:
                page.transport and page.transport.abort()
                raise
            synced = (reply.get("state") or {}).get("type") == "state"
        return page, synced

    async def sync(self, page: Page) -> None:
        message = {"type": "sync", "record": self.record, "version": self.record["version"]}
        await self.ask(page, message, "state")

    async def come_back(self, accepted: asyncio.Future) -> Outcome:
        """Wait for the socket to close (the server was killed), then reconnect."""
        outcome = Outcome()
        await self.page.closed
        failures = 0
        while True:
            failures += 1
            await asyncio.sleep(backoff(failures, self.cap))
            outcome.tries += 1
            try:
                page, synced = await self.open()
            except Exception as problem:
                if accepted.done():
                    outcome.failures[
                        failure_name(problem)
                        if not isinstance(problem, TimeoutError)
                        else str(problem)
                    ] += 1
                continue
            outcome.back_at = time.monotonic()
            self.page = page
            if synced:
                outcome.synced_at = outcome.back_at
            elif self.record is not None:
                try:
                    await self.sync(page)
                    outcome.synced_at = time.monotonic()
                except Exception as problem:
                    outcome.failures[f"sync: {problem}"] += 1
            return outcome


# ---------------------------------------------------------------- one round


@dataclass
class Round:
    target: str
    pages: int
    opened: int = 0
    down_s: float = 0.0  # kill to accepting again
    back_s: list[float] = field(default_factory=list)  # per page, from accepting again
    synced_s: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    not_back: int = 0
    tries: int = 0
    server_errors: Counter = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        back = sorted(self.back_s)
        synced = sorted(self.synced_s)
        return {
            "target": self.target,
            "pages": self.pages,
            "opened": self.opened,
            "restart_s": round(self.down_s, 2),
            "all_back_s": round(back[-1], 2) if back and not self.not_back else None,
            "back_p50_s": round(percentile(back, 50), 2) if back else None,
            "back_p99_s": round(percentile(back, 99), 2) if back else None,
            "all_synced_s": round(synced[-1], 2) if synced else None,
            "failures": sum(self.failures.values()),
            "failure_kinds": dict(self.failures),
            "not_back": self.not_back,
            "tries": self.tries,
            "server_errors": dict(self.server_errors),
        }


async def storm(
    name: str,
    pages: int,
    args,
    env: dict[str, str],
    workdir: Path,
    sites: list[Site],
    records: list[dict[str, Any]],
    hold_down: float = 0.0,
) -> Round:
    ours = not name.startswith("bare")
    cwd = Path(args.before) if name.startswith("before") else ROOT
    result = Round(name, pages)
    port = free_port()
    log_path = workdir / f"{name}.log"
    env = {**env, "CSRF_TRUSTED_ORIGINS": f"http://{HOST}:{port}"}
    proc = launch(argv_for(name, port), env, log_path, cwd)
    log = ServerLog(log_path)
    clients: list[ReconnectingPage] = []
    try:
        await accepting(port, proc)
        path = "/ws/locks/" if ours else "/"
        for i in range(pages):
            site = dataclasses.replace(sites[i % len(sites)], port=port)
            clients.append(
                ReconnectingPage(
                    f"ws://{HOST}:{port}{path}",
                    site,
                    records[i % len(records)] if ours else None,
                    args.cap,
                )
            )
        started = time.monotonic()
        # Open them as a page load would, at most `burst` at once, retrying what fails.
        pending = list(clients)
        while pending:
            burst, pending = pending[: args.burst], pending[args.burst :]
            opening = (c.open(HANDSHAKE_TIMEOUT) for c in burst)  # not timed: be patient
            results = await asyncio.gather(*opening, return_exceptions=True)
            for client, opened in zip(burst, results, strict=True):
                if isinstance(opened, tuple):
                    client.page = opened[0]
                else:
                    pending.append(client)
        result.opened = len(clients)
        print(f"    {name}: {pages} pages open in {time.monotonic() - started:.1f} s", flush=True)
        await asyncio.sleep(args.settle)
        log.new_errors()

        loop = asyncio.get_running_loop()
        accepted = loop.create_future()
        comebacks = [asyncio.create_task(c.come_back(accepted)) for c in clients]
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)  # as a crash or an OOM kill would
        await asyncio.to_thread(proc.wait)
        if hold_down:  # the bare server starts in no time: keep it down as long as ours was
            await asyncio.sleep(max(0.0, hold_down - (time.monotonic() - killed)))
        proc = launch(argv_for(name, port), env, log_path, cwd)  # a supervisor restarts it at once
        spy = None
        if args.py_spy and not name.startswith("bare"):  # where the restarted server spends time
            out = f"{args.py_spy}-{name}.txt"
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(proc.pid), "-d", "30", "-f", "raw", "-o", out],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        accept_at = await accepting(port, proc)
        accepted.set_result(accept_at)
        result.down_s = accept_at - killed
        done, late = await asyncio.wait(comebacks, timeout=GIVE_UP)
        for task in late:
            task.cancel()
        result.not_back = len(late)
        for task in done:
            outcome = task.result()
            result.tries += outcome.tries
            result.failures.update(outcome.failures)
            if outcome.back_at is not None:
                result.back_s.append(outcome.back_at - accept_at)
            if outcome.synced_at is not None:
                result.synced_s.append(outcome.synced_at - accept_at)
        result.server_errors.update(log.new_errors())
        if spy is not None:
            spy.wait()
    finally:
        for client in clients:
            if client.page is not None and client.page.transport is not None:
                client.page.transport.abort()
        await asyncio.sleep(0.5)
        stop_server(proc)
    return result


# ---------------------------------------------------------------- report


def report(rounds: list[Round]) -> None:
    print()
    print("| round | target | restart s | all back s | p50 s | p99 s | all synced s | failures |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    targets = len({r.target for r in rounds})
    for index, r in enumerate(rounds):
        s = r.summary()
        print(
            f"| {index // targets + 1} | {r.target} | {fmt(s['restart_s'], 2)} "
            f"| {fmt(s['all_back_s'], 2)} | {fmt(s['back_p50_s'], 2)} | {fmt(s['back_p99_s'], 2)} "
            f"| {fmt(s['all_synced_s'], 2)} | {s['failures'] + r.not_back} |"
        )
    for r in rounds:
        if r.failures or r.server_errors:
            failures = counter_text(r.failures) or "none"
            errors = counter_text(r.server_errors) or "clean"
            print(f"  {r.target}: failures {failures}; server log {errors}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument(
        "--rounds", type=int, default=2, help="storms per target, targets taking turns"
    )
    parser.add_argument(
        "--targets", default="ours-daphne,bare-uvicorn", help=f"from {', '.join(TARGETS)}"
    )
    parser.add_argument(
        "--cap", type=float, default=RECONNECT_CAP, help="the page's backoff cap, seconds"
    )
    parser.add_argument(
        "--burst", type=int, default=1000, help="pages opened at once before the storm"
    )
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds between opening and the kill"
    )
    parser.add_argument(
        "--same-downtime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the bare server down as long as ours took to restart (the pages are then "
        "at the same point of their backoff when it accepts)",
    )
    parser.add_argument(
        "--before",
        help="a checkout of an earlier commit (e.g. `git worktree add /tmp/before main`): "
        "target before-daphne serves it, taking turns with the others in the same run",
    )
    parser.add_argument("--py-spy", help="profile the restarted server (py-spy raw stacks)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    if "before-daphne" in args.targets and not args.before:
        parser.error("target before-daphne needs --before PATH")
    return args


async def run_all(
    args, env, workdir: Path, sites: list[Site], records: list[dict[str, Any]]
) -> list[Round]:
    rounds = []
    for number in range(args.rounds):
        turn = number % len(args.targets)
        for name in args.targets[turn:] + args.targets[:turn]:
            print(f"  round {number + 1}: {name}", flush=True)
            ours_down = [r.down_s for r in rounds if not r.target.startswith("bare")]
            hold = ours_down[-1] if ours_down and args.same_downtime else 0.0
            if not name.startswith("bare"):
                hold = 0.0
            rounds.append(await storm(name, args.pages, args, env, workdir, sites, records, hold))
            s = rounds[-1].summary()
            print(
                f"    restart {s['restart_s']} s; all back {s['all_back_s']} s after accepting "
                f"(p50 {s['back_p50_s']}); failures {s['failures']}; not back {s['not_back']}",
                flush=True,
            )
    return rounds


def main() -> None:
    args = parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    check_redis(redis_url)
    raise_fd_limit(2 * args.pages + 1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="locks-reconnect-storm-"))
    try:
        env = build_site(workdir, redis_url)
        from records.models import Customer

        ct, pks = demo_records()
        versions_by_pk = {str(c.pk): getattr(c, "version", None) for c in Customer.objects.all()}
        records = [{"ct": ct, "pk": pk, "version": versions_by_pk[pk]} for pk in pks]
        sites = []
        for name in VIEWERS:
            cookie, user_id = login_session(name)
            sites.append(Site(0, cookie, ct, pks, user_id, 0))
        print(f"commit {commit()}; {versions()}")
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.pages} pages "
            f"({', '.join(VIEWERS)}) over {len(records)} customers; backoff cap {args.cap} s",
            flush=True,
        )
        rounds = asyncio.run(run_all(args, env, workdir, sites, records))
        report(rounds)
        if args.json:
            data = {
                "commit": commit(),
                "versions": versions(),
                "load_average": os.getloadavg()[0],
                "rounds": [r.summary() for r in rounds],
            }
            Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("Interrupted; the servers were stopped and the temporary site removed.")
