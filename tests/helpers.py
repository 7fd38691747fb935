"""Small helpers shared by the test modules."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import comfykit_sync

WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
T2I = WORKFLOWS / "text_to_image.json"

T = TypeVar("T")


def run_in_threads(
    fn: Callable[[int], T], n_jobs: int, n_threads: int, timeout: float = 120
) -> dict[int, T]:
    """Call ``fn(i)`` for every ``i`` in ``range(n_jobs)`` from ``n_threads`` threads at once.

    Returns job number -> result for the jobs that finished (a job that raised is missing).
    """
    results: dict[int, T] = {}
    lock = threading.Lock()
    jobs = iter(range(n_jobs))

    def worker() -> None:
        while True:
            with lock:
                i = next(jobs, None)
            if i is None:
                return
            res = fn(i)
            with lock:
                results[i] = res

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results


def execute_numbered(
    kit: comfykit_sync.ComfyKit, workflow: dict[str, Any], n_jobs: int, n_threads: int
) -> dict[int, comfykit_sync.ExecuteResult]:
    """Execute job ``i`` with ``{"prompt": "prompt {i}", "prefix": "job{i}"}`` on one shared kit."""
    return run_in_threads(
        lambda i: kit.execute_json(workflow, {"prompt": f"prompt {i}", "prefix": f"job{i}"}),
        n_jobs,
        n_threads,
    )
