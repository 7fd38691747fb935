"""A real ``redis-server`` and real Celery worker processes for the Celery tests."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

import comfykit_sync

ROOT = Path(comfykit_sync.__file__).resolve().parent.parent
TESTS = ROOT / "tests"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence, in a temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="comfykit-redis-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._dbs = itertools.cycle(range(16))  # redis-server's default number of databases

    def start(self) -> RedisServer:
        for _ in range(5):  # another process may take the free port first
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                    "--loglevel",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _wait_ready(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc and self.proc.poll() is None:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                time.sleep(0.02)
        return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def fresh_url(self) -> str:
        """The URL of the next of the server's databases, emptied first."""
        db = next(self._dbs)
        redis.Redis(host="127.0.0.1", port=self.port, db=db).flushdb()
        return self.url(db)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """A ``celery -A <app> worker`` process (its own process group) with its log in a file."""

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        *,
        name: str,
        pool: str = "prefork",
        concurrency: int = 2,
        cwd: Path = TESTS,
    ) -> None:
        self.name = f"{name}@localhost"
        self.log = Path(tempfile.mkstemp(prefix=f"celery-{name}-", suffix=".log")[1])
        path = os.pathsep.join([str(ROOT), str(cwd), os.environ.get("PYTHONPATH", "")])
        command = [
            sys.executable, "-m", "celery", "-A", app, "worker",
            "-P", pool, "-c", str(concurrency), "-n", self.name, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=cwd,
                env={**os.environ, **env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> Worker:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if f"{self.name} ready." in self.output():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"worker {self.name} did not start:\n{self.output()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (a crash)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)

    def stop(self) -> str:
        """Warm shutdown (SIGTERM to the main process), then SIGKILL if it takes too long;
        returns the worker's whole log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        output = self.output() if self.log.exists() else ""
        self.log.unlink(missing_ok=True)
        return output
