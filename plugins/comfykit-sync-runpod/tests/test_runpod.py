"""``ComfyKit.execute(..., backend="runpod")`` against the fake RunPod endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from comfykit_sync_runpod.testing import PNG, JobScript
from rp_constants import ENDPOINT, KEY

import comfykit_sync
from comfykit_sync import (
    AuthenticationError,
    ComfyKit,
    ConfigurationError,
    ExecutionCancelled,
    ExecutionError,
    ExecutionTimeout,
    RequestTimeout,
)
from comfykit_sync.errors import ServerError, UploadTooLargeError
from comfykit_sync.events import Completed, Failed, Queued, Started

WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
T2I, I2I = WORKFLOWS / "text_to_image.json", WORKFLOWS / "image_to_image.json"


def sent_workflow(runpod, job_id):
    return runpod.jobs[job_id].request["input"]["workflow"]


def test_text_to_image(kit, runpod, tmp_path):
    result = kit.execute(T2I, {"prompt": "a red fox", "steps": "12"}, backend="runpod")
    assert result.status == "completed", result.msg
    assert result.backend == "runpod" and result.prompt_id in runpod.jobs
    [url] = result.images_by_var["image"]
    assert url.startswith("file://")
    path = Path(urlsplit(url).path)
    assert path.read_bytes() == PNG and path.is_relative_to(tmp_path / "out")
    [artifact] = result.artifacts
    assert artifact.filename == "ComfyKit_00001_.png" and artifact.kind == "image"
    assert result.outputs["status"] == "COMPLETED" and "executionTime" in result.outputs
    assert any("'caption'" in w and "PreviewAny" in w for w in result.warnings)


def test_params_and_dsl_are_bound(kit, runpod):
    result = kit.execute(T2I, {"prompt": "a fox", "steps": 7, "width": 640}, backend="runpod")
    wf = sent_workflow(runpod, result.prompt_id)
    assert wf["6"]["inputs"]["text"] == "a fox" and wf["3"]["inputs"]["steps"] == 7
    assert wf["5"]["inputs"]["width"] == 640
    assert wf["9"]["inputs"]["filename_prefix"].endswith("n9_ComfyKit")
    assert result.seeds and wf["3"]["inputs"]["seed"] == result.seeds["3"]


def test_url_outputs_stay_urls_and_get_no_key(kit, runpod):
    runpod.output_mode = "s3_url"
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    [url] = result.images
    assert url.startswith(runpod.bucket_url)
    assert result.artifacts[0].filename == "ComfyKit_00001_.png"


@pytest.mark.parametrize("kind", ["bytes", "path", "file"])
def test_upload(kit, runpod, tmp_path, kind):
    data = PNG + kind.encode()
    source = tmp_path / "cat.png"
    source.write_bytes(data)
    value = {"bytes": data, "path": str(source), "file": source.open("rb")}[kind]
    result = kit.execute(I2I, {"image": value}, backend="runpod")
    assert result.status == "completed", result.msg
    job = runpod.jobs[result.prompt_id]
    name = sent_workflow(runpod, result.prompt_id)["10"]["inputs"]["image"]
    assert name.startswith("ck_") and name.endswith(".png")
    assert job.images == {name: data}
    assert not kit.backend("runpod").uploads._data  # nothing kept after submission


def test_upload_over_the_cap_fails_before_sending(runpod_env, monkeypatch):
    monkeypatch.setenv("RUNPOD_MAX_UPLOAD_BYTES", "100")
    with ComfyKit() as kit:
        result = kit.execute(I2I, {"image": PNG * 10}, backend="runpod")
    assert isinstance(result.error, UploadTooLargeError) and "10 MB" in result.msg
    assert not runpod_env.jobs


def test_failed_job_carries_worker_error(kit, runpod):
    runpod.script(JobScript(error="Workflow validation failed:\n• Node 4: bad ckpt"))
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert result.status == "failed" and isinstance(result.error, ExecutionError)
    assert "Node 4: bad ckpt" in result.msg and result.prompt_id
    assert kit.job(result.prompt_id, backend="runpod").status().state == "failed"


def test_failed_job_with_exception_record_and_details(kit, runpod):
    record = {"error_type": "RuntimeError", "error_message": "CUDA OOM", "hostname": "h"}
    runpod.script(
        JobScript(error=record), JobScript(error="Job processing failed", details=("Node 8 broke",))
    )
    first = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert "RuntimeError: CUDA OOM" in first.msg
    second = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert "Job processing failed" in second.msg and "Node 8 broke" in second.msg


def test_completed_variants(kit, runpod):
    runpod.script(
        JobScript(drop_output=True),
        JobScript(output={"images": [], "status": "success_no_images"}),
        JobScript(
            output={
                "images": [{"filename": "a_00001_.png", "type": "base64", "data": "iVBORw=="}],
                "errors": [
                    "Workflow execution error: Node Type: VAEDecode, Node ID: 8, Message: x"
                ],
            }
        ),
        JobScript(output={"status": "error", "message": "the image does not exist"}),
        JobScript(final="TIMED_OUT"),
    )
    lost = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert lost.status == "failed" and "S3" in lost.msg
    empty = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert empty.status == "completed" and not empty.images
    partial = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert partial.status == "failed" and "VAEDecode" in partial.msg and len(partial.images) == 1
    legacy = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert legacy.status == "failed" and "does not exist" in legacy.msg
    timed_out = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert isinstance(timed_out.error, ExecutionTimeout) and "timed out on RunPod" in timed_out.msg


def test_cancel_uses_the_cancel_endpoint(kit, runpod):
    runpod.run_time = 5.0
    job = kit.submit(T2I, {"prompt": "x"}, backend="runpod")
    assert job.status().state in ("pending", "running")
    assert job.cancel()
    result = job.wait()
    assert isinstance(result.error, ExecutionCancelled)
    assert runpod.paths(f"/cancel/{job.prompt_id}") == [f"/v2/{ENDPOINT}/cancel/{job.prompt_id}"]
    assert not kit.backend("runpod").cancel(job.prompt_id)  # already terminal
    assert kit.job(job.prompt_id, backend="runpod").status().state == "failed"


def test_timeout_cancels_the_job(kit, runpod):
    runpod.run_time = 5.0
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod", timeout=0.4)
    assert isinstance(result.error, ExecutionTimeout) and result.error.cancelled
    assert runpod.jobs[result.prompt_id].cancelled_at is not None


def test_queue_timeout(kit, runpod):
    runpod.queue_time = 5.0
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod", queue_timeout=0.3)
    assert isinstance(result.error, ExecutionTimeout) and result.error.deadline == "queue"


def test_wrong_key_is_401(runpod_env, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "wrong-key")
    with ComfyKit() as kit:
        result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert isinstance(result.error, AuthenticationError) and result.error.status_code == 401
    assert not runpod_env.jobs and len(runpod_env.paths("/run")) == 1
    assert "wrong-key" not in result.msg


@pytest.mark.parametrize(
    "fault",
    [{"name": "status", "status": 502, "process": True}, {"name": "delay", "seconds": 1.5}],
)
def test_ambiguous_run_failure_is_not_retried(runpod_env, fault):
    runpod_env.fault(path="run", **fault)  # the job is created, then the reply fails
    with ComfyKit(request_timeout=(1.0, 0.5)) as kit:
        result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert isinstance(result.error, (ServerError, RequestTimeout)), result.msg
    assert len(runpod_env.paths("/run")) == 1 and len(runpod_env.jobs) == 1


def test_429_on_run_is_retried(kit, runpod):
    runpod.fault("status", "run", status=429, retry_after=None)  # nothing was created
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert result.status == "completed" and len(runpod.paths("/run")) == 2
    assert len(runpod.jobs) == 1


def test_faults_of_every_fake_follow_the_key_check(runpod):
    """The shared faults (``comfykit_sync.testing.faults``) hit a route once the endpoint and
    the key were accepted, in the order they were added; ``*`` is any route after them."""
    base = f"{runpod.api_url}/{ENDPOINT}"
    auth = {"Authorization": f"Bearer {KEY}"}
    runpod.fault("reset", "run", at="body")  # the job is created, the reply cut
    runpod.fault("status", "*", status=503)
    wrong = requests.post(f"{base}/run", json={"input": {}}, timeout=5)
    assert wrong.status_code == 401 and len(runpod.pending_faults) == 2
    with pytest.raises(requests.RequestException):
        requests.post(f"{base}/run", json={"input": {}}, headers=auth, timeout=5)
    assert len(runpod.jobs) == 1
    busy = requests.get(f"{base}/health", headers=auth, timeout=5)
    assert (busy.status_code, busy.json()) == (503, {"error": "injected fault"})
    assert requests.get(f"{base}/health", headers=auth, timeout=5).status_code == 200


def test_status_errors_are_retried(kit, runpod):
    runpod.fault("status", "status", 2, status=503)
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert result.status == "completed", result.msg


def test_expired_job_is_lost(kit, runpod):
    runpod.retention = 0.0
    job = kit.submit(T2I, {"prompt": "x"}, backend="runpod")
    runpod.jobs[job.prompt_id].finished_at = 0.0  # finished long ago
    result = job.wait()
    assert result.status == "failed" and "expired" in result.msg


def test_events(kit, runpod):
    runpod.queue_time, runpod.run_time = 0.15, 0.15
    events = []
    result = kit.execute(T2I, {"prompt": "x"}, backend="runpod", on_event=events.append)
    kinds = [type(e) for e in events]
    assert kinds == [Queued, Started, Completed]
    assert all(e.prompt_id == result.prompt_id for e in events)
    runpod.script(JobScript(error="boom"))
    events.clear()
    failed = kit.execute(T2I, {"prompt": "x"}, backend="runpod", on_event=events.append)
    assert isinstance(events[-1], Failed) and events[-1].error is failed.error


def test_key_never_leaked(kit, runpod, caplog):
    caplog.set_level(logging.DEBUG)
    runpod.output_mode = "s3_url"
    result = kit.execute(I2I, {"image": PNG}, backend="runpod")
    kit.download(result.images[0], Path(kit.backend("runpod").output_dir) / "dl.png")
    api = [r for r in runpod.requests if r.port == "api"]
    bucket = [r for r in runpod.requests if r.port == "bucket"]
    assert api and bucket
    assert all(r.headers.get("Authorization") == f"Bearer {KEY}" for r in api)
    assert all("Authorization" not in r.headers for r in bucket)
    assert all(KEY not in json.dumps(r.json()) for r in api if r.body)
    backend = kit.backend("runpod")
    for text in (repr(backend), repr(backend.settings), repr(kit), caplog.text, str(result)):
        assert KEY not in text


def test_partial_execution_is_refused_before_sending(kit, runpod):
    assert "partial" not in kit.backend("runpod").capabilities
    with pytest.raises(ConfigurationError, match="'runpod' cannot run only some outputs"):
        kit.execute(T2I, {"prompt": "x"}, backend="runpod", outputs=["image"])
    assert runpod.jobs == {}


def test_missing_settings_raise_before_sending(runpod, monkeypatch):
    for name in ("RUNPOD_API_KEY", "RUNPOD_ENDPOINT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_API_URL", runpod.api_url)
    with ComfyKit() as kit:
        with pytest.raises(ConfigurationError, match="runpod_endpoint_id.*RUNPOD_ENDPOINT_ID"):
            kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    with ComfyKit(runpod_endpoint_id=ENDPOINT) as kit:
        with pytest.raises(ConfigurationError, match="runpod_api_key.*RUNPOD_API_KEY"):
            kit.execute(T2I, {"prompt": "x"}, backend="runpod")
    assert not runpod.requests


def test_settings_as_kit_arguments(runpod, monkeypatch, tmp_path):
    for name in ("RUNPOD_API_KEY", "RUNPOD_ENDPOINT_ID", "RUNPOD_API_URL", "RUNPOD_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_TIMEOUT", "7")
    with ComfyKit(
        poll_max_interval=0.05,
        runpod_endpoint_id=ENDPOINT,
        runpod_api_key=KEY,
        runpod_api_url=runpod.api_url,
        runpod_output_dir=tmp_path,
    ) as kit:
        assert kit.backend("runpod").default_timeout == 7  # from the environment
        result = kit.execute(T2I, {"prompt": "x"}, backend="runpod")
        assert result.status == "completed", result.msg
        assert result.images[0].startswith(tmp_path.as_uri())
        assert KEY not in repr(kit.config.settings) and ENDPOINT in repr(kit.config.settings)
    monkeypatch.setenv("RUNPOD_TIMEOUT", "soon")
    with ComfyKit(runpod_timeout=42, runpod_endpoint_id=ENDPOINT, runpod_api_key=KEY) as kit:
        assert kit.backend("runpod").default_timeout == 42  # the argument wins
    with pytest.raises(ConfigurationError, match="argument runpod_api_url"):
        ComfyKit(runpod_api_url="ftp://x")
    with pytest.raises(ConfigurationError, match="runpod_endpoint"):
        ComfyKit(runpod_endpoint="typo")


def test_reattach_and_health(kit, runpod):
    job = kit.submit(T2I, {"prompt": "x"}, backend="runpod")
    job.wait()
    again = kit.job(job.prompt_id, backend="runpod").result()
    assert again.status == "completed" and list(again.images_by_var) == ["9"]
    assert kit.backend("runpod").health()["jobs"]["completed"] >= 1


def test_concurrent_jobs(kit, runpod):
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                kit.execute(I2I, {"image": PNG + bytes([i])}, backend="runpod")
            )
        )
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == "completed" for r in results) and len(runpod.jobs) == 4
