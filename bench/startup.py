"""Import time: wall time of a fresh interpreter that imports the package, net of ``pass``.

Run: ``python bench/startup.py [--runs 21] [--statement "import comfykit_sync"] [--top 20]``
from the repository root. Each run starts a new interpreter; runs of ``python -c pass`` and of
the import alternate, so that a busy machine slows both, and the figure is the median of the
paired differences (start-up, import and interpreter shutdown included, as a user waits for
them). Also printed: what ``-X importtime`` attributes to the statement in-process, and the
modules with the largest own import time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

STATEMENT = "import comfykit_sync"
ROOT = Path(__file__).resolve().parent.parent  # this checkout's comfykit_sync comes first


def _wall_ms(python: str, code: str, cwd: str | Path) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, cwd=cwd, capture_output=True)
    return (time.perf_counter() - started) * 1000


def import_time(
    repeats: int = 21,
    *,
    statement: str = STATEMENT,
    python: str | Path = sys.executable,
    cwd: str | Path = ROOT,
) -> dict[str, float | int | str]:
    """Median wall time of ``python -c statement`` minus that of ``python -c pass`` (ms), both
    run in ``cwd``."""
    python = str(python)
    _wall_ms(python, statement, cwd)  # warm the file system cache and the .pyc files
    pairs = [
        (_wall_ms(python, "pass", cwd), _wall_ms(python, statement, cwd)) for _ in range(repeats)
    ]
    return {
        "median_ms": statistics.median(imported - empty for empty, imported in pairs),
        "baseline_ms": statistics.median(empty for empty, _ in pairs),
        "runs": repeats,
        "statement": statement,
    }


def import_profile(
    statement: str = STATEMENT, python: str | Path = sys.executable
) -> tuple[float, list[tuple[str, int, int]]]:
    """In-process import time of ``statement`` (ms) and (module, self µs, cumulative µs) rows.

    From ``-X importtime``: the total counts the modules the statement imported (those the
    interpreter had already loaded at start-up cost nothing).
    """
    code = f"import sys; sys.stderr.write('<<<\\n'); {statement}"
    stderr = subprocess.run(
        [str(python), "-X", "importtime", "-c", code],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    rows = []
    for line in stderr.split("<<<\n", 1)[-1].splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, cumulative, name = (part.strip() for part in line[12:].split("|"))
        if own.isdigit():
            rows.append((name, int(own), int(cumulative)))
    total = sum(own for _, own, _ in rows) / 1000
    return total, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="paired runs (21)")
    parser.add_argument("--statement", default=STATEMENT, help=f"what to time ({STATEMENT!r})")
    parser.add_argument("--top", type=int, default=20, help="modules to list by own time (20)")
    args = parser.parse_args()

    wall = import_time(args.runs, statement=args.statement)
    in_process, rows = import_profile(args.statement)
    print(f"{args.statement!r} on Python {sys.version.split()[0]}")
    print(
        f"wall, net of `python -c pass` (median of {args.runs})"
        f"{wall['median_ms']:>10.1f} ms   (pass itself: {wall['baseline_ms']:.1f} ms)"
    )
    print(f"in-process, -X importtime ({len(rows)} modules){in_process:>16.1f} ms")
    if args.top:
        print(f"\nlargest own import times{'own µs':>30}{'cumulative µs':>16}")
        for name, own, cumulative in sorted(rows, key=lambda r: -r[1])[: args.top]:
            print(f"  {name:<46}{own:>8}{cumulative:>16}")


if __name__ == "__main__":
    main()
