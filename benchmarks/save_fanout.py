"""Save-to-pages benchmark: how long a real admin save takes to reach the last of N open
change forms, against the limit of a bare ASGI broadcast timed by the same client.

    python benchmarks/save_fanout.py                       # 1,000 pages, 20 saves per target
    python benchmarks/save_fanout.py --sizes 1000,5000
    python benchmarks/save_fanout.py --targets ours-uvicorn,bare-uvicorn --saves 50
    python benchmarks/save_fanout.py --json results.json   # also write every figure as JSON

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0; a spare database is best) and
`pip install -r benchmarks/requirements.txt` (uvicorn, uvloop, httptools, granian). It builds
its own temporary SQLite site (migrate + demo, as benchmarks/fanout.py does), serves it
(`project.asgi:application`) on uvicorn with uvloop (the figure, as docs/deployment.md
recommends) and on daphne, and serves benchmarks/bare_broadcast.py on uvicorn with uvloop
(the limit) and on daphne; granian for both on request; and on request the floor
(`floor-uvicorn`, benchmarks/save_floor.py): the same admin save through a plain ModelAdmin,
then the bare broadcast from the same process. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import http.client
import json
import math
import os
import platform
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fanout import (
    HOST,
    ROOT,
    Page,
    ServerLog,
    Site,
    build_site,
    check_redis,
    close_all,
    connect_many,
    counter_text,
    demo_records,
    fmt,
    free_port,
    login_session,
    open_ours,
    open_page,
    percentile,
    raise_fd_limit,
    serve,
    start_server,
    stop_server,
)

SAVE_TIMEOUT = 10.0  # seconds for one save's event to reach every page
SAVE_GAP = 0.2  # seconds of quiet after every page has the event
SETTLE = 3.0  # seconds after connecting, for presence to settle
EDITOR = "alice"  # saves; has no page open
VIEWERS = ("bob", "carol", "admin")  # the pages' users: editor, lock manager, superuser
OURS = "project.asgi:application"
BARE = "benchmarks.bare_broadcast:application"
FLOOR = "benchmarks.save_floor:application"
TARGETS = {
    # name: (application, server); "ours" is timed with real admin saves, "bare" with
    # POST /broadcast
    "ours-daphne": (OURS, "daphne"),
    "bare-uvicorn": (BARE, "uvicorn"),
    "bare-daphne": (BARE, "daphne"),
    "ours-uvicorn": (OURS, "uvicorn"),
    # granian (Rust HTTP and websocket server, asyncio app on uvloop): another server
    # Channels projects deploy on
    "bare-granian": (BARE, "granian"),
    "ours-granian": (OURS, "granian"),
    # the floor under a save: the same admin POST through a plain ModelAdmin, then the bare
    # broadcast from the same process (benchmarks/save_floor.py)
    "floor-uvicorn": (FLOOR, "uvicorn"),
}
SETTINGS = {FLOOR: "benchmarks.floor_settings"}  # an application's own settings, if any
LIMIT = "bare-uvicorn"  # the ratio's denominator
FLOOR_TARGET = "floor-uvicorn"  # what a Django admin save plus the bare broadcast take
DEPLOYED = "ours-uvicorn"  # the ratio's numerator: as docs/deployment.md recommends


# ---------------------------------------------------------------- servers


def start_uvicorn(
    env: dict[str, str], port: int, log_path: Path, application: str, ws: str
) -> subprocess.Popen:
    """uvicorn with uvloop and httptools, one process, no access log."""
    argv = [
        *("-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--ws", ws),
        *("--lifespan", "off", "--no-access-log", "--log-level", "warning"),
        *("--timeout-keep-alive", "300"),  # the benchmark's clients keep one connection
        *("--host", HOST, "--port", str(port), "--backlog", "8192", application),
    ]
    return serve([sys.executable, *argv], env, port, log_path)


def start_granian(
    env: dict[str, str], port: int, log_path: Path, application: str
) -> subprocess.Popen:
    """granian's ASGI interface, one worker, uvloop, no access log."""
    argv = [
        *("-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--workers", "1"),
        *("--log-level", "warning", "--backlog", "8192"),
        *("--host", HOST, "--port", str(port), application),
    ]
    return serve([sys.executable, *argv], env, port, log_path)


# ---------------------------------------------------------------- the saving user


class FormFields(HTMLParser):
    """What a browser would post from the admin change form `form_id`: its inputs (checked
    boxes only, no buttons), selects (the selected option) and textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if tag == "option" and self.inside and self.select:
            if "selected" in a or self.select not in self.fields:
                self.fields[self.select] = a.get("value", "")
            return
        if not self.inside or "name" not in a:
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text")
            if kind in {"submit", "button", "file", "image", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            self.fields[name] = a.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select":
            self.select = name
        elif tag == "textarea":
            self.textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            if self.textarea:  # browsers drop the newline right after <textarea>
                self.fields[self.textarea] = self.fields[self.textarea].removeprefix("\n")
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


class Client:
    """A browser's kept-alive HTTP/1.1 connection (blocking: run it in a thread, so the event
    loop keeps timestamping the pages), with cookies."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None) -> None:
        self.port = port
        self.cookies = dict(cookies or {})
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def request(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[float, float, int, str]:
        """Returns t0 (read right before the request is sent), the time to the whole
        response in ms, the status and the body."""
        headers = {"Host": f"{HOST}:{self.port}", "User-Agent": "locks-save-benchmark", **headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.conn.sock is not None and not self.still_open(self.conn.sock):
            self.conn.close()  # the server closed the idle connection: reconnect untimed
        for attempt in (1, 2):
            t0 = time.time()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()  # closed while we sent: once more, timed afresh
                if attempt == 2:
                    raise
        took = (time.time() - t0) * 1000
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return t0, took, response.status, text

    @staticmethod
    def still_open(sock: socket.socket) -> bool:
        """False if the server closed it (readable at once, with nothing to read)."""
        poller = select.poll()  # select() cannot watch descriptors above 1023
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return True
        try:
            return sock.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False

    def close(self) -> None:
        self.conn.close()


class Editor(Client):
    """The saving user: GETs the change form (takes or renews the lock), POSTs it."""

    def __init__(self, port: int, session_key: str, pk: str, locked: bool = True) -> None:
        super().__init__(port, {"sessionid": session_key})
        self.url = f"/admin/records/customer/{pk}/change/"
        self.locked = locked  # the project's admin (lock inputs); else a plain admin

    def load_form(self) -> dict[str, str]:
        """GET the change form: takes the lock (or renews it after "Save and continue")."""
        _, _, status, text = self.request("GET", self.url)
        parser = FormFields("customer_form")
        parser.feed(text)
        if status != 200 or (self.locked and not parser.fields.get("_locks_lease")):
            raise RuntimeError(f"{EDITOR} got no editable change form (HTTP {status})")
        return parser.fields

    def save(self, fields: dict[str, str], notes: str) -> tuple[float, float]:
        """POST the form with new notes and "Save and continue editing" (keeps the lock),
        with the form's hidden lock inputs. Returns t0 and the response time in ms."""
        body = {**fields, "notes": notes, "_continue": "Save and continue editing"}
        t0, took, status, text = self.request(
            "POST",
            self.url,
            urlencode(body).encode(),
            **{
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"http://{HOST}:{self.port}",
                "Referer": f"http://{HOST}:{self.port}{self.url}",
            },
        )
        if status != 302:
            raise RuntimeError(f"the save was not accepted (HTTP {status}): {text[:300]!r}")
        return t0, took


class Broadcaster(Client):
    """POST /broadcast to the bare app: it sends the body to every open socket."""

    def broadcast(self, payload: bytes) -> tuple[float, float]:
        t0, took, status, _ = self.request(
            "POST", "/broadcast", payload, **{"Content-Type": "application/json"}
        )
        if status != 200:
            raise RuntimeError(f"broadcast answered HTTP {status}")
        return t0, took


def sample_event(pk: str, ct: int, notes: str) -> bytes:
    """A frame shaped and sized like the `record.saved` a notes save sends."""
    return json.dumps(
        {
            "type": "record.saved",
            "record": {"ct": ct, "pk": pk, "key": f"{ct}.9dcbf4c24368d67c", "repr": "Ana Nguyen"},
            "version": 2,
            "changed": ["notes", "updated_at"],
            "values": {"notes": notes, "updated_at": "2026-12-04 22:04:12.204311+00:00"},
            "at": "2026-12-04T22:04:12.125000+00:00",
        }
    ).encode()


# ---------------------------------------------------------------- the pages


class SaveCollector:
    """Arrival times of `record.saved` frames on the pages, for the save under way; a future
    fires when every page has it. Anything else is counted by type."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.expected = 0
        self.done: asyncio.Future | None = None
        self.other: Counter = Counter()
        self.stray = 0  # record.saved frames outside a save (late ones)

    def expect(self, sockets: int) -> asyncio.Future:
        self.arrivals = []
        self.expected = sockets
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def stop(self) -> list[float]:
        self.done = None
        return self.arrivals

    def arrived(self, at: float, message: dict[str, Any]) -> None:
        if message.get("type") != "record.saved":
            self.other[message.get("type", "?")] += 1
            return
        if self.done is None:
            self.stray += 1
            return
        self.arrivals.append(at)
        if len(self.arrivals) >= self.expected and not self.done.done():
            self.done.set_result(None)


@dataclass
class SaveRun:
    """One target's figures at one size."""

    target: str
    size: int
    connect: str = ""
    connected: int = 0
    last_ms: dict[int, float] = field(default_factory=dict)  # per save: the last page reached
    first_ms: list[float] = field(default_factory=list)  # per save: the first page reached
    spread_ms: list[float] = field(default_factory=list)  # per save: last minus first page
    response_ms: list[float] = field(default_factory=list)  # per save: the POST's response
    latencies_ms: list[float] = field(default_factory=list)  # every (page, save)
    ratios: list[float] = field(default_factory=list)  # per save: last page / the limit's
    missing: int = 0
    stray: int = 0
    other: Counter = field(default_factory=Counter)
    server_errors: Counter = field(default_factory=Counter)
    aborted: str = ""

    def p(self, values, q: float) -> float | None:
        value = percentile(list(values), q)
        return None if math.isnan(value) else round(value, 2)

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pages": self.size,
            "connected": self.connected,
            "saves": len(self.last_ms),
            "last_page_p50_ms": self.p(self.last_ms.values(), 50),
            "last_page_p99_ms": self.p(self.last_ms.values(), 99),
            "first_page_p50_ms": self.p(self.first_ms, 50),
            "spread_p50_ms": self.p(self.spread_ms, 50),
            "all_pages_p50_ms": self.p(self.latencies_ms, 50),
            "all_pages_p99_ms": self.p(self.latencies_ms, 99),
            "response_p50_ms": self.p(self.response_ms, 50),
            "paired_ratio_p50": self.p(self.ratios, 50),
            "missing": self.missing,
            "connect": self.connect,
            "server_errors": dict(self.server_errors),
            "aborted": self.aborted,
        }


@dataclass
class Target:
    """A server under test at one size: its process, its open pages, and what saves."""

    name: str
    pk: str  # the record its pages view (each target its own: events go to every process)
    proc: subprocess.Popen
    port: int
    log: ServerLog
    run: SaveRun
    collector: SaveCollector = field(default_factory=SaveCollector)
    pages: list[Page] = field(default_factory=list)
    sender: Editor | Broadcaster | None = None
    silent: int = 0

    @property
    def ours(self) -> bool:
        return self.name.startswith("ours")

    @property
    def saves(self) -> bool:
        """Timed with real admin saves (ours, the floor); else with POST /broadcast."""
        return self.ours or self.name.startswith("floor")


def start_target(name: str, pk: str, size: int, env: dict[str, str], workdir: Path, args) -> Target:
    application, server = TARGETS[name]
    port = free_port()
    log_path = workdir / f"{name}-{size}.log"
    # The pages' Origin, scheme, host and port (for an Origin check stricter than the host).
    env = {**env, "CSRF_TRUSTED_ORIGINS": f"http://{HOST}:{port}"}
    if application in SETTINGS:
        env["DJANGO_SETTINGS_MODULE"] = SETTINGS[application]
    if server == "daphne":
        proc = start_server(env, port, log_path, application)
    elif server == "granian":
        proc = start_granian(env, port, log_path, application)
    else:
        proc = start_uvicorn(env, port, log_path, application, args.uvicorn_ws)
    return Target(name, pk, proc, port, ServerLog(log_path), SaveRun(name, size))


async def open_pages(target: Target, sites: list[Site], burst: int, batch: int) -> None:
    """N change-form viewers of one record (ours, spread over the viewer users), or N
    plain sockets (the bare app)."""
    port, collector = target.port, target.collector
    if target.ours:

        async def opener(i: int) -> Page:
            site = dataclasses.replace(sites[i % len(sites)], port=port)
            return await open_ours(site, collector, target.pk, presence=True)

    else:
        bare = Site(port, "", 0, [], 0, 0)

        async def opener(_: int) -> Page:
            return await open_page(f"ws://{HOST}:{port}/", bare, collector)

    target.log.new_errors()
    size, started, troubles = target.run.size, time.monotonic(), []
    for base in range(0, size, burst):
        count = min(burst, size - base)
        connected = await connect_many(lambda i, base=base: opener(base + i), count, batch)
        target.pages.extend(connected.pages)
        if connected.failed_at_once:
            troubles.append(connected.describe(count))
    target.run.connected = len(target.pages)
    target.run.connect = (
        f"{len(target.pages)}/{size} connected in {time.monotonic() - started:.1f} s, "
        f"at most {burst} at once"
    ) + "".join(f"; a burst: {t}" for t in troubles)
    target.run.server_errors.update(target.log.new_errors())


async def one_save(target: Target, seq: int, notes: str, ct: int) -> None:
    """One real admin save (ours) or one broadcast (bare); wait until every page has it."""
    run, collector = target.run, target.collector
    waiting = collector.expect(run.connected)
    if isinstance(target.sender, Editor):
        editor = target.sender

        def fire() -> tuple[float, float]:
            return editor.save(editor.load_form(), notes)

    else:
        broadcaster, payload = target.sender, sample_event(target.pk, ct, notes)

        def fire() -> tuple[float, float]:
            return broadcaster.broadcast(payload)

    t0, took = await asyncio.to_thread(fire)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(waiting), SAVE_TIMEOUT)
    arrivals = collector.stop()
    target.silent = target.silent + 1 if not arrivals else 0
    if target.silent == 2:
        run.aborted = "two saves in a row reached no page; target dropped"
    if seq < 0:
        return
    latencies = [(at - t0) * 1000 for at in arrivals]
    run.missing += run.connected - len(latencies)
    run.response_ms.append(took)
    if latencies:
        run.latencies_ms.extend(latencies)
        run.last_ms[seq] = max(latencies)
        run.first_ms.append(min(latencies))
        run.spread_ms.append(max(latencies) - min(latencies))


async def size_run(size: int, args, env, workdir: Path, sites: list[Site]) -> list[SaveRun]:
    """Every target at once (a server each, N pages each), saves taking turns: save k goes
    to every target before save k+1, the first target rotating, so load that comes and goes
    on the machine hits every target alike and each save has a paired limit to compare."""
    targets: list[Target] = []
    try:
        for index, name in enumerate(args.targets):
            target = start_target(name, sites[0].pks[index], size, env, workdir, args)
            targets.append(target)
            print(f"  {name}: opening {size} pages (pid {target.proc.pid}) ...", flush=True)
            await open_pages(target, sites, args.burst, args.batch)
            print(f"    {target.run.connect}", flush=True)
            if target.saves:
                target.sender = Editor(
                    target.port, args.editor_session, target.pk, locked=target.ours
                )
            else:
                target.sender = Broadcaster(target.port)
        await asyncio.sleep(SETTLE)
        for target in targets:
            target.run.server_errors.update(target.log.new_errors())
        notes = f"Saved by the save_fanout benchmark {secrets.token_hex(4)} #{{}} {{}}"
        print(f"  {args.warmup} warm-up and {args.saves} measured saves each ...", flush=True)
        gc.collect()
        gc.disable()  # this process's collections would delay the arrival times it records
        for seq in range(-args.warmup, args.saves):
            turn = seq % len(targets)
            for target in targets[turn:] + targets[:turn]:
                if not target.run.aborted:
                    await one_save(target, seq, notes.format(seq, target.name), sites[0].ct)
                    await asyncio.sleep(SAVE_GAP)
        gc.enable()
        limit = next((t.run for t in targets if t.name == LIMIT), None)
        for target in targets:
            if limit is not None and target.run is not limit:
                target.run.ratios = [
                    last / limit.last_ms[seq]
                    for seq, last in target.run.last_ms.items()
                    if limit.last_ms.get(seq)
                ]
    finally:
        gc.enable()
        for target in targets:
            if target.sender is not None:
                target.sender.close()
            await close_all(target.pages)
            target.run.stray = target.collector.stray
            target.run.other = target.collector.other
            target.run.server_errors.update(target.log.new_errors())
            stop_server(target.proc)
    return [t.run for t in targets]


# ---------------------------------------------------------------- report


def versions() -> str:
    names = ["django", "channels", "channels-redis", "redis", "daphne", "twisted", "uvicorn"]
    names += ["uvloop", "httptools", "websockets"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def commit() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def report(runs: list[SaveRun], args) -> None:
    print()
    print(
        "Save to N open pages: t0 right before the POST is sent, latency = arrival on each "
        f"page; {args.saves} saves per target after {args.warmup} warm-up ones, targets "
        "taking turns; last-page p50/p99 are over saves."
    )
    print()
    print(
        "| pages | target | last page p50 ms | last page p99 ms | all pages p50 ms | "
        "all pages p99 ms | first page p50 ms | first to last p50 ms | HTTP response p50 ms "
        "| missing |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        s = run.summary()
        print(
            f"| {run.size} | {run.target} | {fmt(s['last_page_p50_ms'])} | "
            f"{fmt(s['last_page_p99_ms'])} | {fmt(s['all_pages_p50_ms'])} | "
            f"{fmt(s['all_pages_p99_ms'])} | {fmt(s['first_page_p50_ms'])} | "
            f"{fmt(s['spread_p50_ms'])} | "
            f"{fmt(s['response_p50_ms'])} | {run.missing} |"
        )
    print()
    print(f"Against the limit ({LIMIT}), last page reached:")
    for size in sorted({r.size for r in runs}):
        by = {r.target: r for r in runs if r.size == size}
        limit = by.get(LIMIT)
        if limit is None or not limit.last_ms:
            continue
        for name, run in by.items():
            if run is limit:
                continue
            ratio = percentile(list(run.last_ms.values()), 50) / percentile(
                list(limit.last_ms.values()), 50
            )
            mark = "   <- the figure" if name == DEPLOYED else ""
            print(
                f"- {size} pages, {name}: {fmt(ratio, 2)}x (p50 / p50); median of per-save "
                f"ratios {fmt(percentile(run.ratios, 50), 2)}x{mark}"
            )
        floor = by.get(FLOOR_TARGET)
        if floor is None or not floor.last_ms:
            continue
        for name, run in by.items():
            if name.startswith("ours") and run.last_ms:
                ratio = percentile(list(run.last_ms.values()), 50) / percentile(
                    list(floor.last_ms.values()), 50
                )
                print(
                    f"- {size} pages, {name} against the floor ({FLOOR_TARGET}: the same "
                    f"save through a plain admin, then the bare broadcast): {fmt(ratio, 2)}x"
                )
    print()
    print("Per target:")
    for run in runs:
        print(f"- {run.target} {run.size}: {run.connect}")
        print(
            f"    saves measured {len(run.last_ms)}, missing deliveries {run.missing}, late "
            f"{run.stray}; server errors {counter_text(run.server_errors)}; other frames "
            f"{counter_text(run.other)}"
        )
        if run.aborted:
            print(f"    {run.aborted}")


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000", help="pages per run, comma-separated")
    parser.add_argument("--saves", type=int, default=20, help="measured saves per run")
    parser.add_argument("--warmup", type=int, default=2, help="saves first, not counted")
    parser.add_argument(
        "--targets",
        default="ours-uvicorn,bare-uvicorn,ours-daphne,bare-daphne",
        help=f"comma-separated, from {', '.join(TARGETS)}",
    )
    parser.add_argument(
        "--uvicorn-ws",
        default="websockets",
        choices=["websockets", "websockets-sansio", "wsproto"],
        help="uvicorn's websocket implementation (default websockets)",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=1000,
        help="open at most this many pages at once (default 1000; the handshakes of more "
        "than that outlast daphne's 30 s connect timeout here)",
    )
    parser.add_argument("--batch", type=int, default=50, help="batch size for reconnecting")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    return args


async def run_all(args, env: dict[str, str], workdir: Path, sites: list[Site]) -> list[SaveRun]:
    runs = []
    for size in args.sizes:  # fresh servers per size
        runs.extend(await size_run(size, args, env, workdir, sites))
    return runs


def main() -> None:
    args = parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    check_redis(redis_url)
    raise_fd_limit(len(args.targets) * max(args.sizes) + 1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # runs the clean-up below

    workdir = Path(tempfile.mkdtemp(prefix="locks-save-fanout-"))
    try:
        env = build_site(workdir, redis_url)
        ct, pks = demo_records()
        args.editor_session = login_session(EDITOR)[0]
        sites = []
        for name in VIEWERS:
            cookie, user_id = login_session(name)
            sites.append(Site(0, cookie, ct, pks, user_id, 0))
        print(f"commit {commit()}; {versions()}")
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; pages are "
            f"{', '.join(VIEWERS)} viewing a customer (one per target); {EDITOR} saves it",
            flush=True,
        )
        runs = asyncio.run(run_all(args, env, workdir, sites))
        report(runs, args)
        if args.json:
            data = {
                "commit": commit(),
                "versions": versions(),
                "cpus": os.cpu_count(),
                "saves": args.saves,
                "load_average": os.getloadavg()[0],
                "runs": [r.summary() for r in runs],
            }
            Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
            print(f"\nwrote {args.json}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("Interrupted; the servers were stopped and the temporary site removed.")
