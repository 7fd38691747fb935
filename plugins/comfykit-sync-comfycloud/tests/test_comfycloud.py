"""``ComfyKit.execute(..., backend="comfycloud")`` against the fake Comfy Cloud on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import websocket
from cc_constants import KEY
from comfykit_sync_comfycloud.api import JobStatus
from comfykit_sync_comfycloud.testing import FakeComfyCloud

import comfykit_sync
from comfykit_sync import (
    APIError,
    AuthenticationError,
    ComfyKit,
    ComfyKitError,
    ConfigurationError,
    ExecutionCancelled,
    ExecutionError,
    ExecutionTimeout,
    InsufficientBalanceError,
    PromptLostError,
    RequestTimeout,
    ServerError,
    TransportError,
    WorkflowValidationError,
)
from comfykit_sync.events import (
    Completed,
    Failed,
    NodeExecuted,
    NodeExecuting,
    Progress,
    Queued,
    Started,
)
from comfykit_sync.testing import Script
from comfykit_sync.testing.conformance import PNG

WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
T2I, I2I = WORKFLOWS / "text_to_image.json", WORKFLOWS / "image_to_image.json"


def submitted(cloud: FakeComfyCloud) -> list[dict]:
    return [job["request"] for job in cloud.jobs.values()]


def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait (bounded: 5 s) until ``predicate()`` holds; the server acts asynchronously."""
    for _ in range(500):
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} did not happen")


def until_running(job: comfykit_sync.Job) -> None:
    until(lambda: job.status().state == "running", f"job {job.prompt_id} starting")


def until_stopped(cloud: FakeComfyCloud, prompt_id: str) -> None:
    """Wait until the ComfyUI behind the cloud dequeued or interrupted the prompt."""
    stopped = ("deleted", "interrupted")
    until(lambda: cloud.comfyui.prompts[prompt_id].status in stopped, f"stopping {prompt_id}")


def test_text_to_image(kit, cloud, tmp_path):
    result = kit.execute(T2I, {"prompt": "a red fox", "steps": 12}, backend="comfycloud")
    assert result.status == "completed", result.msg
    assert result.backend == "comfycloud" and result.prompt_id in cloud.jobs
    [url] = result.images_by_var["image"]
    assert url.startswith(cloud.api_url + "/api/view?") and result.texts_by_var == {
        "caption": ["a red fox"]
    }
    assert kit.job(result.prompt_id, backend="comfycloud").status().state == "completed"
    [request] = submitted(cloud)
    assert request["prompt"]["3"]["inputs"]["steps"] == 12
    assert request["extra_data"] == {"api_key_comfy_org": KEY}  # the partner-node key
    # downloads: /api/view with the key, then the signed storage URL without it
    [saved] = result.save(tmp_path / "out")
    downloaded = kit.download(url, tmp_path / "again.png")
    assert saved.read_bytes() == downloaded.read_bytes() and saved.read_bytes()[:4] == b"\x89PNG"
    assert result.artifacts[0].bytes() == saved.read_bytes()
    api = [r for r in cloud.requests if r.port == "api"]
    storage = [r for r in cloud.requests if r.port == "storage"]
    assert len(storage) == 3 and all(r.path.startswith("/bucket/") for r in storage)
    assert all(r.headers.get("X-API-Key") == KEY for r in api)
    assert all("X-API-Key" not in r.headers and "Authorization" not in r.headers for r in storage)


def test_upload(kit, cloud):
    result = kit.execute(I2I, {"image": PNG}, backend="comfycloud")
    assert result.status == "completed", result.msg
    [request] = submitted(cloud)
    name = next(
        node["inputs"]["image"]
        for node in request["prompt"].values()
        if node["class_type"] == "LoadImage"
    )
    assert (cloud.comfyui.input_dir / name).read_bytes() == PNG
    assert cloud.paths().count("/api/upload/image") == 1


def test_server_rejection_names_the_parameter(kit, cloud):
    graph = json.loads(T2I.read_text())
    del graph["10"]  # the sampler's output is then the only one: invalid, nothing runs
    result = kit.execute_json(graph, {"prompt": "x", "steps": 0}, backend="comfycloud")
    assert isinstance(result.error, WorkflowValidationError), result.msg
    assert result.error.status_code == 400 and "steps" in result.error.param_errors
    assert "parameter 'steps'" in result.msg and "smaller than min" in result.msg
    assert not cloud.jobs and result.prompt_id is None


def test_partly_invalid_workflow_fails_or_warns(cloud_env):
    with ComfyKit() as kit:  # on_node_errors="fail": the valid part is cancelled
        result = kit.execute(T2I, {"prompt": "x", "steps": 0}, backend="comfycloud")
        assert isinstance(result.error, WorkflowValidationError) and result.prompt_id
        assert result.error.status_code == 200 and "steps" in result.error.param_errors
        until_stopped(cloud_env, result.prompt_id)
    with ComfyKit(on_node_errors="warn") as kit:  # the valid output runs
        result = kit.execute(T2I, {"prompt": "x", "steps": 0}, backend="comfycloud")
        assert result.status == "completed" and result.texts == ["x"] and not result.images
        assert any("parameter 'steps'" in warning for warning in result.warnings)


def test_failed_job_carries_the_node_error(kit, cloud):
    cloud.comfyui.script(Script(error_node="3", error_message="CUDA out of memory"))
    events = []
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud", on_event=events.append)
    assert isinstance(result.error, ExecutionError) and result.prompt_id in cloud.jobs
    assert result.error.node_id == "3" and result.error.node_type == "KSampler"
    assert "CUDA out of memory" in result.msg and result.error.prompt_id == result.prompt_id
    assert result.error.exception_message.startswith("CUDA out of memory")
    assert result.error.exception_type == "RuntimeError" and result.error.traceback
    assert kit.job(result.prompt_id, backend="comfycloud").status().state == "failed"
    assert isinstance(events[-1], Failed) and events[-1].error is result.error


def test_events_come_from_the_websocket(kit, cloud):
    kit.execute(T2I, {"prompt": "w"}, backend="comfycloud", on_event=[].append)  # opens the socket
    cloud.comfyui.duration = 0.3
    events = []  # the socket is open before this job exists: every message is kept for its wait
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud", on_event=events.append)
    assert result.status == "completed"
    kinds = [type(e) for e in events]
    assert kinds[-1] is Completed and kinds.count(Started) == 1
    assert kinds.index(Started) < kinds.index(NodeExecuting) < kinds.index(Completed)
    assert Progress in kinds and NodeExecuted in kinds
    sampler = next(e for e in events if isinstance(e, NodeExecuting) and e.node_id == "3")
    assert (sampler.class_type, sampler.title) == ("KSampler", "Sampler, $seed, $steps, $cfg")
    assert all(e.prompt_id == result.prompt_id for e in events)
    [handshake] = [r for r in cloud.requests if r.path == "/ws"]  # one socket for both jobs
    assert handshake.query["token"] == KEY and "clientId" in handshake.query


def test_events_without_a_websocket(kit, cloud, caplog):
    cloud.fault("status", "ws", status=503)
    events = []
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud", on_event=events.append)
    assert result.status == "completed"
    assert [type(e) for e in events][-2:] == [Started, Completed]
    assert "events come from polling only" in caplog.text and KEY not in caplog.text
    kit.execute(T2I, {"prompt": "y"}, backend="comfycloud", on_event=[].append)  # connects again
    events.clear()
    kit.execute(T2I, {"prompt": "z"}, backend="comfycloud", on_event=events.append)
    assert NodeExecuting in [type(e) for e in events]


def test_queue_position_and_queue_timeout(kit, cloud):
    cloud.comfyui.duration = 3.0
    first = kit.submit(T2I, {"prompt": "first"}, backend="comfycloud")
    events = []
    result = kit.execute(
        T2I, {"prompt": "second"}, backend="comfycloud", queue_timeout=0.3, on_event=events.append
    )
    assert isinstance(result.error, ExecutionTimeout) and result.error.deadline == "queue"
    assert result.error.cancelled and isinstance(events[0], Queued)
    until_stopped(cloud, result.prompt_id)
    assert cloud.comfyui.prompts[result.prompt_id].started_at is None  # dequeued, never run
    assert first.status().state == "running"
    assert first.cancel()


def test_cancel_a_running_job(kit, cloud):
    cloud.comfyui.duration = 5.0
    job = kit.submit(T2I, {"prompt": "x"}, backend="comfycloud")
    until_running(job)
    assert job.cancel()
    result = job.wait()
    assert isinstance(result.error, ExecutionCancelled)
    assert cloud.paths().count("/api/interrupt") == 1
    assert not kit.backend("comfycloud").cancel(job.prompt_id)  # already over


@pytest.fixture
def two_workers(monkeypatch):
    with FakeComfyCloud(api_key=KEY, workers=2) as cloud:
        monkeypatch.setenv("COMFY_CLOUD_URL", cloud.api_url)
        monkeypatch.setenv("COMFY_CLOUD_API_KEY", KEY)
        yield cloud


def test_a_running_job_beside_others_is_not_interrupted(two_workers):
    two_workers.comfyui.duration = 5.0
    with ComfyKit(poll_max_interval=0.05) as kit:
        short = kit.submit(T2I, {"prompt": "short"}, backend="comfycloud", timeout=1.0)
        other = kit.submit(T2I, {"prompt": "other"}, backend="comfycloud")
        for job in (short, other):
            until_running(job)  # two workers: both start at once
        with pytest.raises(ComfyKitError, match="can only interrupt all of them at once"):
            short.cancel()
        result = short.wait()  # its timeout expires: cancelling it would stop the other too
        assert isinstance(result.error, ExecutionTimeout) and not result.error.cancelled
        assert "/api/interrupt" not in two_workers.paths()
        assert other.status().state == "running" and short.status().state == "failed"


@pytest.mark.parametrize(
    "state, pending, terminal",
    [
        ("submitted", True, False),
        ("waiting_to_dispatch", True, False),
        ("preparing", False, False),
        ("in_progress", False, False),
        ("cancel_requested", False, False),
        ("some_new_state", False, False),
        ("completed", False, True),
        ("non_retryable_error", False, True),
        ("failed", False, True),
    ],
)
def test_both_status_vocabularies(state, pending, terminal):
    status = JobStatus("j1", state)
    assert (status.pending, status.terminal) == (pending, terminal)


def test_lost_job(kit, cloud):
    cloud.comfyui.script(Script(vanish=True))
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert isinstance(result.error, PromptLostError) and "lost" in result.msg


def test_unknown_job_is_lost_and_unknown(kit):
    job = kit.job("0d1b2c3a-0000-4000-8000-000000000000", backend="comfycloud")
    assert job.status().state == "unknown"
    assert isinstance(job.result().error, PromptLostError)


def test_reattach_by_id(kit, cloud):
    job = kit.submit(T2I, {"prompt": "x"}, backend="comfycloud")
    job.wait()
    again = kit.job(job.prompt_id, backend="comfycloud").result()
    assert again.status == "completed" and list(again.images_by_var) == ["9"]  # node ids
    named = kit.job(job.prompt_id, T2I, backend="comfycloud").result()
    assert list(named.images_by_var) == ["image"]  # names from the workflow passed


def test_insufficient_credits(cloud_env):
    cloud_env.credits = 0
    with ComfyKit() as kit:
        result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert isinstance(result.error, InsufficientBalanceError) and result.error.status_code == 402
    assert not cloud_env.jobs


def test_wrong_key_is_401(cloud_env, monkeypatch):
    monkeypatch.setenv("COMFY_CLOUD_API_KEY", "wrong-key")
    with ComfyKit() as kit:
        result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert isinstance(result.error, AuthenticationError) and result.error.status_code == 401
    assert "wrong-key" not in result.msg and not cloud_env.jobs


@pytest.mark.parametrize(
    "fault",
    [
        {"name": "status", "status": 502, "process": True},
        {"name": "delay", "seconds": 1.5},
        {"name": "reset"},
    ],
    ids=["502-after-effect", "read-timeout", "reply-lost"],
)
def test_ambiguous_submit_failure_is_not_retried(cloud_env, fault):
    cloud_env.fault(path="prompt", **fault)
    with ComfyKit(request_timeout=(1.0, 0.5)) as kit:
        result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert isinstance(result.error, (ServerError, RequestTimeout, TransportError)), result.msg
    assert cloud_env.paths().count("/api/prompt") == 1


def test_faults_of_every_fake_follow_the_key_check(cloud):
    """The shared faults (``comfykit_sync.testing.faults``) hit a route once the key was
    accepted, in the order they were added; ``*`` is any route after them."""
    prompt = {"prompt": json.loads(T2I.read_text())}
    auth = {"X-API-Key": KEY}
    cloud.fault("reset", at="body")  # no path: the submission route; the job is created
    cloud.fault("status", "*", status=503)
    wrong = requests.post(f"{cloud.api_url}/api/prompt", json=prompt, timeout=5)
    assert wrong.status_code == 401 and len(cloud.pending_faults) == 2
    with pytest.raises(requests.RequestException):
        requests.post(f"{cloud.api_url}/api/prompt", json=prompt, headers=auth, timeout=5)
    assert len(cloud.jobs) == 1
    busy = requests.get(f"{cloud.api_url}/api/queue", headers=auth, timeout=5)
    assert (busy.status_code, busy.json()) == (
        503,
        {"code": "fault", "message": "injected HTTP 503"},
    )
    assert requests.get(f"{cloud.api_url}/api/queue", headers=auth, timeout=5).status_code == 200


def test_429_on_submit_is_retried_once_refused(kit, cloud):
    cloud.fail_requests("prompt", status=429, retry_after=0)
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert result.status == "completed" and cloud.paths().count("/api/prompt") == 2
    assert len(cloud.jobs) == 1


def test_status_errors_are_retried(kit, cloud):
    cloud.fail_requests("status", status=503, times=2)
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert result.status == "completed", result.msg


def test_expired_signed_url(cloud_env, tmp_path):
    cloud_env.url_ttl = -1.0
    with ComfyKit() as kit:
        result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
        with pytest.raises(APIError) as info:
            kit.download(result.images[0], tmp_path / "late.png")
    assert info.value.status_code == 400 and KEY not in str(info.value)
    assert not (tmp_path / "late.png").exists()


def test_missing_key_raises_before_sending(cloud, monkeypatch):
    monkeypatch.delenv("COMFY_CLOUD_API_KEY", raising=False)
    monkeypatch.setenv("COMFY_CLOUD_URL", cloud.api_url)
    with ComfyKit() as kit:
        with pytest.raises(ConfigurationError, match="comfycloud_api_key.*COMFY_CLOUD_API_KEY"):
            kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    assert not cloud.requests


def test_settings_as_kit_arguments(cloud, monkeypatch):
    for name in ("COMFY_CLOUD_API_KEY", "COMFY_CLOUD_URL", "COMFY_CLOUD_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    with ComfyKit(
        comfycloud_api_key=KEY, comfycloud_url=cloud.api_url + "/", comfycloud_timeout=42
    ) as kit:
        backend = kit.backend("comfycloud")
        assert backend.default_timeout == 42 and backend.http.base_url == cloud.api_url
        assert kit.execute(T2I, {"prompt": "x"}, backend="comfycloud").status == "completed"
    with pytest.raises(ConfigurationError, match="argument comfycloud_url"):
        ComfyKit(comfycloud_url="cloud.comfy.org")


def test_key_never_leaked(kit, cloud, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    cloud.comfyui.script(Script(error_node="3", error_message="boom"))
    failed = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    result = kit.execute(T2I, {"prompt": "x"}, backend="comfycloud")
    result.save(tmp_path)
    backend = kit.backend("comfycloud")
    shown = [repr(backend), repr(backend.settings), repr(backend.http), repr(kit), repr(kit.config)]
    shown += [repr(kit.config.settings), str(result), failed.msg, caplog.text, str(result.images)]
    assert all(KEY not in text for text in shown)


def test_websocket_needs_the_token_query(kit, cloud):
    http = kit.backend("comfycloud").http
    url = http.websocket_url("/ws", {"clientId": "ignored-by-the-cloud"})
    assert KEY not in url
    connect_url, headers = http.auth.websocket(url)
    assert parse_qs(urlsplit(connect_url).query)["token"] == [KEY]
    ws = websocket.create_connection(connect_url, header=headers, timeout=5)
    ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(url, timeout=5)
    assert info.value.status_code == 401


def test_concurrent_jobs(kit, cloud):
    results = []
    lock = threading.Lock()

    def run(i: int) -> None:
        result = kit.execute(T2I, {"prompt": f"p{i}"}, backend="comfycloud")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status for r in results] == ["completed"] * 4 and len(cloud.jobs) == 4
    assert sorted(r.texts[0] for r in results) == ["p0", "p1", "p2", "p3"]
