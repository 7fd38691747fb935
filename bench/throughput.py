"""Throughput: K threads sharing one kit, 100 ms jobs, fake server with 32 workers.

Run: ``python bench/throughput.py [--executors http websocket] [--threads 1 8 32]``. The fake
ComfyUI runs in its own process on 127.0.0.1; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core import WORKFLOWS, start_server  # noqa: E402

from comfykit_sync import ComfyKit  # noqa: E402


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(url: str, executor: str, threads: int, jobs: int, server_pid: int) -> dict[str, float]:
    workflow = json.loads((WORKFLOWS / "text_to_image.json").read_text())
    counter = iter(range(jobs))
    lock = threading.Lock()
    failures: list[str] = []
    with ComfyKit(url, executor_type=executor, timeout=120) as kit:
        kit.execute_json(workflow, {"prompt": "warm-up"})

        def worker() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                result = kit.execute_json(workflow, {"prompt": f"job {i}"})
                if result.status != "completed":
                    failures.append(result.msg or "")

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        cpu_client, cpu_server = cpu_seconds(), cpu_seconds(server_pid)
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=600)
        elapsed = time.perf_counter() - start
        cpu_client = cpu_seconds() - cpu_client
        cpu_server = cpu_seconds(server_pid) - cpu_server
    return {
        "executions_per_s": jobs / elapsed,
        "jobs": jobs,
        "failures": len(failures),
        "client_cpu_ms_per_job": cpu_client / jobs * 1000,
        "server_cpu_ms_per_job": cpu_server / jobs * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executors", nargs="+", default=["http", "websocket"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--job-ms", type=float, default=100)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    proc, url = start_server("--workers", "32", "--duration", str(args.job_ms / 1000))
    results: dict[str, dict[str, float]] = {}
    try:
        print(f"{'executor':<10}{'threads':>8}{'exec/s':>10}{'failures':>10}"
              f"{'client CPU/job':>16}{'server CPU/job':>16}")
        for executor in args.executors:
            for k in args.threads:
                figures = run(url, executor, k, jobs=max(40, k * 40), server_pid=proc.pid)
                results[f"{executor}-{k}"] = figures
                print(f"{executor:<10}{k:>8}{figures['executions_per_s']:>10.1f}"
                      f"{figures['failures']:>10}{figures['client_cpu_ms_per_job']:>13.2f} ms"
                      f"{figures['server_cpu_ms_per_job']:>13.2f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
