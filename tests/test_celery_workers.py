"""``comfykit_sync.celery`` with a real redis-server and real Celery worker processes.

Workers run ``celery -A celery_worker_app worker`` (prefork pool, concurrency 2) against the
fake ComfyUI; the fake records every prompt it was sent, so "exactly once" is checked on the
server side.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from celery_support import Worker
from celery_worker_app import make_app
from helpers import T2I

from comfykit_sync import ComfyKit, ExecuteResult, ExecutionError, ExecutionTimeout
from comfykit_sync.celery import (
    PROGRESS,
    execute_workflow,
    gather,
    prompt_id_for,
    submit_batch,
)
from comfykit_sync.http import MAX_ATTEMPTS
from comfykit_sync.testing import FakeComfyUI, Script

WAIT = 30.0  # generous bound on anything a test waits for


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``condition`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def worker_env(redis_url: str, comfyui_url: str, **extra: str) -> dict[str, str]:
    return {"TEST_REDIS_URL": redis_url, "COMFYUI_BASE_URL": comfyui_url, **extra}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(workers=4, duration=0.05) as server:
        yield server


@pytest.fixture(scope="module")
def broker(redis_server) -> str:
    return redis_server.fresh_url()


@pytest.fixture(scope="module")
def worker(broker, fake) -> Iterator[Worker]:
    worker = Worker("celery_worker_app", worker_env(broker, fake.url), name="main")
    yield worker.wait_ready()
    worker.stop()


@pytest.fixture
def app(broker, worker):
    app = make_app(broker)
    app.set_current()
    yield app
    app.close()


def text_of(graph: dict[str, Any]) -> str:
    """The prompt text of a text-to-image graph (to match scripts to jobs)."""
    return graph["6"]["inputs"]["text"]


def server_result(res) -> ExecuteResult:
    return ExecuteResult.from_dict(res.get(timeout=WAIT))


def test_fan_out_of_60_jobs_every_result_its_own(app, fake):
    sets = [{"prompt": f"job {i}", "seed": i + 1} for i in range(60)]
    counts: list[tuple[int, int]] = []
    batch = submit_batch(T2I, sets)
    with ComfyKit(fake.url) as kit:
        results = gather(
            batch,
            timeout=120,
            on_progress=lambda done, total: counts.append((done, total)),
            kit=kit,
        )
        assert results[7].artifacts[0].bytes()[:4] == b"\x89PNG"  # downloads through the kit
    assert [r.status for r in results] == ["completed"] * 60
    assert [r.texts for r in results] == [[f"job {i}"] for i in range(60)]
    assert [r.seeds["3"] for r in results] == list(range(1, 61))
    task_ids = [task.id for task in batch.results]
    assert [r.prompt_id for r in results] == [prompt_id_for(t) for t in task_ids]
    assert all(fake.prompts[prompt_id_for(t)].submit_count == 1 for t in task_ids)
    assert counts[0] == (0, 60) and counts[-1] == (60, 60)
    assert [done for done, _ in counts] == list(range(61))


class StateLog:
    """Every state the result backend stores for one task, in order (redis publishes each
    store on the task's key, so nothing is missed between two polls)."""

    def __init__(self, app, task_id: str) -> None:
        self.pubsub = redis.Redis.from_url(app.conf.result_backend).pubsub()
        self.pubsub.subscribe(app.backend.get_key_for_task(task_id))
        self.states: list[dict[str, Any]] = []

    def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                self.states.append(json.loads(message["data"]))
                if done(self.states[-1]):
                    return
        raise AssertionError(f"timed out; states so far: {self.states}")

    def progress(self) -> list[dict[str, Any]]:
        return [s["result"] for s in self.states if s["status"] == PROGRESS]

    def close(self) -> None:
        self.pubsub.close()


def test_progress_states_are_published(app, fake):
    task_id = str(uuid.uuid4())
    log = StateLog(app, task_id)
    with ComfyKit(fake.url) as kit:
        for _ in range(4):
            fake.script(Script(duration=30), match=lambda graph: "blocker" in text_of(graph))
        blockers = [kit.submit(T2I, {"prompt": f"blocker {i}"}) for i in range(4)]
        for job in blockers:  # the server's four slots are busy: the task's job must queue
            wait_until(lambda job=job: fake.prompts[job.prompt_id].status == "running", "a start")
        execute_workflow.apply_async(
            (str(T2I), {"prompt": "p", "steps": 20}), {"backend": "comfyui-ws"}, task_id=task_id
        )
        log.until(lambda state: state["result"].get("state") == "queued")
        for job in blockers:
            job.cancel()
        log.until(lambda state: state["status"] == "SUCCESS")
    log.close()
    progress = log.progress()
    assert {info["prompt_id"] for info in progress} == {prompt_id_for(task_id)}
    assert progress[0]["state"] == "submitted" and progress[-1]["state"] == "running"
    queued = next(info for info in progress if info["state"] == "queued")
    assert queued["position"] == 0 and queued["node"] is None
    started = next(info for info in progress if info["state"] == "running")
    assert started["position"] is None and started["node"] is None  # running, no node yet
    steps = [(i["value"], i["max"]) for i in progress if i["node"] == "3" and i["max"] == 20]
    assert steps and steps[-1] == (20, 20)
    fractions = [info["fraction"] for info in progress if info["fraction"] is not None]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1
    assert ExecuteResult.from_dict(log.states[-1]["result"]).ok


def test_revoke_with_terminate_cancels_the_job_on_the_server(app, fake):
    fake.script(Script(duration=60), match=lambda graph: text_of(graph) == "long")
    res = execute_workflow.delay(str(T2I), {"prompt": "long"})
    prompt_id = prompt_id_for(res.id)
    wait_until(lambda: prompt_id in fake.prompts, "the job on the server")
    wait_until(lambda: fake.prompts[prompt_id].status == "running", "the job to run")
    res.revoke(terminate=True)
    wait_until(lambda: fake.prompts[prompt_id].status == "interrupted", "the cancel")
    wait_until(lambda: res.state == "REVOKED", "the task to be revoked")


def test_revoking_a_redelivered_task_cancels_the_job_an_earlier_delivery_left(app, fake):
    task_id = str(uuid.uuid4())
    fake.script(Script(duration=60), match=lambda graph: text_of(graph) == "orphan")
    with ComfyKit(fake.url) as kit:  # what the delivery whose worker died had submitted
        kit.submit(T2I, {"prompt": "orphan"}, prompt_id=prompt_id_for(task_id))
    app.control.revoke(task_id)  # before the task comes back: the worker discards it
    res = execute_workflow.apply_async((str(T2I), {"prompt": "orphan"}), task_id=task_id)
    wait_until(lambda: fake.prompts[prompt_id_for(task_id)].status == "interrupted", "cancel")
    assert res.state == "REVOKED" and fake.prompts[prompt_id_for(task_id)].submit_count == 1


def test_a_soft_time_limit_becomes_the_jobs_timeout(app, fake):
    fake.script(Script(duration=60), match=lambda graph: text_of(graph) == "slow")
    res = execute_workflow.apply_async((str(T2I), {"prompt": "slow"}), soft_time_limit=2)
    result = server_result(res)
    assert isinstance(result.error, ExecutionTimeout) and result.error.cancelled
    prompt_id = prompt_id_for(res.id)
    wait_until(lambda: fake.prompts[prompt_id].status == "interrupted", "the job to stop")


def test_a_failed_job_is_a_result_not_a_task_failure_or_retry(app, fake):
    fake.script(Script(error_node="3"), match=lambda graph: text_of(graph) == "bad")
    res = execute_workflow.delay(str(T2I), {"prompt": "bad"})
    result = server_result(res)
    assert res.state == "SUCCESS" and result.status == "failed"
    assert type(result.error) is ExecutionError and result.error.node_id == "3"
    assert fake.prompts[prompt_id_for(res.id)].submit_count == 1


def test_a_callers_mistake_fails_the_task(app, fake):
    batch = submit_batch(T2I, [{"prompt": "fine"}, {"prompt": "x", "nope": 1}])
    fine, mistake = gather(batch, timeout=WAIT)
    assert fine.ok
    assert mistake.status == "failed" and "nope" in mistake.msg
    assert batch.results[1].state == "FAILURE"
    assert prompt_id_for(batch.results[1].id) not in fake.prompts


def test_transport_failures_before_submission_are_retried(app, fake, worker):
    fake.fault("reset", "/queue", times=MAX_ATTEMPTS)  # the lookup of the task's prompt id
    res = execute_workflow.delay(str(T2I), {"prompt": "flaky lookup"})
    assert server_result(res).ok
    fake.fault("reset", "/prompt", times=2, process=False)  # the submit itself, nothing queued
    res = execute_workflow.delay(str(T2I), {"prompt": "flaky submit"})
    assert server_result(res).ok
    assert fake.prompts[prompt_id_for(res.id)].submit_count == 1
    assert worker.output().count("retrying in 0 s") >= 2


@pytest.mark.fake_comfyui(workers=2, duration=0.4)
def test_a_killed_worker_loses_nothing_and_runs_nothing_twice(redis_url, fake_comfyui):
    """SIGKILL a worker mid-run, start another: every task completes, each prompt ran once."""
    env = worker_env(redis_url, fake_comfyui.url, TEST_VISIBILITY_TIMEOUT="3")
    first = Worker("celery_worker_app", env, name="doomed").wait_ready()
    app = make_app(redis_url)
    app.set_current()
    try:
        batch = submit_batch(T2I, [{"prompt": f"job {i}"} for i in range(10)])
        ids = [prompt_id_for(task.id) for task in batch.results]

        def mid_run() -> list[str]:
            prompts = fake_comfyui.prompts
            done = [p for p in ids if p in prompts and prompts[p].status == "success"]
            running = [p for p in ids if p in prompts and prompts[p].status == "running"]
            return running if done else []

        wait_until(mid_run, "jobs to be running after some finished")
        first.kill()
        second = Worker("celery_worker_app", env, name="rescuer").wait_ready()
        try:
            results = gather(batch, timeout=60)
        finally:
            rescuer_log = second.stop()
    finally:
        first.stop()
        app.close()
    assert [r.status for r in results] == ["completed"] * 10
    assert [r.texts for r in results] == [[f"job {i}"] for i in range(10)]
    assert [r.prompt_id for r in results] == ids
    assert set(fake_comfyui.prompts) == set(ids)
    assert all(record.submit_count == 1 for record in fake_comfyui.prompts.values())
    assert "re-attached to its prompt" in rescuer_log  # the jobs the killed worker left
    assert "closed the ComfyKit of process" in rescuer_log  # on the warm shutdown
