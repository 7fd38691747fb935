"""Job handles: submit / status / wait / cancel / re-attach, deadlines and events (HTTP)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
import requests

import comfykit_sync
from comfykit_sync import (
    ComfyKit,
    ConfigurationError,
    ExecutionCancelled,
    ExecutionTimeout,
    ParameterError,
    PromptLostError,
)
from comfykit_sync.backends.base import JobState
from comfykit_sync.events import Completed, Failed, Queued, Started
from comfykit_sync.testing import Script

T2I = Path(comfykit_sync.__file__).parent / "testing" / "workflows" / "text_to_image.json"


@pytest.fixture
def kit(fake_comfyui):
    with ComfyKit(fake_comfyui.url, timeout=30) as kit:
        yield kit


def wait_for_status(server, status, count=1):
    for _ in range(500):  # bounded: 5 s
        if sum(r.status == status for r in server.prompts.values()) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"no prompt reached {status!r}")


def test_submit_then_wait(kit, fake_comfyui):
    fake_comfyui.duration = 0.3
    job = kit.submit(T2I, {"prompt": "later"})
    assert job.prompt_id and not job.done()
    assert job.status().state in ("pending", "running")
    result = job.wait()
    assert result.status == "completed" and result.texts == ["later"]
    assert job.done() and job.result() is result and job.status().state == "completed"
    assert job.status().finished
    assert "completed" in repr(job)


def test_done_and_status_follow_the_server_without_wait(kit, fake_comfyui):
    """A job that ended on the server is done at once; its state says completed or failed."""
    fake_comfyui.script(Script(duration=30))
    slow = kit.submit(T2I, {"prompt": "slow"})
    wait_for_status(fake_comfyui, "running")
    assert not slow.done() and slow.status().state == "running"
    assert not slow.status().finished
    fake_comfyui.script(Script(error_node="3", error_message="CUDA out of memory"))
    broken = kit.submit(T2I, {"prompt": "broken"})
    fine = kit.submit(T2I, {"prompt": "fine"})
    slow.cancel()
    wait_for_status(fake_comfyui, "success")
    assert fake_comfyui.prompts[broken.prompt_id].status == "error"
    assert slow.done() and slow.status().state == "failed"  # interrupted on the server
    assert broken.done() and broken.status().state == "failed"
    assert fine.done() and fine.status() == JobState("completed")
    assert kit.job(fine.prompt_id).done() and kit.job(broken.prompt_id).status().finished
    assert broken.result().status == "failed" and fine.result().status == "completed"
    assert kit.job("no-such-prompt").status().state == "unknown"
    assert not kit.job("no-such-prompt").done()


def test_done_is_false_when_the_server_cannot_be_asked(fake_comfyui):
    with ComfyKit(fake_comfyui.url, request_timeout=2) as kit:
        job = kit.submit(T2I, {"prompt": "x"})
        fake_comfyui.fail_requests("/queue", status=503, times=50)
        assert not job.done()


def test_wait_timeout_leaves_the_job_running(kit, fake_comfyui):
    fake_comfyui.duration = 1.0
    job = kit.submit(T2I, {"prompt": "x"})
    with pytest.raises(ExecutionTimeout) as info:
        job.wait(timeout=0.1)
    assert info.value.deadline == "wait" and not info.value.cancelled
    assert job.wait().status == "completed"


def test_cancel_running_job(kit, fake_comfyui):
    fake_comfyui.duration = 3.0
    job = kit.submit(T2I, {"prompt": "x"})
    wait_for_status(fake_comfyui, "running")
    assert job.cancel()
    result = job.wait()
    assert isinstance(result.error, ExecutionCancelled)
    wait_for_status(fake_comfyui, "interrupted")
    assert not job.cancel()  # finished: nothing to cancel


def test_cancel_pending_job_only_touches_that_job(kit, fake_comfyui):
    fake_comfyui.duration = 1.0
    first = kit.submit(T2I, {"prompt": "first"})
    wait_for_status(fake_comfyui, "running")
    second = kit.submit(T2I, {"prompt": "second"})
    assert second.status().state == "pending" and second.status().position == 0
    assert second.cancel()
    assert isinstance(second.wait().error, ExecutionCancelled)
    assert fake_comfyui.prompts[second.prompt_id].status == "deleted"
    assert first.wait().status == "completed"


def test_queue_timeout(kit, fake_comfyui):
    fake_comfyui.duration = 2.0
    first = kit.submit(T2I, {"prompt": "first"})
    wait_for_status(fake_comfyui, "running")
    result = kit.execute(T2I, {"prompt": "second"}, queue_timeout=0.3)
    error = result.error
    assert isinstance(error, ExecutionTimeout) and error.deadline == "queue" and error.cancelled
    assert error.cancel_confirmed and "cancelled on the server" in result.msg
    assert "queue_timeout" in result.msg
    assert fake_comfyui.prompts[result.prompt_id].status == "deleted"
    first.cancel()


def test_detach_on_timeout_then_reattach(kit, fake_comfyui):
    fake_comfyui.duration = 1.0
    result = kit.execute(T2I, {"prompt": "slow"}, timeout=0.2, on_timeout="detach")
    error = result.error
    assert isinstance(error, ExecutionTimeout) and error.deadline == "total"
    assert not error.cancelled and not error.cancel_confirmed and "detached" in result.msg
    # another kit (think: another process or request) collects the result by id
    with ComfyKit(fake_comfyui.url) as other:
        again = other.job(result.prompt_id).wait()
    assert again.status == "completed"
    assert again.texts_by_var == {"caption": ["slow"]}  # names from the recorded graph
    assert again.images_by_var.keys() == {"image"}


def test_reattach_with_workflow_and_unknown_id(kit, fake_comfyui):
    done = kit.execute(T2I, {"prompt": "x"})
    assert kit.job(done.prompt_id, T2I).result().images == done.images
    lost = kit.job("no-such-prompt", timeout=5).result()
    assert isinstance(lost.error, PromptLostError)


@pytest.mark.parametrize("bad", ["", "   ", "../x", "a/b", "..", ".", "x\\y", "a\nb", None, 1.5])
def test_reattach_refuses_ids_no_server_gives_before_sending(kit, fake_comfyui, bad):
    with pytest.raises(ParameterError) as info:
        kit.job(bad)
    assert info.value.params == ("prompt_id",)
    assert fake_comfyui.requests == []


def test_any_other_client_chosen_id_is_percent_encoded_in_urls(kit, fake_comfyui):
    """ComfyUI takes any client-chosen prompt_id; a re-attached one is read by a safe URL."""
    odd = "job 1?x=%2F#ü&"
    body = {"prompt": json.loads(T2I.read_text()), "prompt_id": odd}
    body["prompt"]["6"]["inputs"]["text"] = "odd"
    reply = requests.post(f"{fake_comfyui.url}/prompt", json=body, timeout=10)
    assert reply.json()["prompt_id"] == odd
    wait_for_status(fake_comfyui, "success")
    job = kit.job(odd)
    assert job.status().state == "completed"
    assert job.result().texts == ["odd"]
    history = [r for r in fake_comfyui.requests if r.path.startswith("/history/")]
    assert history and {r.path for r in history} == {f"/history/{odd}"}


def test_http_events_and_a_raising_callback(kit, fake_comfyui, caplog):
    fake_comfyui.duration = 1.5
    blocker = kit.submit(T2I, {"prompt": "first"})
    wait_for_status(fake_comfyui, "running")
    events = []

    def on_event(event):
        events.append(event)
        raise RuntimeError("callback bug")

    with caplog.at_level(logging.ERROR):
        result = kit.execute(T2I, {"prompt": "second"}, on_event=on_event)
    assert result.status == "completed"
    kinds = [type(e) for e in events]
    assert kinds[0] is Queued and events[0].position == 0
    assert Started in kinds and kinds[-1] is Completed
    assert all(e.prompt_id == result.prompt_id for e in events)
    assert "callback bug" in caplog.text
    blocker.wait()


def test_failed_event(kit, fake_comfyui):
    from comfykit_sync.testing import Script

    fake_comfyui.script(Script(error_node="3"))
    events = []
    result = kit.execute(T2I, {"prompt": "x"}, on_event=events.append)
    assert isinstance(events[-1], Failed) and events[-1].error is result.error


def test_concurrent_waiters_get_the_same_result(kit, fake_comfyui):
    fake_comfyui.duration = 0.3
    job = kit.submit(T2I, {"prompt": "x"})
    results = []
    threads = [threading.Thread(target=lambda: results.append(job.wait())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4 and all(r is results[0] for r in results)


@pytest.mark.parametrize(
    "options", [{"timeout": 0}, {"queue_timeout": -1}, {"on_timeout": "ignore"}]
)
def test_bad_job_options_raise(kit, fake_comfyui, options):
    with pytest.raises(ConfigurationError):
        kit.submit(T2I, {"prompt": "x"}, **options)
    assert fake_comfyui.prompts == {}


def test_one_watcher_serves_all_waiting_threads(fake_comfyui):
    fake_comfyui.duration = 0.3
    with ComfyKit(fake_comfyui.url) as kit:
        jobs = [kit.submit(T2I, {"prompt": f"p{i}"}) for i in range(8)]
        threads = [threading.Thread(target=job.wait) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert all(job.result().status == "completed" for job in jobs)
        paths = [r.path for r in fake_comfyui.requests]
        # the watcher found every entry among the newest history entries: no per-prompt reads
        assert sum(p.startswith("/history/") for p in paths) == 0
        # 8 runs of 0.3 s one after the other, each scanned a few dozen times (every 5 ms
        # would be ~480 scans)
        assert paths.count("/history") < 300
        watcher_threads = [t for t in threading.enumerate() if t.name == "comfykit-queue-watch"]
        for t in watcher_threads:  # nobody waits any more: the watcher exits by itself
            t.join(timeout=5)
            assert not t.is_alive()
