"""Pool throughput: 32 threads on one kit over 1, 2 and 4 fake ComfyUI servers.

Run: ``python bench/pool.py [--servers 1 2 4] [--threads 32] [--executors http websocket]``.
Each fake server runs in its own process on 127.0.0.1 and executes ``--workers`` prompts of
``--job-ms`` at once (8 × 100 ms: at most 80 jobs/s per server, like a GPU box that is the
bottleneck), so throughput grows with the servers until the client's CPU (or the threads)
is the limit. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core import WORKFLOWS, start_server, stop_server  # noqa: E402
from throughput import cpu_seconds  # noqa: E402

from comfykit_sync import ComfyKit  # noqa: E402


def run(urls: list[str], executor: str, threads: int, jobs: int) -> dict[str, float]:
    workflow = json.loads((WORKFLOWS / "text_to_image.json").read_text())
    counter = iter(range(jobs))
    lock = threading.Lock()
    failures: list[str] = []
    placed: Counter[str] = Counter()
    with ComfyKit(urls, executor_type=executor, timeout=120) as kit:
        kit.servers()  # connections to every server
        kit.execute_json(workflow, {"prompt": "warm-up"})  # fetches every server's definitions

        def worker() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                result = kit.execute_json(workflow, {"prompt": f"job {i}"})
                with lock:
                    placed[result.server or "-"] += 1
                    if result.status != "completed":
                        failures.append(result.msg or "")

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        cpu_client = cpu_seconds()
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=600)
        elapsed = time.perf_counter() - start
        cpu_client = cpu_seconds() - cpu_client
    shares = sorted(placed.values(), reverse=True)
    return {
        "executions_per_s": jobs / elapsed,
        "jobs": jobs,
        "failures": len(failures),
        "client_cpu_ms_per_job": cpu_client / jobs * 1000,
        "busiest_share": shares[0] / jobs if shares else 0.0,
        "idlest_share": shares[-1] / jobs if len(shares) == len(urls) else 0.0,
    }


def measure(
    servers: list[int],
    executors: list[str],
    *,
    threads: int = 32,
    workers: int = 8,
    job_ms: float = 100,
    jobs: int = 640,
    report: bool = True,
) -> dict[str, dict[str, float]]:
    """Start ``max(servers)`` fake servers (own processes) and measure each executor on the
    first N of them for N in ``servers``; figures keyed ``"<executor>-<N>"``."""
    procs = []
    results: dict[str, dict[str, float]] = {}
    try:
        for _ in range(max(servers)):
            procs.append(start_server("--workers", str(workers), "--duration", str(job_ms / 1000)))
        urls = [url for _, url in procs]
        if report:
            print(
                f"{'executor':<10}{'servers':>8}{'threads':>8}{'exec/s':>10}{'failures':>10}"
                f"{'client CPU/job':>16}{'share max/min':>16}"
            )
        for executor in executors:
            for n in servers:
                figures = run(urls[:n], executor, threads, jobs)
                results[f"{executor}-{n}"] = figures
                if report:
                    print(
                        f"{executor:<10}{n:>8}{threads:>8}{figures['executions_per_s']:>10.1f}"
                        f"{figures['failures']:>10}{figures['client_cpu_ms_per_job']:>13.2f} ms"
                        f"{figures['busiest_share']:>9.0%} /{figures['idlest_share']:>4.0%}",
                        flush=True,
                    )
    finally:
        for proc, _ in procs:
            stop_server(proc)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--executors", nargs="+", default=["http"])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--workers", type=int, default=8, help="prompts each server runs at once")
    parser.add_argument("--job-ms", type=float, default=100)
    parser.add_argument("--jobs", type=int, default=640, help="executions per measurement")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = measure(
        args.servers,
        args.executors,
        threads=args.threads,
        workers=args.workers,
        job_ms=args.job_ms,
        jobs=args.jobs,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
