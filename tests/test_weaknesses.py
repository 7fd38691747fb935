"""Small checks for weaknesses of the original ComfyKit (spec §12) not covered elsewhere."""

from __future__ import annotations

import subprocess
import sys

from helpers import T2I

from comfykit_sync import ComfyKit


def test_importing_leaves_root_logging_alone():
    code = (
        "import logging, comfykit_sync, comfykit_sync.cli;"
        "root = logging.getLogger();"
        "print(len(root.handlers), root.level)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["0", str(30)]  # no handler added, level still WARNING


def test_polling_logs_nothing_at_info(fake_comfyui, caplog):
    caplog.set_level("INFO")
    fake_comfyui.duration = 0.5
    with ComfyKit(fake_comfyui.url, poll_max_interval=0.05) as kit:
        assert kit.execute(T2I, {"prompt": "x"}).status == "completed"
    assert [r for r in caplog.records if r.name.startswith("comfykit_sync")] == []
    assert all(r.name.startswith("comfykit_sync") or r.levelno >= 30 for r in caplog.records)


def test_sessions_are_pooled_not_created_per_poll(fake_comfyui):
    fake_comfyui.duration = 0.5
    with ComfyKit(fake_comfyui.url, poll_max_interval=0.05) as kit:
        assert kit.execute(T2I, {"prompt": "x"}).status == "completed"
        polls = [r for r in fake_comfyui.requests if r.method == "GET"]
        assert len(polls) > 2
        assert len(kit._http._sessions) <= 2


def test_runninghub_loads_and_runs_leak_no_sockets(fake_runninghub, monkeypatch):
    """Weakness 18: every RunningHub client the loader or backend opens is closed again."""
    import json
    import os

    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    workflow_id = fake_runninghub.add_workflow(json.loads(T2I.read_text()))

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    with ComfyKit(
        runninghub_url=fake_runninghub.url,
        runninghub_api_key=fake_runninghub.api_key,
        poll_max_interval=0.05,
    ) as kit:
        kit.execute(workflow_id, {"prompt": "warm-up"})
        before = open_fds()
        for i in range(30):
            kit.load_workflow(f"runninghub:{workflow_id}")
            assert kit.execute(workflow_id, {"prompt": f"p{i}"}).status == "completed"
        after = open_fds()
    assert after - before <= 5, (before, after)
