"""A real ASGI server (daphne) in a subprocess, with its own SQLite database and demo data.

Browser tests talk to it like a user would; they read its database file directly to check
what was stored.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As the README recommends: a restart makes every open page reconnect at once, and daphne's
# default 5 s handshake limit drops connections a busy 2-core server cannot take that fast.
DAPHNE_OPTIONS = ["--websocket_connect_timeout", "30"]
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server on port {port} did not answer within {timeout} s")


def start_daphne(
    application: str, cwd: Path, env: dict[str, str], log_dir: Path
) -> tuple[subprocess.Popen, str]:
    """daphne serving `application` on a free port, logging to log_dir; (process, base URL)."""
    port = free_port()
    log = open(log_dir / f"daphne-{port}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            *DAPHNE_OPTIONS,
            "-b",
            "127.0.0.1",
            "-p",
            f"{port}",
            application,
        ],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def stop_processes(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class LiveSite:
    """One database, any number of server processes sharing it."""

    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    database_url: str = ""  # default: an SQLite file in `workdir`
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.workdir / "site.sqlite3"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        }
        env.update(
            DATABASE_URL=self.database_url or f"sqlite:///{self.db_path}",
            DEBUG="1",
            DJANGO_SETTINGS_MODULE="project.settings",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("demo")

    def start_server(self, extra_env: dict[str, str] | None = None) -> str:
        """Start one more server process (with `extra_env` on top of the site's)."""
        env = {**self.env(), **(extra_env or {})}
        proc, url = start_daphne("project.asgi:application", ROOT, env, self.workdir)
        self.processes.append(proc)
        return url

    def stop(self) -> None:
        stop_processes(self.processes)

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=20)

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db_path, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    def scalar(self, sql: str, *params):
        rows = self.query(sql, *params)
        return rows[0][0] if rows else None
