"""Core benchmarks: HTTP completion-detection delay, upload memory, import time.

Run: ``python bench/core.py [--runs 30] [--json results.json]``. The fake ComfyUI runs in a
separate process on 127.0.0.1; every figure is printed, none is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from startup import import_time

HERE = Path(__file__).resolve().parent
WORKFLOWS = HERE.parent / "comfykit_sync" / "testing" / "workflows"


def start_server(*extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfykit_sync.testing.fake_comfyui", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"fake server did not start: {url!r}")
    return proc, url


def stop_server(proc: subprocess.Popen[str]) -> None:
    """Stop a fake server started by :func:`start_server`: SIGTERM, then SIGKILL after 10 s
    (a server still closing sockets that clients left open must not fail the run)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def detection_delay(url: str, runs: int, job_seconds: float, executor: str) -> dict[str, float]:
    from comfykit_sync import ComfyKit

    requests.post(f"{url}/_fake/config", json={"duration": job_seconds}, timeout=5)
    delays = []
    with ComfyKit(url, executor_type=executor) as kit:
        for i in range(runs):
            result = kit.execute(WORKFLOWS / "text_to_image.json", {"prompt": f"bench {i}"})
            returned = time.time()
            result.raise_for_status()
            record = requests.get(f"{url}/_fake/prompts/{result.prompt_id}", timeout=5).json()
            delays.append((returned - record["finished_at"]) * 1000)
    return {
        "p50_ms": percentile(delays, 0.5),
        "p95_ms": percentile(delays, 0.95),
        "runs": runs,
        "job_ms": job_seconds * 1000,
    }


UPLOAD_CHILD = r"""
import os, resource, sys
from comfykit_sync import ComfyKit
url, path, workflow = sys.argv[1:4]
with ComfyKit(url, request_timeout=(5, 300)) as kit:
    kit.list_params(workflow)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = kit.execute(workflow, {"image": path})
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(result.status, (after - before) / 1024, result.msg or "")
"""


def upload_memory(url: str, size_mb: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.png"
        chunk = os.urandom(1024 * 1024)
        with open(path, "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n")
            for _ in range(size_mb):
                fh.write(chunk)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                UPLOAD_CHILD,
                url,
                str(path),
                str(WORKFLOWS / "image_to_image.json"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout.split(maxsplit=2)
    return {"status": out[0], "added_peak_rss_mib": float(out[1]), "file_mib": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    proc, url = start_server("--workers", "1", "--max-upload-mb", str(args.upload_mb + 16))
    try:
        results = {
            f"{executor}_detection_{ms}ms": detection_delay(url, args.runs, ms / 1000, executor)
            for executor in ("http", "websocket")
            for ms in (300, 0)
        }
        results.update({
            "upload": upload_memory(url, args.upload_mb),
            "import": import_time(21),
        })
    finally:
        stop_server(proc)

    print(f"{'measure':<42}{'value':>12}   target")
    for executor, target in (("http", "<= 40 ms"), ("websocket", "<= 3 ms")):
        for ms in (300, 0):
            figures = results[f"{executor}_detection_{ms}ms"]
            for q in ("p50", "p95"):
                label = f"{executor} detection delay {q}, {ms} ms job"
                note = target if (q, ms) == ("p50", 300) else ""
                print(f"{label:<42}{figures[q + '_ms']:>9.1f} ms   {note}")
    up = results["upload"]
    print(
        f"{f'peak RSS added by a {args.upload_mb} MB upload':<42}"
        f"{up['added_peak_rss_mib']:>8.1f} MiB   <= 16 MiB ({up['status']})"
    )
    print(
        f"{'import comfykit_sync, net (median of 21)':<42}"
        f"{results['import']['median_ms']:>9.1f} ms   <= 100 ms"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
