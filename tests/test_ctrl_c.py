"""Ctrl-C stops a waiting job even when the signal is delivered to another thread.

CPython runs signal handlers in the main thread, but the kernel may hand a process-directed
SIGINT to any thread; a main thread blocked in one long wait would then notice it only when the
job ends. Found when ``comfykit run`` ignored Ctrl-C for a whole job under load.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import T2I

from comfykit_sync.testing import Script

SCRIPT = """
import signal, sys, threading, time
from comfykit_sync import ComfyKit, JobInterrupted

url, executor, workflow = sys.argv[1:]
with ComfyKit(url, executor_type=executor, timeout=120) as kit:
    job = kit.submit(workflow, {"prompt": "x"})

    def poke():
        time.sleep(0.5)  # the main thread is waiting by then (if not, it is interrupted anyway)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # this thread, not main

    threading.Thread(target=poke).start()
    try:
        result = job.result()
    except JobInterrupted as exc:
        print("interrupted", exc.prompt_id == job.prompt_id, exc.cancelled)
    else:
        print("not interrupted:", result.status)
"""


@pytest.mark.parametrize("executor", ["http", "websocket"])
def test_sigint_taken_by_another_thread_still_interrupts_the_wait(fake_comfyui, executor):
    fake_comfyui.script(Script(duration=60))  # far longer than the subprocess may take
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, fake_comfyui.url, executor, str(T2I)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.stdout.strip() == "interrupted True True", proc.stderr
