"""Side-by-side benchmark: comfykit-sync against the original async comfykit 0.1.12.

Run: ``python bench/compare.py [--quick] [--json compare.json]``.

The original is installed once (``pip install comfykit==0.1.12``) into ``bench/.venv-original``
and measured by small child scripts run with that venv's python; comfykit-sync is measured in
this process (threads) with the helpers of ``bench/core.py`` and ``bench/throughput.py``. Both
talk to the same bundled fake ComfyUI, started in its own process on 127.0.0.1, in the same run.
If the original cannot be installed (no network, version missing), that is printed and only
comfykit-sync is measured. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core import (  # noqa: E402
    UPLOAD_CHILD,
    WORKFLOWS,
    detection_delay,
    percentile,
    start_server,
    stop_server,
)
from pool import measure as measure_pool  # noqa: E402
from startup import import_time  # noqa: E402
from throughput import cpu_seconds  # noqa: E402
from throughput import run as run_throughput  # noqa: E402

HERE = Path(__file__).resolve().parent
POOL_SERVERS = [1, 2, 4]
ORIGINAL_VERSION = "0.1.12"
ORIGINAL_VENV = HERE / ".venv-original"
ORIGINAL_PYTHON = ORIGINAL_VENV / "bin" / "python"
TEXT_TO_IMAGE = str(WORKFLOWS / "text_to_image.json")
IMAGE_TO_IMAGE = str(WORKFLOWS / "image_to_image.json")
MARK = "RESULT "

# --- the original's child scripts (run with bench/.venv-original/bin/python) -----------------

ORIGINAL_PRELUDE = r"""
import asyncio, json, logging, resource, sys, time
from comfykit import ComfyKit
logging.disable(logging.CRITICAL)
"""

# argv: url executor runs workflow -> [[prompt_id, status, returned_time.time()], ...]
ORIGINAL_DETECTION = ORIGINAL_PRELUDE + r"""
url, executor, runs, workflow = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
async def main():
    kit = ComfyKit(comfyui_url=url, executor_type=executor)  # its close() crashes: not called
    out = []
    for i in range(runs):
        result = await kit.execute(workflow, {"prompt": f"original {executor} {time.time()} {i}"})
        out.append([result.prompt_id, result.status, time.time(), result.msg])
    return out
print("RESULT " + json.dumps(asyncio.run(main())))
"""

# argv: url executor tasks jobs workflow -> {elapsed, failures, client_cpu}
ORIGINAL_THROUGHPUT = ORIGINAL_PRELUDE + r"""
url, executor, tasks, jobs, workflow = (
    sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
async def main():
    kit = ComfyKit(comfyui_url=url, executor_type=executor)
    stamp = time.time()
    await kit.execute(workflow, {"prompt": f"warm-up {stamp}"})
    counter = iter(range(jobs))
    failures = []
    async def worker():
        for i in counter:
            result = await kit.execute(workflow, {"prompt": f"job {stamp} {i}"})
            if result.status != "completed":
                failures.append(result.msg or "")
    cpu0, start = cpu(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return {"elapsed": time.perf_counter() - start, "failures": len(failures),
            "client_cpu": cpu() - cpu0, "first_failure": failures[0] if failures else None}
print("RESULT " + json.dumps(asyncio.run(main())))
"""

# argv: url big_path small_path workflow -> {status, added_peak_rss_mib, msg}
ORIGINAL_UPLOAD = ORIGINAL_PRELUDE + r"""
url, big, small, workflow = sys.argv[1:5]
async def main():
    kit = ComfyKit(comfyui_url=url)
    await kit.execute(workflow, {"image": small, "prompt": f"warm-up {time.time()}"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await kit.execute(workflow, {"image": big, "prompt": f"big {time.time()}"})
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"status": result.status, "added_peak_rss_mib": (after - before) / 1024,
            "msg": result.msg}
print("RESULT " + json.dumps(asyncio.run(main())))
"""


def run_original(script: str, *args: str, timeout: float = 900) -> object:
    out = subprocess.run(
        [str(ORIGINAL_PYTHON), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    for line in reversed(out.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"original child failed (rc {out.returncode}): {out.stderr[-2000:]}")


def ensure_original() -> str | None:
    """Create bench/.venv-original with comfykit==0.1.12; return None, or why it is missing."""
    version = "import importlib.metadata as m; print(m.version('comfykit'))"
    check = [str(ORIGINAL_PYTHON), "-c", version]
    try:
        if subprocess.run(check, capture_output=True, text=True).stdout.strip() == ORIGINAL_VERSION:
            return None
    except OSError:
        pass
    print(f"installing comfykit=={ORIGINAL_VERSION} into {ORIGINAL_VENV} ...", flush=True)
    try:
        if not ORIGINAL_PYTHON.exists():
            venv.create(ORIGINAL_VENV, with_pip=True)
        pip = subprocess.run(
            [str(ORIGINAL_PYTHON), "-m", "pip", "install", "-q", f"comfykit=={ORIGINAL_VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not create the venv: {exc}"
    if pip.returncode != 0:
        return "pip install failed: " + (pip.stderr.strip().splitlines() or ["?"])[-1]
    return None


# --- measurements ---------------------------------------------------------------------------


def set_duration(url: str, seconds: float) -> None:
    requests.post(f"{url}/_fake/config", json={"duration": seconds}, timeout=5).raise_for_status()


def original_detection(url: str, runs: int, job_seconds: float, executor: str) -> dict:
    set_duration(url, job_seconds)
    rows = run_original(ORIGINAL_DETECTION, url, executor, str(runs), TEXT_TO_IMAGE)
    delays, failures = [], []
    for prompt_id, status, returned, msg in rows:
        if status != "completed" or not prompt_id:
            failures.append(msg)
            continue
        record = requests.get(f"{url}/_fake/prompts/{prompt_id}", timeout=5).json()
        delays.append((returned - record["finished_at"]) * 1000)
    if not delays:
        raise RuntimeError(f"no completed run: {failures[:1]}")
    return {
        "p50_ms": percentile(delays, 0.5),
        "p95_ms": percentile(delays, 0.95),
        "runs": runs,
        "failures": len(failures),
        "job_ms": job_seconds * 1000,
    }


def original_throughput(url: str, executor: str, tasks: int, jobs: int, server_pid: int) -> dict:
    server_cpu = cpu_seconds(server_pid)  # includes the child's warm-up job
    out = run_original(ORIGINAL_THROUGHPUT, url, executor, str(tasks), str(jobs), TEXT_TO_IMAGE)
    server_cpu = cpu_seconds(server_pid) - server_cpu
    assert isinstance(out, dict)
    return {
        "executions_per_s": jobs / out["elapsed"],
        "jobs": jobs,
        "failures": out["failures"],
        "first_failure": out["first_failure"],
        "client_cpu_ms_per_job": out["client_cpu"] / jobs * 1000,
        "server_cpu_ms_per_job": server_cpu / (jobs + 1) * 1000,
    }


def write_png(path: Path, size_mb: int) -> None:
    chunk = os.urandom(1024 * 1024)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        for _ in range(size_mb):
            fh.write(chunk)


def upload_memory(url: str, size_mb: int, errors: dict[str, str] | None) -> dict[str, dict]:
    """Peak RSS added by one upload, ours and (unless errors is None) the original's."""
    set_duration(url, 0)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.png", Path(tmp) / "small.png"
        write_png(big, size_mb)
        small.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(1024))
        out = subprocess.run(
            [sys.executable, "-c", UPLOAD_CHILD, url, str(big), IMAGE_TO_IMAGE],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout.split(maxsplit=2)
        results["ours"] = {"status": out[0], "added_peak_rss_mib": float(out[1])}
        if errors is not None:
            args = (url, str(big), str(small), IMAGE_TO_IMAGE)
            results["original"] = guarded(
                "upload", errors, lambda: run_original(ORIGINAL_UPLOAD, *args, timeout=600)
            )
    for figures in results.values():
        if figures:
            figures["file_mib"] = size_mb
    return results


def original_import_time(repeats: int) -> dict[str, float | int | str]:
    return import_time(
        repeats, statement="import comfykit", python=ORIGINAL_PYTHON, cwd=tempfile.gettempdir()
    )


def guarded(label: str, errors: dict[str, str], fn, *args):  # noqa: ANN001, ANN202
    """Run one measurement of the original; record the error instead of aborting the run."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - report any failure and carry on
        errors[label] = f"{type(exc).__name__}: {exc}"[:500]
        print(f"  original {label}: FAILED ({errors[label][:200]})", flush=True)
        return None


# --- report ---------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f} {unit}"


def ratio(ours: float | None, original: float | None) -> str:
    if ours is None or original is None:
        return "-"
    if ours == 0:
        return "inf" if original else "1.0x"
    return f"{original / ours:.1f}x"


def table_rows(results: dict) -> list[tuple[str, float | None, float | None, str]]:
    ours, orig = results["comfykit_sync"], results["comfykit_original"]
    rows = []
    for executor in ("http", "websocket"):
        for ms in (300, 0):
            key = f"{executor}_detection_{ms}ms"
            for q in ("p50", "p95"):
                rows.append((
                    f"{executor} detection delay {q}, {ms} ms job",
                    ours[key][f"{q}_ms"],
                    (orig.get(key) or {}).get(f"{q}_ms"),
                    "ms",
                ))
    for executor in ("http", "websocket"):
        for k in results["params"]["callers"]:
            key = f"throughput_{executor}_{k}"
            rows.append((
                f"{executor} throughput, K={k} (exec/s)",
                ours[key]["executions_per_s"],
                (orig.get(key) or {}).get("executions_per_s"),
                "/s",
            ))
    k = max(results["params"]["callers"])
    for executor in ("http", "websocket"):
        key = f"throughput_{executor}_{k}"
        rows.append((
            f"{executor} client CPU per execution, K={k}",
            ours[key].get("client_cpu_ms_per_job"),
            (orig.get(key) or {}).get("client_cpu_ms_per_job"),
            "ms",
        ))
    for executor in ("http", "websocket"):
        for n in POOL_SERVERS:
            key = f"pool_{executor}-{n}"
            if key in ours:  # the original has no pool
                rows.append((f"{executor} pool of {n}, 32 threads (exec/s)",
                             ours[key]["executions_per_s"], None, "/s"))
    mb = results["params"]["upload_mb"]
    rows.append((
        f"peak RSS added by a {mb} MB upload",
        ours["upload"]["added_peak_rss_mib"],
        (orig.get("upload") or {}).get("added_peak_rss_mib"),
        "MiB",
    ))
    n = results["params"]["import_runs"]
    rows.append((
        f"import time, net of `python -c pass` (median of {n})",
        ours["import"]["median_ms"],
        (orig.get("import") or {}).get("median_ms"),
        "ms",
    ))
    return rows


def print_table(results: dict) -> None:
    print()
    print(f"{'measure':<44}{'comfykit-sync':>15}{'comfykit 0.1.12':>17}{'ratio':>9}")
    for label, ours, orig, unit in table_rows(results):
        # ratio = how many times better comfykit-sync is (higher is better for throughput)
        r = ratio(orig, ours) if unit == "/s" else ratio(ours, orig)
        print(f"{label:<44}{fmt(ours, unit):>15}{fmt(orig, unit):>17}{r:>9}")
    print("ratio = factor by which comfykit-sync is better (original/ours for delay, RSS and")
    print("import time; ours/original for throughput)")
    orig = results["comfykit_original"]
    if orig.get("unavailable"):
        print(f"comfykit {ORIGINAL_VERSION} NOT MEASURED: {orig['unavailable']}")
    for label, err in orig.get("errors", {}).items():
        print(f"comfykit {ORIGINAL_VERSION} {label} failed: {err[:160]}")
    for who in ("comfykit_sync", "comfykit_original"):
        for key, figures in results[who].items():
            if isinstance(figures, dict) and figures.get("failures"):
                print(f"{who} {key}: {figures['failures']} failed executions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and jobs (~3-5 min)")
    parser.add_argument("--runs", type=int, help="detection runs for comfykit-sync (30)")
    parser.add_argument("--original-runs", type=int, help="detection runs for the original (10)")
    parser.add_argument("--callers", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--import-runs", type=int, help="fresh processes per import time (21)")
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    runs = args.runs or (15 if args.quick else 30)
    original_runs = args.original_runs or (6 if args.quick else 10)
    import_runs = args.import_runs or (11 if args.quick else 21)

    unavailable = "--skip-original given" if args.skip_original else ensure_original()
    if unavailable:
        print(f"comfykit {ORIGINAL_VERSION} is not available ({unavailable}); "
              "measuring comfykit-sync only", flush=True)
    with_original = not unavailable
    ours: dict[str, dict] = {}
    orig: dict = {"errors": {}} if with_original else {"unavailable": unavailable}
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "params": {
            "runs": runs,
            "original_runs": original_runs,
            "callers": args.callers,
            "job_ms_throughput": 100,
            "server_workers_throughput": 32,
            "upload_mb": args.upload_mb,
            "import_runs": import_runs,
        },
        "comfykit_sync": ours,
        "comfykit_original": orig,
    }

    proc, url = start_server("--workers", "1", "--max-upload-mb", str(args.upload_mb + 16))
    try:
        for executor in ("http", "websocket"):
            for ms in (300, 0):
                key = f"{executor}_detection_{ms}ms"
                print(f"detection delay: {executor}, {ms} ms jobs", flush=True)
                ours[key] = detection_delay(url, runs, ms / 1000, executor)
                if with_original:
                    orig[key] = guarded(
                        key, orig["errors"], original_detection, url, original_runs, ms / 1000,
                        executor,
                    )
        print(f"upload memory: {args.upload_mb} MB", flush=True)
        uploads = upload_memory(url, args.upload_mb, orig["errors"] if with_original else None)
        ours["upload"] = uploads["ours"]
        if with_original:
            orig["upload"] = uploads["original"]
    finally:
        stop_server(proc)

    proc, url = start_server("--workers", "32", "--duration", "0.1")
    try:
        for executor in ("http", "websocket"):
            for k in args.callers:
                key = f"throughput_{executor}_{k}"
                print(f"throughput: {executor}, K={k}", flush=True)
                per_thread = 20 if args.quick else 40  # back-to-back executions per thread
                ours[key] = run_throughput(url, executor, k, per_thread, proc.pid)
                if with_original:
                    orig_jobs = max(6 if args.quick else 10, k * (3 if args.quick else 4))
                    orig[key] = guarded(
                        key, orig["errors"], original_throughput, url, executor, k, orig_jobs,
                        proc.pid,
                    )
    finally:
        stop_server(proc)

    # the pool exists only in comfykit-sync: 32 threads on one kit over 1, 2, 4 servers that
    # each run 8 prompts of 100 ms at once (80 jobs/s per server at most)
    print("pool throughput: 1, 2, 4 servers", flush=True)
    pool = measure_pool(
        POOL_SERVERS, ["http", "websocket"], jobs=320 if args.quick else 640, report=False
    )
    for key, figures in pool.items():
        ours[f"pool_{key}"] = figures

    print("import time", flush=True)
    ours["import"] = import_time(import_runs)
    if with_original:
        orig["import"] = guarded("import", orig["errors"], original_import_time, import_runs)

    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
