"""``ComfyKit.execute`` on the ``runninghub`` backend, against the fake RunningHub on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

import comfykit_sync
from comfykit_sync import (
    AuthenticationError,
    ComfyKit,
    ConfigurationError,
    ExecutionCancelled,
    ExecutionError,
    ExecutionTimeout,
    InvalidResponseError,
    NotFoundError,
    ParameterError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
    Workflow,
    WorkflowValidationError,
)
from comfykit_sync.backends.base import PreparedJob
from comfykit_sync.errors import InsufficientBalanceError, UploadTooLargeError
from comfykit_sync.events import Queued, Started
from comfykit_sync.params import parse_workflow
from comfykit_sync.testing.fake_runninghub import OutputFile, TaskScript

WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
KEY = "rh-secret-key-0123456789"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CREATE, STATUS, OUTPUTS = "/task/openapi/create", "/task/openapi/status", "/task/openapi/outputs"
pytestmark = pytest.mark.fake_runninghub(api_key=KEY, run_time=0.05)


def graph(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


@pytest.fixture
def hub(fake_runninghub):
    return fake_runninghub


@pytest.fixture
def kit(hub, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    options = {"poll_max_interval": 0.05, "runninghub_timeout": 20, "runninghub_retry_count": 2}
    with ComfyKit(runninghub_url=hub.url, runninghub_api_key=KEY, **options) as kit:
        yield kit


@pytest.fixture
def t2i(hub):
    return hub.add_workflow(graph("text_to_image"))


@pytest.fixture
def i2i(hub):
    return hub.add_workflow(graph("image_to_image"))


def paths(hub, path=None):
    return [r.path for r in hub.requests if path is None or r.path == path]


# -- success and results ---------------------------------------------------------------------
def test_text_to_image(kit, hub, t2i):
    result = kit.execute(t2i, {"prompt": "a red fox", "steps": "12"})
    assert result.status == "completed", result.msg
    assert result.backend == "runninghub" and result.error is None
    task = hub.tasks[result.prompt_id]
    assert task.workflow_id == t2i
    [url] = result.images_by_var["image"]
    assert url.startswith(hub.cdn_url) and result.images == [url]
    assert result.texts_by_var == {"caption": ["a red fox"]}  # downloaded from the CDN
    assert [item["nodeId"] for item in result.outputs["raw_data"]] == ["9", "10"]
    assert task.node_info_list == [
        {"nodeId": "6", "fieldName": "text", "fieldValue": "a red fox"},
        {"nodeId": "3", "fieldName": "seed", "fieldValue": result.seeds["3"]},
        {"nodeId": "3", "fieldName": "steps", "fieldValue": 12},  # coerced to the input's int
    ]
    assert result.seeds["3"] != 0
    assert paths(hub) == [
        "/api/openapi/getJsonApiFormat",
        CREATE,
        *paths(hub, STATUS),
        OUTPUTS,
    ]


def test_videos_audio_and_other_files_by_var(kit, hub, t2i):
    hub.script(
        TaskScript(
            outputs=[
                OutputFile("9", "png", PNG),
                OutputFile("9", "mp4", b"video"),
                OutputFile("9", "GIF", b"GIF89a"),
                OutputFile(21, "flac", b"fLaC"),
                OutputFile("22", "glb", b"glTF"),
                OutputFile("23", "image", PNG, name="no-extension"),
            ]
        )
    )
    result = kit.execute(t2i, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert len(result.images_by_var["image"]) == 1
    assert len(result.videos_by_var["image"]) == 2  # gif is a video, as for local ComfyUI
    assert list(result.audios_by_var) == ["21"] and result.images_by_var["23"]
    assert [a.kind for a in result.artifacts if a.node_id == "22"] == ["model3d"]
    assert len(result.outputs["raw_data"]) == 6


def test_outputs_are_downloadable_until_they_expire(kit, hub, t2i, tmp_path):
    result = kit.execute(t2i, {"prompt": "x"})
    [image] = [a for a in result.artifacts if a.kind == "image"]
    assert kit.download(image, tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    hub.expire_outputs()
    with pytest.raises(comfykit_sync.APIError, match="403"):
        kit.download(image, tmp_path / "b.png")


def test_text_that_cannot_be_fetched_stays_a_file(kit, hub, t2i):
    hub.script(TaskScript(run_time=0.6))
    timer = threading.Timer(0.2, hub.expire_outputs)  # the CDN refuses before the task ends
    timer.start()
    result = kit.execute(t2i, {"prompt": "x"})
    timer.join()
    assert result.status == "completed" and result.texts == []
    [text_file] = [a for a in result.artifacts if a.node_id == "10"]
    assert text_file.kind == "file" and text_file.url.startswith(hub.cdn_url)


# -- parameters -> nodeInfoList --------------------------------------------------------------
def test_fan_out_and_explicit_zero_seed(kit, hub):
    wf = graph("text_to_image")
    wf["6"]["_meta"]["title"] = "$prompt.text!"
    wf["7"]["_meta"]["title"] = "$prompt.text"
    workflow_id = hub.add_workflow(wf)
    result = kit.execute(workflow_id, {"prompt": "both", "seed": 0, "width": 512})
    entries = hub.tasks[result.prompt_id].node_info_list
    assert {"nodeId": "6", "fieldName": "text", "fieldValue": "both"} in entries
    assert {"nodeId": "7", "fieldName": "text", "fieldValue": "both"} in entries
    [seed] = [e for e in entries if e["fieldName"] == "seed"]
    assert seed["fieldValue"] == result.seeds["3"] != 0  # an explicit 0 is randomised too
    assert not any(e["fieldName"] == "width" for e in entries)  # unchanged: not sent


def test_nothing_changed_sends_no_node_info_list(hub, i2i, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    with ComfyKit(
        runninghub_url=hub.url, runninghub_api_key=KEY, poll_max_interval=0.05, seed_policy="off"
    ) as kit:
        result = kit.execute(i2i)
    assert result.status == "completed", result.msg
    [create] = [r for r in hub.requests if r.path == CREATE]
    assert "nodeInfoList" not in create.json()


def test_caller_mistakes_raise_before_any_task(kit, hub, t2i, i2i, tmp_path):
    with pytest.raises(ParameterError, match="prompt"):
        kit.execute(t2i, {})
    with pytest.raises(ParameterError, match="promt"):
        kit.execute(t2i, {"prompt": "x", "promt": "y"})
    with pytest.raises(ParameterError, match="steps"):
        kit.execute(t2i, {"prompt": "x", "steps": "many"})
    with pytest.raises(ParameterError, match="not found"):
        kit.execute(i2i, {"image": tmp_path / "missing.png"})
    assert set(paths(hub)) == {"/api/openapi/getJsonApiFormat"}


def test_value_for_a_linked_input_is_refused_before_creating(kit, hub):
    wf = graph("text_to_image")
    wf["8"]["_meta"]["title"] = "$latent.samples!"
    result = kit.execute(hub.add_workflow(wf), {"prompt": "x", "latent": "abc"})
    assert isinstance(result.error, ParameterError) and "linked to node 3" in result.msg
    assert hub.tasks == {}


def test_instance_type_and_webhook_are_sent(hub, t2i, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    with ComfyKit(
        runninghub_url=hub.url,
        runninghub_api_key=KEY,
        runninghub_instance_type="plus",
        runninghub_webhook_url="https://example.com/hook?token=t",
        poll_max_interval=0.05,
    ) as kit:
        result = kit.execute(t2i, {"prompt": "x"})
    task = hub.tasks[result.prompt_id]
    assert (task.instance_type, task.webhook_url) == ("plus", "https://example.com/hook?token=t")
    assert "token=t" not in repr(kit.config)


def test_local_workflow_on_runninghub_backend_is_refused(kit, hub):
    result = kit.execute(graph("text_to_image"), {"prompt": "x"}, backend="runninghub")
    assert isinstance(result.error, ConfigurationError) and "runninghub:<id>" in result.msg
    assert hub.requests == []


def test_missing_api_key_is_raised_before_anything_is_sent(hub, t2i, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    with ComfyKit(runninghub_url=hub.url, api_key="comfyui-key") as kit:  # never a fallback
        with pytest.raises(ConfigurationError, match="RUNNINGHUB_API_KEY"):
            kit.execute(t2i, {"prompt": "x"})
    assert hub.requests == []


# -- uploads ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["path", "bytes", "url"])
def test_uploads_send_the_name_runninghub_gives(kit, hub, i2i, tmp_path, kind):
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    value = {"path": path, "bytes": PNG, "url": hub.add_cdn_file("media/cat.png", PNG)}[kind]
    result = kit.execute(i2i, {"image": value})
    assert result.status == "completed", result.msg
    [(name, content)] = hub.uploads.items()
    assert name.startswith("api/") and name.endswith(".png") and content == PNG
    image = [e for e in hub.tasks[result.prompt_id].node_info_list if e["nodeId"] == "10"]
    assert image == [{"nodeId": "10", "fieldName": "image", "fieldValue": name}]
    [upload] = [r for r in hub.requests if r.path == "/task/openapi/upload"]
    assert b'name="apiKey"\r\n\r\n' + KEY.encode() in upload.body
    assert all(KEY not in v for v in upload.headers.values())


def test_server_side_file_name_is_passed_through(kit, hub, i2i):
    result = kit.execute(i2i, {"image": "api/already-uploaded.png"})
    entries = hub.tasks[result.prompt_id].node_info_list
    assert {"nodeId": "10", "fieldName": "image", "fieldValue": "api/already-uploaded.png"} in (
        entries
    )
    assert "/task/openapi/upload" not in paths(hub)


@pytest.mark.fake_runninghub(api_key=KEY, max_upload_size=16)
def test_upload_over_the_limit(kit, hub, i2i):
    result = kit.execute(i2i, {"image": PNG})
    assert isinstance(result.error, UploadTooLargeError) and "809" in result.msg
    assert hub.tasks == {}


# -- failures --------------------------------------------------------------------------------
def test_failed_task_reports_node_and_exception(kit, hub, t2i):
    reason = {
        "node_id": "3",
        "node_name": "KSampler",
        "exception_type": "torch.OutOfMemoryError",
        "exception_message": "CUDA out of memory\nTIPS: lower the batch size",
        "traceback": json.dumps(["  File a.py", "  File b.py"]),
        "current_inputs": json.dumps({"steps": ["20"]}),
        "current_outputs": "{}",
    }
    hub.script(TaskScript(failed_reason=reason))
    result = kit.execute(t2i, {"prompt": "x"})
    assert result.status == "failed" and result.prompt_id in hub.tasks
    error = result.error
    assert type(error) is ExecutionError
    assert (error.node_id, error.node_type) == ("3", "KSampler")
    assert error.exception_type == "torch.OutOfMemoryError"
    assert error.traceback == ("  File a.py", "  File b.py")
    assert error.exception_message == reason["exception_message"]  # raw, tips included
    assert error.current_inputs == {"steps": ["20"]}
    assert "node 3 (KSampler)" in result.msg and "CUDA out of memory" in result.msg
    assert "\n" not in result.msg and "TIPS" not in result.msg
    assert "seed, steps, cfg" in result.msg  # the parameters bound to the failing node


def test_failed_reason_as_plain_text(kit, hub, t2i):
    hub.script(TaskScript(failed_reason="machine lost"))
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, ExecutionError) and result.msg.endswith("failed: machine lost")


def test_status_of_a_failed_task_is_failed_without_waiting(kit, hub, t2i):
    hub.script(TaskScript(failed_reason="machine lost"))
    failed = kit.execute(t2i, {"prompt": "x"})
    done = kit.execute(t2i, {"prompt": "y"})
    assert kit.job(failed.prompt_id, backend="runninghub").status().state == "failed"
    assert kit.job(int(done.prompt_id), backend="runninghub").status().state == "completed"
    assert kit.job(done.prompt_id, backend="runninghub").done()


@pytest.mark.parametrize("bad", ["", "../1", "12a", "1/2", "¹²"])
def test_reattach_refuses_what_is_not_a_task_id(kit, hub, bad):
    with pytest.raises(ParameterError, match="RunningHub task id") as info:
        kit.job(bad, backend="runninghub")
    assert info.value.params == ("prompt_id",) and paths(hub) == []


ERROR_CASES = [
    (301, WorkflowValidationError, "invalid or missing request parameters"),
    (380, NotFoundError, "does not exist"),
    (401, AuthenticationError, "invalid"),
    (433, WorkflowValidationError, "rejected the workflow"),
    (500, ServerError, "unknown server error"),
    (801, AuthenticationError, "free accounts"),
    (802, AuthenticationError, "unauthorized or expired"),
    (806, AuthenticationError, "no RunningHub user"),
    (811, AuthenticationError, "enterprise"),
    (812, InsufficientBalanceError, "balance"),
    (814, RateLimitError, "personal queue"),
    (999, comfykit_sync.APIError, "RunningHub refused"),
]


@pytest.mark.parametrize(("code", "error_type", "text"), ERROR_CASES)
def test_error_codes_on_create_are_typed_and_not_retried(kit, hub, t2i, code, error_type, text):
    hub.respond(CREATE, code)
    result = kit.execute(t2i, {"prompt": "x"})
    assert type(result.error) is error_type and result.prompt_id is None
    assert text in result.msg and f"code {code}" in result.msg
    assert len(paths(hub, CREATE)) == 1 and hub.tasks == {}


def test_invalid_node_info_names_the_parameters(kit, hub, t2i):
    hub.respond(CREATE, 803)
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, WorkflowValidationError)
    assert "prompt (node 6 input 'text')" in result.msg and "code 803" in result.msg
    assert set(result.error.param_errors) == {"prompt", "seed"}  # seed: randomised, sent too


@pytest.mark.parametrize("code", [415, 421])
def test_busy_is_retried_because_nothing_was_created(kit, hub, t2i, code):
    hub.respond(CREATE, code)
    result = kit.execute(t2i, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert len(paths(hub, CREATE)) == 2 and len(hub.tasks) == 1


def test_busy_until_retries_run_out(kit, hub, t2i):
    hub.respond(CREATE, 421, times=3)
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, RateLimitError) and "concurrent task limit" in result.msg
    assert len(paths(hub, CREATE)) == 3  # runninghub_retry_count=2


@pytest.mark.fake_runninghub(api_key=KEY, coins=1)
def test_balance_exhausted(kit, hub, t2i):
    assert kit.execute(t2i, {"prompt": "x"}).status == "completed"
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, InsufficientBalanceError) and "top it up" in result.msg


def test_unknown_workflow_and_bad_key_raise_at_load(kit, hub):
    with pytest.raises(NotFoundError, match="code 380"):
        kit.execute("1234567890123456789")
    with ComfyKit(runninghub_url=hub.url, runninghub_api_key="wrong") as other:
        with pytest.raises(AuthenticationError, match="code 802"):
            other.execute("1234567890123456789")


def test_ambiguous_create_failure_is_not_retried(kit, hub, t2i):
    hub.fail_requests(CREATE, status=502, process=True)  # the task exists, the reply is lost
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, ServerError) and "HTTP 502" in result.msg
    assert len(paths(hub, CREATE)) == 1 and len(hub.tasks) == 1


def test_create_reply_slower_than_the_read_timeout_is_not_retried(hub, t2i, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    hub.delay_requests(CREATE, 1.0)
    with ComfyKit(runninghub_url=hub.url, runninghub_api_key=KEY, request_timeout=(2, 0.3)) as kit:
        result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, RequestTimeout) and "read timeout" in result.msg
    assert len(paths(hub, CREATE)) == 1 and len(hub.tasks) == 1


def test_create_is_retried_only_when_it_never_reached_the_server(hub, t2i, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wf = Workflow(graph("text_to_image"), "x", backend="runninghub", source_id=t2i)
    spec = parse_workflow(wf.graph)
    job = PreparedJob("id", wf, spec, dict(wf.graph), {}, {})
    with ComfyKit(runninghub_url=closed, runninghub_api_key=KEY, runninghub_retry_count=2) as kit:
        with caplog.at_level(logging.DEBUG, logger="comfykit_sync.backends.runninghub_api"):
            with pytest.raises(TransportError, match="could not connect") as info:
                kit.backend("runninghub").submit(job)
    assert info.value.sent is False
    assert sum("retrying creating a task" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        (CREATE, "<html>gateway</html>", "non-JSON"),
        (CREATE, {"status": "ok"}, "envelope"),
        (CREATE, {"code": 0, "msg": "success", "data": {}}, "no taskId"),
        (STATUS, {"code": "oops"}, "envelope"),
    ],
)
def test_malformed_replies_are_typed_errors(kit, hub, t2i, path, body, needle):
    hub.fail_requests(path, status=200, body=body)
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, InvalidResponseError) and needle in result.msg


def test_status_5xx_and_server_errors_are_retried(kit, hub, t2i):
    hub.script(TaskScript(run_time=0.3))
    hub.fail_requests(STATUS, status=502, times=4)
    result = kit.execute(t2i, {"prompt": "x"})
    assert result.status == "completed", result.msg
    hub.respond(STATUS, 500, times=3)
    assert kit.execute(t2i, {"prompt": "x"}).status == "completed"


def test_revoked_key_while_waiting_ends_the_wait(kit, hub, t2i):
    hub.script(TaskScript(run_time=5))
    timer = threading.Timer(0.2, hub.respond, args=(STATUS, 802))
    timer.start()
    result = kit.execute(t2i, {"prompt": "x"})
    timer.join()
    assert isinstance(result.error, AuthenticationError)


def test_unknown_or_empty_status_is_waited_on_without_spinning(kit, hub, t2i):
    hub.script(TaskScript(run_time=0.4, status_text=""))
    result = kit.execute(t2i, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert len(paths(hub, STATUS)) < 40  # a busy loop would send thousands


def test_timeout_cancels_the_task(kit, hub, t2i):
    hub.script(TaskScript(run_time=30))
    result = kit.execute(t2i, {"prompt": "x"}, timeout=0.5)
    assert isinstance(result.error, ExecutionTimeout) and result.error.cancelled
    assert "cancelled on the server" in result.msg
    assert hub.tasks[result.prompt_id].cancelled


def test_default_timeout_is_runninghub_timeout(hub, t2i, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    hub.script(TaskScript(queue_time=30))
    with ComfyKit(
        runninghub_url=hub.url, runninghub_api_key=KEY, runninghub_timeout=0.5, timeout=999
    ) as kit:
        assert kit.backend("runninghub").default_timeout == 0.5
        result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, ExecutionTimeout) and "0.5 s" in result.msg
    assert hub.tasks[result.prompt_id].cancelled


def test_prompt_tips_node_errors_fail_or_warn(kit, hub, t2i, monkeypatch):
    node_errors = {
        "6": {
            "errors": [
                {"message": "bad text", "details": "", "extra_info": {"input_name": "text"}}
            ],
            "dependent_outputs": ["9"],
            "class_type": "CLIPTextEncode",
        }
    }
    hub.script(TaskScript(node_errors=node_errors, run_time=5))
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, WorkflowValidationError)
    assert "parameter 'prompt'" in result.msg and result.error.prompt_id == result.prompt_id
    assert hub.tasks[result.prompt_id].cancelled
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    hub.script(TaskScript(node_errors=node_errors))
    with ComfyKit(
        runninghub_url=hub.url,
        runninghub_api_key=KEY,
        on_node_errors="warn",
        poll_max_interval=0.05,
    ) as warn_kit:
        warned = warn_kit.execute(t2i, {"prompt": "x"})
    assert warned.status == "completed" and "parameter 'prompt'" in warned.warnings[0]


# -- ids, events, status ---------------------------------------------------------------------
@pytest.mark.fake_runninghub(api_key=KEY, numeric_ids=True)
def test_19_digit_ids_stay_exact(kit, hub, t2i):
    result = kit.execute(t2i, {"prompt": "x"})
    assert result.prompt_id == "1960011122233344455"
    assert set(result.images_by_var) == {"image"}  # numeric nodeId mapped to the output var
    [create] = [r for r in hub.requests if r.path == CREATE]
    assert json.loads(create.body)["workflowId"] == t2i == "1953270871002394625"
    assert all(json.loads(r.body)["taskId"] == result.prompt_id for r in hub.requests[2:])


def test_wait_reports_queue_and_start_and_status(kit, hub, t2i):
    hub.script(TaskScript(queue_time=0.5, run_time=0.2))
    runner = kit.backend("runninghub")
    wf = kit.load_workflow(t2i)
    spec = parse_workflow(wf.graph)
    task_id = runner.submit(PreparedJob("id", wf, spec, dict(wf.graph), {}, {})).prompt_id
    assert runner.status(task_id).state == "pending"
    events: list = []
    outcome = runner.wait(task_id, spec, deadline=time.monotonic() + 20, emit=events.append)
    assert [type(e) for e in events] == [Queued, Started] and outcome.error is None
    assert runner.status(task_id).state == "completed"
    assert runner.status("1").state == "unknown"
    assert outcome.items and runner.cancel(task_id) is False


def test_queue_deadline(kit, hub, t2i):
    hub.script(TaskScript(queue_time=30))
    runner = kit.backend("runninghub")
    wf = kit.load_workflow(t2i)
    spec = parse_workflow(wf.graph)
    task_id = runner.submit(PreparedJob("id", wf, spec, dict(wf.graph), {}, {})).prompt_id
    now = time.monotonic()
    with pytest.raises(ExecutionTimeout) as info:
        runner.wait(task_id, spec, deadline=now + 20, queue_deadline=now + 0.2)
    assert info.value.deadline == "queue"
    assert runner.cancel(task_id) and hub.tasks[task_id].cancelled


# -- secrets ---------------------------------------------------------------------------------
def test_api_key_goes_only_into_runninghub_request_bodies(kit, hub, t2i, i2i, caplog):
    caplog.set_level(logging.DEBUG)
    results = [
        kit.execute(t2i, {"prompt": "x"}),
        kit.execute(i2i, {"image": hub.add_cdn_file("in/dog.png", PNG)}),
    ]
    hub.script(TaskScript(failed_reason={"exception_message": "boom"}))
    results.append(kit.execute(t2i, {"prompt": "x"}))
    hub.respond(CREATE, 802)
    results.append(kit.execute(t2i, {"prompt": "x"}))
    assert [r.status for r in results] == ["completed", "completed", "failed", "failed"]
    for record in hub.requests:
        if record.path == "/task/openapi/upload":
            assert b'name="apiKey"\r\n\r\n' + KEY.encode() in record.body
        else:
            assert record.json()["apiKey"] == KEY
        assert KEY not in json.dumps([record.path, record.query, record.headers])
    assert {r.path.split("/")[1] for r in hub.cdn_requests} == {"files"}
    assert len(hub.cdn_requests) == 2  # one text output, one media download
    for record in hub.cdn_requests:
        assert KEY.encode() not in record.body
        assert KEY not in json.dumps([record.path, record.query, record.headers])
    texts = [caplog.text, repr(kit), repr(kit.config), repr(kit.backend("runninghub"))]
    texts += [repr(kit.backend("runninghub").api)]
    texts += [f"{r.msg} {r.error!r} {r}" for r in results]
    assert not any(KEY in text for text in texts)


def test_request_bodies_are_scrubbed_from_errors(hub, t2i, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    hub.delay_requests(CREATE, 1.0)
    with ComfyKit(runninghub_url=hub.url, runninghub_api_key=KEY, request_timeout=(2, 0.3)) as kit:
        result = kit.execute(t2i, {"prompt": "x"})
    chain, error = [], result.error
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(getattr(exc, "request", None) is not None for exc in chain)  # kept as cause...
    for exc in chain:
        request = getattr(exc, "request", None)
        assert request is None or request.body is None  # ...without the body holding the key
        assert KEY not in f"{exc} {exc!r}"


def test_redirects_are_not_followed(kit, hub, t2i):
    trap = hub.add_cdn_file("trap", b"{}")
    hub.fail_requests(CREATE, status=307, body="", headers={"Location": trap})
    result = kit.execute(t2i, {"prompt": "x"})
    assert isinstance(result.error, InvalidResponseError) and "not followed" in result.msg
    assert hub.cdn_requests == []  # the body with the key was not resent to another host


# -- jobs and events through the kit ---------------------------------------------------------
def test_events_reach_on_event(kit, hub, t2i):
    hub.script(TaskScript(queue_time=0.3, run_time=0.3))
    events: list = []
    result = kit.execute(t2i, {"prompt": "x"}, on_event=events.append)
    assert result.status == "completed", result.msg
    assert [type(e).__name__ for e in events] == ["Queued", "Started", "Completed"]
    assert {e.prompt_id for e in events} == {result.prompt_id}


def test_job_cancel_is_reported_as_cancelled(kit, hub, t2i):
    hub.script(TaskScript(run_time=30))
    job = kit.submit(t2i, {"prompt": "x"})
    assert job.status().state == "running"
    assert job.cancel() is True
    result = job.result()
    assert isinstance(result.error, ExecutionCancelled), result.msg
    assert hub.tasks[job.prompt_id].cancelled


def test_reattach_by_task_id(kit, hub, t2i):
    job = kit.submit(t2i, {"prompt": "x"})
    detached = kit.job(job.prompt_id, backend="runninghub").result()
    assert detached.status == "completed" and set(detached.images_by_var) == {"9"}
    named = kit.job(job.prompt_id, t2i, backend="runninghub").result()
    assert set(named.images_by_var) == {"image"} and named.texts_by_var == {"caption": ["x"]}
