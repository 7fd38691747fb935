"""Soak: many executions from many threads sharing one ``ComfyKit``, with random faults.

Slow, so deselected by default (``addopts = "-m 'not slow'"`` in ``pyproject.toml``); run it with
``python -m pytest -q -s -m slow tests/test_soak.py``.

For each executor, ``JOBS`` calls are made from ``THREADS`` threads sharing one kit. Every job has
a unique prompt text; a completed job must report exactly that text back (results are never mixed
between calls). Most jobs get a fault attached by a script matched on their own prompt text, so
the typed error in ``result.error`` can be checked against the fault of that job. On top of that,
bursts of 429 on ``POST /prompt`` and 503 on ``/queue`` hit whichever requests come next; the
client retries those, so they must not turn any job into a failure.

Leak checks (not timing asserts): open file descriptors, live threads and RSS are measured after a
warm-up and at the end, printed (``-s``) and recorded with ``record_property``.
The fake server runs in this process and keeps every prompt's record and history, so RSS grows
by roughly 15 KiB per job even without a client leak; the RSS bound allows for that.
"""

from __future__ import annotations

import gc
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from helpers import T2I

from comfykit_sync import (
    ComfyKit,
    ComfyKitError,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionTimeout,
    PromptLostError,
    ServerError,
)
from comfykit_sync.testing import FakeComfyUI, Script

pytestmark = pytest.mark.slow

THREADS = 32
WARMUP_JOBS = 200  # enough to fill the HTTP session pool before the baseline
JOBS = 1000  # per executor, warm-up included
CALL_TIMEOUT = 10.0  # execute(timeout=...) of a normal job
SHORT_TIMEOUT = 0.3  # execute(timeout=...) of a job scripted to outlast it
JOIN_TIMEOUT = 180.0  # bound on each batch of threads (a hung call fails the test, never hangs it)
SEED = 20240607

# growth allowed between the warm-up and the end of the run
MAX_FD_GROWTH = 20
MAX_THREAD_GROWTH = 5
MAX_RSS_GROWTH_MIB = 64


class Fault:
    """A fault attached to one job: the script (or None), the execute timeout, the check."""

    def __init__(
        self,
        name: str,
        weight: int,
        script: Callable[[random.Random], Script | None],
        expect: type[ComfyKitError] | None,
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.name = name
        self.weight = weight
        self.script = script
        self.expect = expect  # None: the job completes
        self.timeout = timeout


FAULTS = [
    Fault("ok", 40, lambda rng: None, None),
    Fault("ok-scripted", 15, lambda rng: Script(duration=rng.uniform(0.0, 0.02)), None),
    Fault("delay-final", 5, lambda rng: Script(duration=0.01, delay_final=0.03), None),
    Fault("drop-socket", 3, lambda rng: Script(duration=0.06, drop_socket_after=0.02), None),
    Fault(
        "node-error", 8, lambda rng: Script(error_node="3", error_message="soak"), ExecutionError
    ),
    Fault(
        "interrupt",
        7,
        lambda rng: Script(duration=2.0, interrupt_after=0.02),
        ExecutionInterrupted,
    ),
    Fault("vanish", 7, lambda rng: Script(vanish=True), PromptLostError),
    Fault("submit-500", 7, lambda rng: Script(submit_status=500), ServerError),
    Fault("timeout", 8, lambda rng: Script(duration=3.0), ExecutionTimeout, timeout=SHORT_TIMEOUT),
]


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def _snapshot() -> dict[str, int]:
    gc.collect()
    return {"fds": _fd_count(), "threads": threading.active_count(), "rss_kib": _rss_kib()}


def _matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda graph: graph.get("6", {}).get("inputs", {}).get("text") == text


class Soak:
    def __init__(self, server: FakeComfyUI, kit: ComfyKit, executor: str) -> None:
        self.server = server
        self.kit = kit
        self.executor = executor
        self.rng = random.Random(f"{SEED}-{executor}")
        self.lock = threading.Lock()
        self.problems: list[str] = []
        self.outcomes: Counter[str] = Counter()
        self.bursts: Counter[str] = Counter()
        self.calls = 0

    def plan(self, first: int, count: int) -> list[tuple[int, Fault, float]]:
        """(job number, fault, die roll deciding a request-fault burst before the job)."""
        weights = [f.weight for f in FAULTS]
        return [
            (i, self.rng.choices(FAULTS, weights)[0], self.rng.random())
            for i in range(first, first + count)
        ]

    def run_one(self, index: int, fault: Fault, dice: float) -> None:
        rng = random.Random(f"{SEED}-{self.executor}-{index}")
        text = f"soak {self.executor} #{index} {uuid.uuid4().hex}"
        script = fault.script(rng)
        if script is not None:
            self.server.script(script, match=_matcher(text))
        if dice < 0.04:  # a 429 on the next submission (whoever's), retried by the client
            self.server.fail_requests("/prompt", status=429, times=1, retry_after=0)
            with self.lock:
                self.bursts["429 /prompt"] += 1
        elif dice < 0.08:  # a short 503 burst on /queue (polling, cancel), retried
            self.server.fail_requests("/queue", status=503, times=rng.randint(1, 2))
            with self.lock:
                self.bursts["503 /queue"] += 1
        try:
            result = self.kit.execute(T2I, {"prompt": text}, timeout=fault.timeout)
        except BaseException as exc:  # execute must report, not raise, what happens to a job
            self.problem(index, fault, f"execute raised {exc!r}")
            return
        with self.lock:
            self.calls += 1
            self.outcomes[f"{fault.name}:{result.status}"] += 1
        if fault.expect is None:
            if result.status != "completed":
                self.problem(index, fault, f"failed: {result.error!r} ({result.msg})")
            elif result.texts != [text] or result.error is not None:
                self.problem(index, fault, f"mixed result: texts={result.texts!r}")
            return
        if result.status != "failed" or not isinstance(result.error, ComfyKitError):
            self.problem(index, fault, f"status {result.status!r}, error {result.error!r}")
            return
        if not isinstance(result.error, fault.expect):
            self.problem(index, fault, f"expected {fault.expect.__name__}, got {result.error!r}")
            return
        if fault.name == "node-error" and (
            type(result.error) is not ExecutionError or result.error.node_id != "3"
        ):
            self.problem(index, fault, f"wrong node error {result.error!r}")
        if fault.name == "submit-500" and (
            result.error.status_code != 500 or result.prompt_id is not None
        ):
            self.problem(index, fault, f"wrong submit error {result.error!r} {result.prompt_id}")
        if result.prompt_id is not None and result.texts:
            self.problem(index, fault, f"failed job carries texts {result.texts!r}")

    def problem(self, index: int, fault: Fault, message: str) -> None:
        with self.lock:
            self.problems.append(f"[{self.executor} #{index} {fault.name}] {message}")

    def batch(self, jobs: list[tuple[int, Fault, float]]) -> None:
        """Run ``jobs`` from THREADS threads; every thread must finish within JOIN_TIMEOUT."""
        pending = iter(jobs)
        take = threading.Lock()

        def worker() -> None:
            while True:
                with take:
                    job = next(pending, None)
                if job is None:
                    return
                self.run_one(*job)

        threads = [
            threading.Thread(target=worker, name=f"soak-{n}", daemon=True) for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        end = time.monotonic() + JOIN_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        hung = [t.name for t in threads if t.is_alive()]
        assert not hung, f"{len(hung)} soak thread(s) still running: a call hung past its deadline"


@pytest.mark.parametrize("executor", ["http", "websocket"])
def test_soak(executor: str, record_property: pytest.RecordProperty) -> None:
    started = time.monotonic()
    with (
        FakeComfyUI(workers=16, duration=0.01) as server,
        ComfyKit(server.url, executor_type=executor, poll_max_interval=0.25) as kit,
    ):
        soak = Soak(server, kit, executor)
        soak.batch(soak.plan(0, WARMUP_JOBS))
        before = _snapshot()
        soak.batch(soak.plan(WARMUP_JOBS, JOBS - WARMUP_JOBS))
        after = _snapshot()

    elapsed = time.monotonic() - started
    growth = {key: after[key] - before[key] for key in before}
    figures = {
        "executor": executor,
        "calls": soak.calls,
        "seconds": round(elapsed, 1),
        "before": before,
        "after": after,
        "growth": growth,
        "outcomes": dict(sorted(soak.outcomes.items())),
        "bursts": dict(soak.bursts),
    }
    print(f"\nsoak {executor}: {figures}")
    for key, value in figures.items():
        record_property(f"soak_{key}", value)

    assert not soak.problems, f"{len(soak.problems)} problem(s):\n" + "\n".join(soak.problems[:30])
    assert soak.calls == JOBS
    assert growth["fds"] <= MAX_FD_GROWTH, figures
    assert growth["threads"] <= MAX_THREAD_GROWTH, figures
    assert growth["rss_kib"] <= MAX_RSS_GROWTH_MIB * 1024, figures
