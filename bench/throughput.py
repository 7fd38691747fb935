"""Throughput: K threads sharing one kit, 100 ms jobs, fake server with 32 workers.

Run: ``python bench/throughput.py [--executors http websocket] [--threads 1 8 32]``. The fake
ComfyUI runs in its own process on 127.0.0.1; figures are printed, never asserted. Each thread
runs ``--per-thread`` executions back to back (steady state). ``--pin`` puts the server on the
last CPU and this process on the others (Linux), so that the client's CPU per execution is
measured without the server competing for it.
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

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # this checkout's package, not an installed one

from core import WORKFLOWS, percentile, start_server, stop_server  # noqa: E402

from comfykit_sync import ComfyKit  # noqa: E402


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    url: str, executor: str, threads: int, per_thread: int, server_pid: int
) -> dict[str, float]:
    workflow = json.loads((WORKFLOWS / "text_to_image.json").read_text())
    jobs = threads * per_thread
    failures: list[str] = []
    durations: list[float] = []
    with ComfyKit(url, executor_type=executor, timeout=120) as kit:
        kit.execute_json(workflow, {"prompt": "warm-up"})

        def worker(n: int) -> None:
            for i in range(per_thread):
                result = kit.execute_json(workflow, {"prompt": f"job {n}.{i}"})
                durations.append(result.duration)
                if result.status != "completed":
                    failures.append(result.msg or "")

        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
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
        "execution_p50_ms": percentile(durations, 0.5) * 1000,
        "failures": len(failures),
        "client_cpu_ms_per_job": cpu_client / jobs * 1000,
        "server_cpu_ms_per_job": cpu_server / jobs * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executors", nargs="+", default=["http", "websocket"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--job-ms", type=float, default=100)
    parser.add_argument("--per-thread", type=int, default=40, help="executions per thread")
    parser.add_argument("--pin", action="store_true", help="server on the last CPU, we on the rest")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    proc, url = start_server("--workers", "32", "--duration", str(args.job_ms / 1000))
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 1:
            os.sched_setaffinity(proc.pid, {cpus[-1]})
            os.sched_setaffinity(0, set(cpus[:-1]))
    results: dict[str, dict[str, float]] = {}
    try:
        print(f"{'executor':<10}{'threads':>8}{'exec/s':>10}{'exec p50':>11}{'failures':>10}"
              f"{'client CPU/job':>16}{'server CPU/job':>16}")
        for executor in args.executors:
            for k in args.threads:
                figures = run(url, executor, k, args.per_thread, server_pid=proc.pid)
                results[f"{executor}-{k}"] = figures
                print(f"{executor:<10}{k:>8}{figures['executions_per_s']:>10.1f}"
                      f"{figures['execution_p50_ms']:>8.0f} ms{figures['failures']:>10}"
                      f"{figures['client_cpu_ms_per_job']:>13.2f} ms"
                      f"{figures['server_cpu_ms_per_job']:>13.2f} ms")
    finally:
        stop_server(proc)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
