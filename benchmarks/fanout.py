"""Fan-out benchmark: how fast an event reaches N open pages, ours against stock Channels,
and what 1,000 idle pages cost the server (websocket against HTTP polling).

    python benchmarks/fanout.py                 # sizes 100 and 1000, 30 s idle windows
    python benchmarks/fanout.py --quick         # size 100, 100 idle pages, 5 s idle windows
    python benchmarks/fanout.py --sizes 10,100,1000 --events 50

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0). It builds its own temporary
SQLite database (migrate + demo), starts one daphne process serving
`benchmarks.baseline:application` (our `/ws/locks/` and the stock `/ws/baseline/`), and
publishes from this process the way a saving process does. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Origin
from websockets.uri import parse_uri

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CONNECT_TIMEOUT = 60.0  # seconds for one socket to open (and subscribe)
EVENT_TIMEOUT = 10.0  # seconds for one event to reach every socket
EVENT_GAP = 0.1  # seconds of quiet between two events
WARMUP_EVENTS = 2  # sent first, not counted
APPLICATION = "benchmarks.baseline:application"
USER = "alice"  # a demo editor: staff, may view and change customers


# ---------------------------------------------------------------- the site under test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def site_env(workdir: Path, redis_url: str, secret: str) -> dict[str, str]:
    """Production-like settings (DEBUG off) on a throw-away database and the given Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "ALLOWED_HOSTS"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY=secret,
        ALLOWED_HOSTS=f"{HOST},localhost",
        SECURE_SSL_REDIRECT="0",  # plain HTTP on localhost
        DJANGO_SETTINGS_MODULE="project.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")


def start_server(
    env: dict[str, str], port: int, log_path: Path, application: str = APPLICATION
) -> subprocess.Popen:
    """daphne serving `application`, as deployed (`--websocket_connect_timeout 30`)."""
    argv = ["-m", "daphne", "--websocket_connect_timeout", "30", "-b", HOST, "-p", str(port)]
    return serve([sys.executable, *argv, application], env, port, log_path)


def serve(argv: list[str], env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    """Start a server process (output to `log_path`) and wait until its port answers."""
    name = Path(argv[2] if argv[1] == "-m" else argv[0]).name
    log = open(log_path, "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child has its own copy
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {log_path}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise TimeoutError(f"{name} did not answer on port {port} within 60 s")


def stop_server(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads), from /proc (Linux only)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerLog:
    """Exceptions the server logged since the last look (e.g. MaxConnectionsError)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_errors(self) -> Counter:
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
            self.offset = f.tell()
        found: Counter = Counter()
        for line in text.splitlines():
            if '"WSREJECT ' in line:
                found["WSREJECT (not accepted within daphne's connect timeout)"] += 1
            # The last line of a traceback names the exception: "pkg.SomeError: message".
            match = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception))(?::|$)", line)
            if match:
                found[match.group(1).rsplit(".", 1)[-1]] += 1
        return found


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < wanted:
        print(f"warning: only {soft} file descriptors allowed; large sizes may fail")


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        sys.exit(
            f"This benchmark needs Redis, and {url} does not answer ({exc}).\n"
            "Start Redis (e.g. `redis-server` or `docker run -p 6379:6379 redis`) or point "
            "REDIS_URL at one, preferably a spare database number, e.g. "
            "REDIS_URL=redis://127.0.0.1:6379/15."
        )


# ---------------------------------------------------------------- Django in this process


@dataclass
class Site:
    port: int
    cookie: str
    ct: int
    pks: list[str]
    user_id: int
    poll_interval: int

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"


def build_site(workdir: Path, redis_url: str) -> dict[str, str]:
    """The throw-away demo site in `workdir` (migrated, demo data loaded), Django set up in
    this process on it; returns the servers' environment."""
    env = site_env(workdir, redis_url, secrets.token_urlsafe(50))
    print(f"Preparing a throw-away site in {workdir} (Redis {redis_url}) ...", flush=True)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "demo")
    setup_django(env)
    return env


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def login_session(username: str = USER) -> tuple[str, int]:
    """A logged-in session for a demo user, as /admin/login/ would create it."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key, user.pk


def demo_records() -> tuple[int, list[str]]:
    from django.contrib.contenttypes.models import ContentType

    from records.models import Customer

    ct = ContentType.objects.get_for_model(Customer).pk
    pks = [str(pk) for pk in Customer.objects.order_by("pk").values_list("pk", flat=True)]
    return ct, pks


def lock_event(site: Site, pk: str) -> dict[str, Any]:
    """An event shaped like the ones locks.services publishes (a lock was released)."""
    from locks import events
    from locks.records import RecordRef
    from locks.state import FREE

    now = datetime.now(UTC)
    ref = RecordRef(site.ct, pk, f"Customer {pk}")
    return {
        "type": events.LOCK_RELEASED,
        "record": events.record_payload(ref),
        "lock": FREE.as_public_dict(now),
        "actor_id": site.user_id,
        "holder_id": site.user_id,
        "fence": 1,
        "reason": "",
        "at": now.isoformat(),
    }


def baseline_group(ct: int, pk: str) -> str:
    """The stock endpoint's group of a record (as in benchmarks/baseline.py, which this
    process does not import: that would build a second ASGI application here)."""
    from locks.records import RecordRef

    return f"bench.record.{RecordRef(ct, pk).key}"


def publish_ours(site: Site, pk: str, seq: int) -> float:
    """What the saving process does after commit: locks.events.deliver()."""
    from locks.events import deliver

    event = lock_event(site, pk)
    t0 = time.time()
    event["bench"] = {"seq": seq, "t0": t0}
    deliver(event)
    return t0


def publish_baseline(site: Site, pk: str, seq: int) -> float:
    """What stock code does from the saving process: group_send to the record's group."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    event = lock_event(site, pk)
    layer = get_channel_layer()
    t0 = time.time()
    event["bench"] = {"seq": seq, "t0": t0}
    async_to_sync(layer.group_send)(
        baseline_group(site.ct, pk), {"type": "bench.event", "event": event}
    )
    return t0


# ---------------------------------------------------------------- a light websocket client


class Collector:
    """Arrival times of benchmark events, and a future per event that fires when every
    socket has it."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.counts: dict[int, int] = defaultdict(int)
        self.waiters: dict[int, tuple[int, asyncio.Future]] = {}
        self.other: Counter = Counter()
        self.first_ms: dict[int, float] = {}
        self.last_ms: dict[int, float] = {}

    def expect(self, seq: int, sockets: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiters[seq] = (sockets, future)
        return future

    def arrived(self, at: float, message: dict[str, Any]) -> None:
        bench = message.get("bench")
        if not isinstance(bench, dict):
            self.other[message.get("type", "?")] += 1
            return
        seq = bench["seq"]
        latency = (at - bench["t0"]) * 1000
        if seq >= 0:
            self.latencies_ms.append(latency)
            self.first_ms[seq] = min(latency, self.first_ms.get(seq, latency))
            self.last_ms[seq] = max(latency, self.last_ms.get(seq, latency))
        self.counts[seq] += 1
        waiter = self.waiters.get(seq)
        if waiter and self.counts[seq] >= waiter[0] and not waiter[1].done():
            waiter[1].set_result(None)


class Page(asyncio.Protocol):
    """One websocket, on websockets' sans-I/O protocol.

    The arrival time is read as soon as the bytes come off the socket, and parsing is put
    off to the next turn of the event loop, so a burst reaching 1,000 sockets is timed
    without the client's own parsing of the earlier ones (which would add to later ones).
    """

    def __init__(self, url: str, site: Site, collector: Collector) -> None:
        self.protocol = ClientProtocol(parse_uri(url), origin=Origin(site.origin))
        self.cookie = site.cookie
        self.collector = collector
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.create_future()
        self.closed = self.loop.create_future()
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.raw: list[tuple[float, bytes]] = []
        self.scheduled = False
        self.transport: asyncio.Transport | None = None
        self.partial: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        request = self.protocol.connect()
        request.headers["Cookie"] = f"sessionid={self.cookie}"
        self.protocol.send_request(request)
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.raw.append((time.time(), data))
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.process)

    def eof_received(self) -> bool:
        self.process()
        self.protocol.receive_eof()
        self.flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.process()  # what arrived just before (e.g. a refused handshake's response)
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.replies.put_nowait({"type": "closed"})

    # websocket

    def process(self) -> None:
        self.scheduled = False
        raw, self.raw = self.raw, []
        for at, data in raw:
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                self.handle(at, event)
        self.flush()

    def handle(self, at: float, event) -> None:
        if isinstance(event, Response):
            if self.protocol.handshake_exc is not None:
                if not self.opened.done():
                    self.opened.set_exception(self.protocol.handshake_exc)
            elif not self.opened.done():
                self.opened.set_result(None)
            return
        if event.opcode in (Opcode.TEXT, Opcode.CONT):
            self.partial.append(event.data)
            if not event.fin:
                return
            text, self.partial = b"".join(self.partial), []
            message = json.loads(text)
            if "bench" in message:
                self.collector.arrived(at, message)
            elif message.get("type") in {"welcome", "subscribed", "error", "state"}:
                self.replies.put_nowait(message)
            else:
                self.collector.arrived(at, message)  # presence and the like: counted only

    def flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.close()
                return

    def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self.flush()

    async def reply(self, timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def close(self) -> None:
        if self.transport is None or self.closed.done():
            return
        try:
            self.protocol.send_close(1001)
            self.flush()
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        except Exception:
            pass
        if not self.closed.done():
            self.transport.abort()


async def open_page(url: str, site: Site, collector: Collector) -> Page:
    loop = asyncio.get_running_loop()
    page = Page(url, site, collector)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: page, HOST, site.port), 30)
        await asyncio.wait_for(page.opened, CONNECT_TIMEOUT)
    except BaseException:
        if page.transport is not None:
            page.transport.abort()
        raise
    return page


async def open_ours(site: Site, collector: Collector, pk: str, presence: bool = False) -> Page:
    """Our endpoint, as a change form opens it: welcome, then subscribe to the record (with
    `presence`, as the change form's script does: with `sync` too)."""
    page = await open_page(f"ws://{HOST}:{site.port}/ws/locks/", site, collector)
    try:
        welcome = await page.reply()
        if welcome.get("type") != "welcome":
            raise ConnectionError(f"expected welcome, got {welcome}")
        message: dict[str, Any] = {"type": "subscribe", "record": {"ct": site.ct, "pk": pk}}
        if presence:
            # As the change form's script does: subscribe and sync in one request.
            message["presence"] = True
            message["sync"] = {"version": None}
        page.send(message)
        reply = await page.reply()
        if reply.get("type") != "subscribed":
            raise ConnectionError(f"subscribe failed: {reply}")
    except BaseException:
        page.transport.abort()
        raise
    return page


async def open_baseline(site: Site, collector: Collector, pk: str) -> Page:
    """The stock endpoint: the socket is in the record's group once the handshake is done."""
    url = f"ws://{HOST}:{site.port}/ws/baseline/?ct={site.ct}&pk={pk}"
    return await open_page(url, site, collector)


def failure_name(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ConnectionError) and "connection lost" in text:
        return "closed by the server during the handshake"
    match = re.search(r"HTTP (\d{3})", text)
    name = type(exc).__name__
    return f"{name} (HTTP {match.group(1)})" if match else name


@dataclass
class Connected:
    pages: list[Page]
    seconds: float
    failed_at_once: Counter = field(default_factory=Counter)
    failed_in_batches: int = 0
    batch: int = 0

    def describe(self, wanted: int) -> str:
        if not self.failed_at_once:
            return f"{len(self.pages)}/{wanted} connected at once in {self.seconds:.1f} s"
        kinds = ", ".join(f"{n}x {k}" for k, n in self.failed_at_once.most_common())
        text = (
            f"{sum(self.failed_at_once.values())} of {wanted} failed when all connected at "
            f"once ({kinds}); retried in batches of {self.batch}: "
            f"{len(self.pages)}/{wanted} connected in {self.seconds:.1f} s"
        )
        if self.failed_in_batches:
            text += f", {self.failed_in_batches} still failed"
        return text


async def connect_many(opener, count: int, batch: int) -> Connected:
    """Open `count` pages all at once (as after a server restart); if some fail, open the
    missing ones in batches of `batch`."""
    started = time.monotonic()
    results = await asyncio.gather(*(opener(i) for i in range(count)), return_exceptions=True)
    pages = [r for r in results if isinstance(r, Page)]
    failed = Counter(failure_name(r) for r in results if not isinstance(r, Page))
    connected = Connected(pages, 0.0, failed, batch=batch)
    missing = sum(failed.values())
    index = count
    while missing > 0:
        size = min(batch, missing)
        results = await asyncio.gather(
            *(opener(index + i) for i in range(size)), return_exceptions=True
        )
        index += size
        missing -= size
        pages.extend(r for r in results if isinstance(r, Page))
        connected.failed_in_batches += sum(1 for r in results if not isinstance(r, Page))
    connected.seconds = time.monotonic() - started
    return connected


async def close_all(pages: list[Page]) -> None:
    await asyncio.gather(*(page.close() for page in pages), return_exceptions=True)
    await asyncio.sleep(1.0)  # let the server finish its disconnect handlers


# ---------------------------------------------------------------- measurements


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class LatencyRun:
    endpoint: str
    size: int
    connect: str = ""
    connected: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)  # the publishing call itself
    first_ms: list[float] = field(default_factory=list)  # first socket reached, per event
    last_ms: list[float] = field(default_factory=list)  # last socket reached, per event
    missing: int = 0
    connect_errors: Counter = field(default_factory=Counter)
    server_errors: Counter = field(default_factory=Counter)
    close_errors: Counter = field(default_factory=Counter)
    aborted: str = ""

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


async def latency_run(
    endpoint: str, site: Site, size: int, pk: str, events: int, batch: int, log: ServerLog
) -> LatencyRun:
    run = LatencyRun(endpoint, size)
    collector = Collector()
    if endpoint == "ours":

        async def opener(_: int) -> Page:
            return await open_ours(site, collector, pk)

        publish = publish_ours
    else:

        async def opener(_: int) -> Page:
            return await open_baseline(site, collector, pk)

        publish = publish_baseline

    def timed_publish(seq: int) -> float:
        t0 = publish(site, pk, seq)
        return (time.time() - t0) * 1000

    log.new_errors()
    connected = await connect_many(opener, size, batch)
    run.connect = connected.describe(size)
    run.connected = len(connected.pages)
    try:
        await asyncio.sleep(0.5)
        run.connect_errors = log.new_errors()
        # This process's own garbage collection would delay the arrival times it records.
        gc.collect()
        gc.disable()
        silent = 0
        for seq in range(-WARMUP_EVENTS, events):
            waiting = collector.expect(seq, run.connected)
            took = await asyncio.to_thread(timed_publish, seq)
            if seq >= 0:
                run.publish_ms.append(took)
            try:
                await asyncio.wait_for(waiting, EVENT_TIMEOUT)
                silent = 0
            except TimeoutError:
                if seq >= 0:
                    run.missing += run.connected - collector.counts[seq]
                silent = silent + 1 if collector.counts[seq] == 0 else 0
                if silent == 2:
                    run.aborted = "two events in a row reached no socket; run stopped"
                    break
            await asyncio.sleep(EVENT_GAP)
        gc.enable()
        run.latencies_ms = collector.latencies_ms
        run.first_ms = list(collector.first_ms.values())
        run.last_ms = list(collector.last_ms.values())
        run.server_errors = log.new_errors()
    finally:
        gc.enable()
        await close_all(connected.pages)
        run.close_errors = log.new_errors()
    return run


@dataclass
class IdleRun:
    pages: int
    window: float
    websocket_cpu_per_min: float | None = None
    polling_cpu_per_min: float | None = None
    websocket_connect: str = ""
    websocket_messages: Counter = field(default_factory=Counter)
    polls: int = 0
    poll_errors: Counter = field(default_factory=Counter)
    poll_ms: list[float] = field(default_factory=list)


async def measure_cpu(pid: int, window: float) -> float | None:
    before, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window)
    after, elapsed = cpu_seconds(pid), time.monotonic() - started
    if before is None or after is None:
        return None
    return (after - before) / elapsed * 60


async def idle_websockets(site: Site, pid: int, idle: IdleRun, batch: int) -> None:
    """Viewer pages: subscribed to their record with presence, as the change form does, and
    then silent (a viewer sends no heartbeats; the server's pings are answered)."""
    collector = Collector()
    records = site.pks[10:60] or site.pks

    async def opener(i: int) -> Page:
        return await open_ours(site, collector, records[i % len(records)], presence=True)

    connected = await connect_many(opener, idle.pages, batch)
    idle.websocket_connect = connected.describe(idle.pages)
    try:
        await asyncio.sleep(3)  # presence settles
        collector.other.clear()
        idle.websocket_cpu_per_min = await measure_cpu(pid, idle.window)
        idle.websocket_messages = Counter(collector.other)
    finally:
        await close_all(connected.pages)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        return status, False
    return status, headers.get("connection", "").lower() != "close"


async def idle_polling(site: Site, pid: int, idle: IdleRun) -> None:
    """The fallback: every page GETs its record's lock state once per heartbeat interval,
    spread evenly over the interval, on a kept-alive HTTP/1.1 connection (as a browser
    would reuse one)."""
    loop = asyncio.get_running_loop()
    period = float(site.poll_interval)
    records = site.pks[10:60] or site.pks
    measuring = False
    start = loop.time() + 0.5
    stop = start + period + 1 + idle.window  # one full period to open connections, then measure

    async def page(i: int) -> None:
        pk = records[i % len(records)]
        request = (
            f"GET /admin/records/customer/{pk}/lock/state/?lease= HTTP/1.1\r\n"
            f"Host: {HOST}:{site.port}\r\n"
            f"Cookie: sessionid={site.cookie}\r\n"
            "Accept: application/json\r\n"
            "User-Agent: locks-fanout-benchmark\r\n"
            "\r\n"
        ).encode()
        reader = writer = None
        due = start + i * period / idle.pages
        while due < stop:
            await asyncio.sleep(max(0.0, due - loop.time()))
            sent = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, site.port)
                writer.write(request)
                status, keep = await asyncio.wait_for(read_response(reader), 30)
                if measuring:
                    idle.polls += 1
                    idle.poll_ms.append((time.perf_counter() - sent) * 1000)
                    if status != 200:
                        idle.poll_errors[f"HTTP {status}"] += 1
                if not keep:
                    writer.close()
                    reader = writer = None
            except Exception as exc:
                if measuring:
                    idle.poll_errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
            due += period
        if writer is not None:
            writer.close()

    tasks = [asyncio.create_task(page(i)) for i in range(idle.pages)]
    try:
        await asyncio.sleep(max(0.0, start + period + 1 - loop.time()))
        measuring = True
        idle.polling_cpu_per_min = await measure_cpu(pid, idle.window)
        measuring = False
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def counter_text(counter: Counter) -> str:
    return ", ".join(f"{n}x {k}" for k, n in counter.most_common()) or "none"


def report(runs: list[LatencyRun], idle: IdleRun | None, events: int) -> None:
    print()
    print(f"Event delivery latency (commit to arrival; {events} events per size after")
    print(f"{WARMUP_EVENTS} warm-up ones; p50/p99 over every socket x event):")
    print()
    print("| pages | ours p50 ms | ours p99 ms | baseline p50 ms | baseline p99 ms | "
          "speed-up (p99) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    sizes = sorted({r.size for r in runs})
    for size in sizes:
        ours = next((r for r in runs if r.size == size and r.endpoint == "ours"), None)
        base = next((r for r in runs if r.size == size and r.endpoint == "baseline"), None)
        speedup = base.p99 / ours.p99 if ours and base and ours.p99 > 0 else math.nan
        print(
            f"| {size} | {fmt(ours and ours.p50)} | {fmt(ours and ours.p99)} | "
            f"{fmt(base and base.p50)} | {fmt(base and base.p99)} | {fmt(speedup)}x |"
        )
    print()
    print("Per run: connections, errors, and where the time goes (medians over events:")
    print("the publishing call itself, the first and the last socket reached):")
    for run in runs:
        print(f"- {run.endpoint} {run.size}: {run.connect}")
        print(
            f"    server errors: connecting {counter_text(run.connect_errors)}; "
            f"measuring {counter_text(run.server_errors)}; "
            f"disconnecting {counter_text(run.close_errors)}"
        )
        print(
            f"    deliveries {len(run.latencies_ms)}, missing {run.missing}; publish call "
            f"{fmt(percentile(run.publish_ms, 50))} ms, first socket "
            f"{fmt(percentile(run.first_ms, 50))} ms, last socket "
            f"{fmt(percentile(run.last_ms, 50))} ms (worst {fmt(max(run.last_ms, default=None))})"
        )
        if run.aborted:
            print(f"    {run.aborted}")
    if idle is None:
        return
    print()
    print(
        f"Idle cost: server (daphne) CPU over a {idle.window:g} s window, scaled to per "
        "minute (a minute has 60 CPU s per core):"
    )
    print()
    print(f"| {idle.pages} idle pages | CPU s/min websocket | CPU s/min polling |")
    print("|---|---:|---:|")
    print(
        f"| viewers of {min(50, idle.pages)} records | "
        f"{fmt(idle.websocket_cpu_per_min, 2)} | {fmt(idle.polling_cpu_per_min, 2)} |"
    )
    print()
    print(f"- websocket pages: {idle.websocket_connect}; pushed to them during the window: "
          f"{counter_text(idle.websocket_messages)}")  # fmt: skip
    rate = idle.polls / idle.window if idle.window else 0
    print(
        f"- polling pages: {idle.polls} polls in the window ({rate:.0f}/s), errors: "
        f"{counter_text(idle.poll_errors)}, response p50 {fmt(percentile(idle.poll_ms, 50))} ms"
        f", p99 {fmt(percentile(idle.poll_ms, 99))} ms"
    )


# ---------------------------------------------------------------- main


async def run_all(args, site: Site, pid: int, log: ServerLog) -> tuple[list, IdleRun | None]:
    runs: list[LatencyRun] = []
    records = iter(site.pks[:10])  # a fresh record (and group) per run
    for size in args.sizes:
        for endpoint in ("ours", "baseline"):
            print(f"  {endpoint}: {size} pages ...", flush=True)
            run = await latency_run(
                endpoint, site, size, next(records), args.events, args.batch, log
            )
            print(f"    {run.connect}; p50 {fmt(run.p50)} ms, p99 {fmt(run.p99)} ms", flush=True)
            runs.append(run)
    idle = None
    if args.idle_pages > 0:
        idle = IdleRun(args.idle_pages, args.idle_window)
        print(f"  idle: {idle.pages} websocket pages for {idle.window:g} s ...", flush=True)
        await idle_websockets(site, pid, idle, args.batch)
        await asyncio.sleep(2)
        print(
            f"  idle: {idle.pages} polling pages, one {site.poll_interval} s period to open, "
            f"then {idle.window:g} s ...",
            flush=True,
        )
        await idle_polling(site, pid, idle)
    return runs, idle


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="pages per run, comma-separated")
    parser.add_argument("--events", type=int, default=20, help="measured events per run")
    parser.add_argument("--idle-pages", type=int, default=1000, help="0 skips the idle test")
    parser.add_argument(
        "--idle-window", type=float, default=30.0, help="seconds measured (default 30)"
    )
    parser.add_argument("--batch", type=int, default=50, help="batch size for reconnecting")
    parser.add_argument(
        "--quick", action="store_true", help="size 100, 100 idle pages, 5 s idle windows"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.idle_pages, args.idle_window = "100", 100, 5.0
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def main() -> None:
    args = parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    check_redis(redis_url)
    raise_fd_limit(2 * max([*args.sizes, args.idle_pages]) + 1024)
    # A SIGTERM runs the clean-up below, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    workdir = Path(tempfile.mkdtemp(prefix="locks-fanout-"))
    server: subprocess.Popen | None = None
    site: Site | None = None
    try:
        env = build_site(workdir, redis_url)
        cookie, user_id = login_session()
        ct, pks = demo_records()
        from django.conf import settings

        port = free_port()
        server = start_server(env, port, workdir / "daphne.log")
        site = Site(port, cookie, ct, pks, user_id, settings.LOCKS_HEARTBEAT_INTERVAL)
        load = os.getloadavg()[0]
        print(
            f"daphne pid {server.pid} on port {port}; {os.cpu_count()} CPUs, load average "
            f"{load:.1f}",
            flush=True,
        )
        if load > 0.5:
            print("note: the machine is not idle; figures will be noisier", flush=True)
        runs, idle = asyncio.run(run_all(args, site, server.pid, ServerLog(workdir / "daphne.log")))
        report(runs, idle, args.events)
    finally:
        stop_server(server)
        cleanup_groups(redis_url, site)
        shutil.rmtree(workdir, ignore_errors=True)


def cleanup_groups(redis_url: str, site: Site | None) -> None:
    """Drop the stock endpoint's groups from Redis (ours are left to expire, as a stopped
    server's are)."""
    if site is None:
        return
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=2)
        client.delete(*(f"asgi:group:{baseline_group(site.ct, pk)}" for pk in site.pks[:10]))
    except Exception:
        pass


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("Interrupted; the server was stopped and the temporary site removed.")
