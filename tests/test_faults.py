"""The fault matrix: every scripted fault of the fakes, its expected outcome, and exactly-once.

Each test states what ``execute()`` returns under one fault, for both local backends where the
fault concerns them, and asserts that no fault ever queues a prompt twice
(``submit_count <= 1``; one prompt per execute that got past validation, none otherwise).
See docs/reliability.md for the table.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import attrs
import pytest
import requests
from helpers import T2I

from comfykit_sync import (
    AuthenticationError,
    ComfyKit,
    ExecutionTimeout,
    InvalidResponseError,
    ParameterError,
    PromptLostError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    SubmissionUnknownError,
    TransportError,
)
from comfykit_sync.events import Event
from comfykit_sync.http import HttpClient, request_deadline
from comfykit_sync.testing import FakeComfyUI, Script
from comfykit_sync.testing.fake_runninghub import FakeRunningHub
from comfykit_sync.testing.faults import FaultInjection

EXECUTORS = ["http", "websocket"]
BACKEND = {"http": "comfyui-http", "websocket": "comfyui-ws"}


def make_kit(server: FakeComfyUI, executor: str, **options) -> ComfyKit:
    options.setdefault("timeout", 20)
    options.setdefault("request_timeout", (2.0, 3.0))
    return ComfyKit(server.url, executor_type=executor, poll_max_interval=0.2, **options)


def assert_exactly_once(server: FakeComfyUI, expected: int) -> None:
    """``expected`` prompts reached the server, each submitted at most once."""
    prompts = server.prompts
    assert len(prompts) == expected, prompts
    assert all(record.submit_count <= 1 for record in prompts.values()), prompts


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=EXECUTORS)
def executor(request) -> str:
    return request.param


@pytest.fixture
def kit(fake_comfyui, executor):
    with make_kit(fake_comfyui, executor) as kit:
        yield kit


def completed(result, kit: ComfyKit, executor: str) -> None:
    assert result.status == "completed", result.msg
    assert result.backend == BACKEND[executor]
    assert result.images_by_var["image"]


# -- connection refused ----------------------------------------------------------------------
@pytest.mark.parametrize("executor_name", EXECUTORS)
def test_fault_connection_refused(executor_name):
    with ComfyKit(
        f"http://127.0.0.1:{closed_port()}", executor_type=executor_name, timeout=10
    ) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "failed"
    assert isinstance(result.error, TransportError) and result.prompt_id is None
    assert "refused" in result.msg or "could not connect" in result.msg


def test_fault_server_stopped_mid_run_fails_typed(executor):
    """The server may come back, so polling goes on (with backoff) until the job's timeout."""
    server = FakeComfyUI(duration=2.0).start()
    with make_kit(server, executor, timeout=1.5) as kit:
        timer = threading.Timer(0.3, server.stop)
        timer.start()
        result = kit.execute(T2I, {"prompt": "x"})
        timer.join()
    assert result.status == "failed"
    assert isinstance(result.error, (TransportError, PromptLostError, ExecutionTimeout)), (
        result.error
    )
    assert result.prompt_id  # it was queued before the server went away


# -- connection reset --------------------------------------------------------------------------
@pytest.mark.parametrize("at", ["headers", "body"])
def test_fault_reset_on_submit_queues_once_and_completes(kit, fake_comfyui, executor, at):
    fake_comfyui.fault("reset", "/prompt", at=at)
    result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


def test_fault_reset_before_the_server_processed_submit_retries_once(kit, fake_comfyui, executor):
    fake_comfyui.fault("reset", "/prompt", process=False)
    result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


def test_fault_reset_twice_before_processing_is_reported_not_queued(kit, fake_comfyui):
    """The server answers that it does not have the prompt after both sends: not queued."""
    fake_comfyui.fault("reset", "/prompt", times=2, process=False)
    result = kit.execute(T2I, {"prompt": "x"})
    error = result.error
    assert isinstance(error, TransportError) and not isinstance(error, SubmissionUnknownError)
    assert result.prompt_id is None
    assert sum(r.method == "POST" and r.path == "/prompt" for r in fake_comfyui.requests) == 2
    assert_exactly_once(fake_comfyui, 0)


@pytest.mark.parametrize("path", ["/queue", "/history/{id}"])
def test_fault_reset_while_waiting_is_retried(kit, fake_comfyui, executor, path):
    fake_comfyui.duration = 0.5
    job = kit.submit(T2I, {"prompt": "x"})
    fake_comfyui.fault("reset", path.format(id=job.prompt_id), times=2, at="body")
    result = job.result()
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


# -- read timeout ------------------------------------------------------------------------------
def test_fault_submit_slower_than_read_timeout_queues_once_and_completes(fake_comfyui, executor):
    fake_comfyui.fault("delay", "/prompt", seconds=1.5)
    with make_kit(fake_comfyui, executor, request_timeout=(2.0, 0.5)) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


def test_fault_history_slower_than_read_timeout_is_retried(fake_comfyui, executor):
    fake_comfyui.duration = 0.3
    with make_kit(fake_comfyui, executor, request_timeout=(2.0, 0.5)) as kit:
        job = kit.submit(T2I, {"prompt": "x"})
        fake_comfyui.fault("delay", f"/history/{job.prompt_id}", seconds=1.0)
        result = job.result()
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


@pytest.mark.parametrize("fault", ["read timeout", "504"])
def test_fault_submit_timed_out_is_looked_for_never_sent_again(fake_comfyui, executor, fault):
    """After a read timeout (or a gateway's 504) the server may still be working on the request:
    sending it again could run it twice, so the id is looked for until the deadline, then
    reported unknown."""
    if fault == "504":
        fake_comfyui.fault("status", "/prompt", times=5, status=504)
    else:
        fake_comfyui.fault("delay", "/prompt", times=5, seconds=1.5, process=False)
    with make_kit(fake_comfyui, executor, request_timeout=(2.0, 0.3), timeout=2) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, SubmissionUnknownError), result.error
    assert result.prompt_id and result.error.prompt_id == result.prompt_id
    assert "may have been queued" in result.msg
    assert sum(r.method == "POST" and r.path == "/prompt" for r in fake_comfyui.requests) == 1
    assert all(r.submit_count <= 1 for r in fake_comfyui.prompts.values())


# -- 5xx bursts and 429 ------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fault_5xx_burst_while_waiting_is_retried(kit, fake_comfyui, executor, status):
    fake_comfyui.duration = 0.4
    job = kit.submit(T2I, {"prompt": "x"})
    fake_comfyui.fault("status", "/queue", times=2, status=status)
    fake_comfyui.fault("status", f"/history/{job.prompt_id}", times=2, status=status)
    result = job.result()
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


@pytest.mark.parametrize("status", [502, 503])
def test_fault_5xx_on_submit_is_checked_then_retried_once(kit, fake_comfyui, executor, status):
    fake_comfyui.fault("status", "/prompt", status=status)
    result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


def test_fault_500_on_submit_is_a_failed_result_nothing_queued(kit, fake_comfyui):
    fake_comfyui.fault("status", "/prompt", status=500)
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, ServerError) and result.prompt_id is None
    assert_exactly_once(fake_comfyui, 0)


def test_fault_429_with_retry_after_is_honoured(kit, fake_comfyui, executor):
    fake_comfyui.fault("status", "/prompt", status=429, retry_after=0)
    result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)
    assert sum(r.path == "/prompt" and r.method == "POST" for r in fake_comfyui.requests) == 2


def test_fault_429_until_retries_run_out_is_rate_limit_error(kit, fake_comfyui):
    fake_comfyui.fault("status", "/prompt", times=10, status=429, retry_after=0)
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, RateLimitError) and result.prompt_id is None
    assert result.error.retry_after == 0
    assert_exactly_once(fake_comfyui, 0)


# -- malformed JSON ----------------------------------------------------------------------------
def test_fault_truncated_json_on_submit_is_invalid_response(kit, fake_comfyui):
    fake_comfyui.fault("truncated_json", "/prompt", process=False)
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, InvalidResponseError), result.error
    assert "non-JSON" in result.msg
    assert_exactly_once(fake_comfyui, 0)


def test_fault_truncated_json_on_history_is_invalid_response(fake_comfyui):
    fake_comfyui.duration = 0.3
    with make_kit(fake_comfyui, "http") as kit:
        job = kit.submit(T2I, {"prompt": "x"})
        fake_comfyui.fault("truncated_json", "/history", times=50)  # the batched read
        fake_comfyui.fault("truncated_json", f"/history/{job.prompt_id}", times=50)
        result = job.result()
    assert isinstance(result.error, InvalidResponseError), result.error
    assert result.prompt_id == job.prompt_id
    assert_exactly_once(fake_comfyui, 1)


@pytest.mark.parametrize("fault", ["truncated_json", "reset", "status"])
def test_fault_on_the_batched_history_read_falls_back_to_the_prompts_entry(fake_comfyui, fault):
    fake_comfyui.duration = 0.3
    with make_kit(fake_comfyui, "http") as kit:
        job = kit.submit(T2I, {"prompt": "x"})
        fake_comfyui.fault(fault, "/history", times=50)
        result = job.result()
    completed(result, kit, "http")
    assert any(r.path == f"/history/{job.prompt_id}" for r in fake_comfyui.requests)
    assert_exactly_once(fake_comfyui, 1)


# -- WebSocket drop, restart, inverted final event ---------------------------------------------
def test_fault_websocket_drop_mid_run_completes(fake_comfyui):
    fake_comfyui.script(Script(duration=0.6, drop_socket_after=0.2))
    with make_kit(fake_comfyui, "websocket") as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, "websocket")
    assert_exactly_once(fake_comfyui, 1)


def test_fault_restart_loses_queue_and_history(kit, fake_comfyui):
    fake_comfyui.duration = 2.0
    job = kit.submit(T2I, {"prompt": "x"})
    fake_comfyui.forget_all()
    result = job.result()
    assert isinstance(result.error, PromptLostError), result.error
    assert result.prompt_id == job.prompt_id
    assert_exactly_once(fake_comfyui, 1)


def test_fault_final_event_before_history_still_gets_the_entry(kit, fake_comfyui, executor):
    fake_comfyui.script(Script(duration=0.1, history_after_final=0.5))
    result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert result.texts_by_var == {"caption": ["x"]}
    assert_exactly_once(fake_comfyui, 1)


# -- lost /prompt reply -----------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["reset", "status"])
def test_fault_lost_submit_reply_and_failing_reads_resolve_by_prompt_id(
    kit, fake_comfyui, executor, fault
):
    """The server queued the prompt, its reply was lost and the next reads fail too: the id is
    looked for with backoff until the server answers; the job is neither lost nor run twice."""
    fake_comfyui.fault("reset", "/prompt")
    fake_comfyui.fault(fault, "*", times=4, process=False, status=503)
    result = kit.execute(T2I, {"prompt": "x"})
    completed(result, kit, executor)
    assert_exactly_once(fake_comfyui, 1)


def test_fault_lost_submit_reply_unresolved_by_the_deadline_is_submission_unknown(
    fake_comfyui, executor
):
    fake_comfyui.fault("reset", "/prompt")
    fake_comfyui.fault("reset", "*", times=10**6, process=False)  # until cleared
    with make_kit(fake_comfyui, executor, timeout=1.5) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
        fake_comfyui.clear_faults()
        error = result.error
        assert isinstance(error, SubmissionUnknownError) and isinstance(error, TransportError)
        assert result.prompt_id and error.prompt_id == result.prompt_id
        assert "may have been queued" in result.msg and "kit.job(" in result.msg
        again = kit.job(result.prompt_id).result()  # picked up by its id, not sent again
    completed(again, kit, executor)
    assert again.prompt_id == result.prompt_id
    assert_exactly_once(fake_comfyui, 1)


# -- frozen server (accepts connections, never answers) -----------------------------------------
FREEZE = 30.0  # longer than every bound asserted below: only the deadlines can end the waits


def freeze_on_first_event(server: FakeComfyUI):
    def on_event(event: Event) -> None:
        server.freeze(seconds=FREEZE)  # freezing a frozen server does nothing

    return on_event


def test_fault_frozen_server_mid_run_execute_returns_at_its_deadline(fake_comfyui, executor):
    fake_comfyui.duration = FREEZE
    options = {"request_timeout": (5.0, 60.0), "cancel_timeout": 1.0}  # the default timeouts
    with make_kit(fake_comfyui, executor, **options) as kit:
        started = time.monotonic()
        result = kit.execute(
            T2I, {"prompt": "x"}, timeout=2, on_event=freeze_on_first_event(fake_comfyui)
        )
        elapsed = time.monotonic() - started
        fake_comfyui.resume()
    assert elapsed < 15, elapsed  # the deadline (2 s) and the cancel's own bound (1 s)
    error = result.error
    assert isinstance(error, ExecutionTimeout) and error.deadline == "total", error
    assert error.cancel_confirmed is False and error.cancelled is False
    assert result.prompt_id and error.prompt_id == result.prompt_id
    assert "did not answer the cancel within 1 s" in result.msg
    assert "may still run" in result.msg
    assert_exactly_once(fake_comfyui, 1)


def test_fault_frozen_server_while_queued_the_queue_deadline_holds(fake_comfyui, executor):
    fake_comfyui.duration = FREEZE
    options = {"request_timeout": (5.0, 60.0), "cancel_timeout": 1.0}
    with make_kit(fake_comfyui, executor, **options) as kit:
        first = kit.submit(T2I, {"prompt": "first"})
        second = kit.submit(T2I, {"prompt": "second"}, timeout=60, queue_timeout=1)
        fake_comfyui.freeze(seconds=FREEZE)
        started = time.monotonic()
        result = second.result()
        elapsed = time.monotonic() - started
        fake_comfyui.resume()
        first.cancel()
    assert elapsed < 15, elapsed
    error = result.error
    assert isinstance(error, ExecutionTimeout) and error.deadline == "queue", error
    assert error.cancel_confirmed is False


def test_fault_frozen_server_job_status_and_cancel_raise_in_bounded_time(fake_comfyui, executor):
    """A web view polling a frozen server answers: one request_timeout for status(), retries
    included; cancel_timeout for cancel()."""
    fake_comfyui.duration = FREEZE
    with make_kit(
        fake_comfyui, executor, request_timeout=(1.0, 3.0), cancel_timeout=1.0
    ) as kit:
        job = kit.submit(T2I, {"prompt": "x"}, timeout=60)
        with fake_comfyui.frozen(seconds=FREEZE):
            started = time.monotonic()
            with pytest.raises(RequestTimeout):
                job.status()
            status_took = time.monotonic() - started
            started = time.monotonic()
            with pytest.raises(TransportError):
                job.cancel()
            cancel_took = time.monotonic() - started
        assert job.cancel()  # answered again
    assert status_took < 7, status_took  # 3 s; three attempts of 3 s each before the fix
    assert cancel_took < 7, cancel_took


def test_fault_frozen_server_before_submit_returns_at_the_deadline(fake_comfyui, executor):
    with make_kit(fake_comfyui, executor) as kit:
        with fake_comfyui.frozen(seconds=FREEZE):
            started = time.monotonic()
            result = kit.execute(T2I, {"prompt": "x"}, timeout=2)
            elapsed = time.monotonic() - started
        assert elapsed < 15, elapsed
        assert isinstance(result.error, TransportError), result.error
        if executor == "http":  # POST /prompt waits unread in the frozen server: it may run
            assert isinstance(result.error, SubmissionUnknownError)
            again = kit.job(result.prompt_id).result()
            completed(again, kit, executor)
            assert_exactly_once(fake_comfyui, 1)
        else:  # the WebSocket handshake comes first: nothing was submitted
            assert result.prompt_id is None
            assert_exactly_once(fake_comfyui, 0)


def test_request_deadline_bounds_every_attempt_and_the_retries(fake_comfyui):
    http = HttpClient(fake_comfyui.url, timeout=(5.0, 60.0))
    with fake_comfyui.frozen(seconds=FREEZE):
        started = time.monotonic()
        with request_deadline(started + 1.0), pytest.raises(RequestTimeout):
            http.request("GET", "/queue")
        elapsed = time.monotonic() - started
        with request_deadline(time.monotonic() - 1), pytest.raises(RequestTimeout) as late:
            http.request("GET", "/queue")
    http.close()
    assert elapsed < 5, elapsed
    assert late.value.sent is False and "deadline passed" in str(late.value)


# -- big and odd payloads ----------------------------------------------------------------------
def test_fault_five_mebibyte_websocket_frame(kit, fake_comfyui, executor):
    huge = "x" * (5 * 1024 * 1024)
    fake_comfyui.script(Script(outputs={"10": {"text": [huge]}}))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert result.texts_by_var["caption"] == [huge]
    assert_exactly_once(fake_comfyui, 1)


def test_fault_unknown_output_keys_are_kept(kit, fake_comfyui, executor):
    odd = {"meshes": [{"filename": "m.glb", "subfolder": "", "type": "output"}], "score": [0.5]}
    fake_comfyui.script(Script(outputs={"10": odd}))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert result.outputs["10"] == odd
    assert any("m.glb" in (artifact.url or "") for artifact in result.artifacts)
    assert_exactly_once(fake_comfyui, 1)


# -- exactly once across a mix of executes -------------------------------------------------------
def test_fault_prompts_equal_executes_past_validation(kit, fake_comfyui):
    fake_comfyui.fault("reset", "/prompt", at="body")
    fake_comfyui.fault("delay", "/history/none", seconds=0.1)  # unrelated path: no effect
    ok = kit.execute(T2I, {"prompt": "a"})
    with pytest.raises(ParameterError):  # a caller mistake: raised before anything is sent
        kit.execute(T2I, {"nope": 1})
    assert ok.status == "completed"
    assert_exactly_once(fake_comfyui, 1)


def test_fault_names_are_validated(fake_comfyui):
    with pytest.raises(ValueError, match="unknown fault"):
        fake_comfyui.fault("meteor")
    with pytest.raises(ValueError):
        fake_comfyui.fault("reset", at="middle")
    with pytest.raises(ValueError, match="times"):
        fake_comfyui.fault("delay", "/queue", times=0)
    assert fake_comfyui.pending_faults == []


# -- one mechanism for every fake (comfykit_sync.testing.faults) --------------------------------
@attrs.frozen
class Probe:
    """A fake, an endpoint of it and a request that endpoint answers with JSON."""

    server: FaultInjection
    path: str
    call: Callable[..., requests.Response]
    submit: Callable[[], requests.Response]


@pytest.fixture(params=["comfyui", "runninghub"])
def probe(request) -> Iterator[Probe]:
    if request.param == "comfyui":
        with FakeComfyUI() as server:
            yield Probe(
                server,
                "/queue",
                lambda **kw: requests.get(server.url + "/queue", **kw),
                lambda: requests.post(server.url + "/prompt", json={}, timeout=5),
            )
        return
    with FakeRunningHub(api_key=RH_KEY) as hub:
        status = hub.url + "/task/openapi/status"
        create = hub.url + "/task/openapi/create"
        yield Probe(
            hub,
            "/task/openapi/status",
            lambda **kw: requests.post(status, json={"apiKey": RH_KEY, "taskId": "1"}, **kw),
            lambda: requests.post(create, json={"apiKey": RH_KEY}, timeout=5),
        )


def test_shared_faults_status_truncated_json_and_reset(probe: Probe) -> None:
    normal = probe.call(timeout=5)
    assert normal.status_code == 200 and normal.json()
    probe.server.fault("status", probe.path, status=502, body={"error": "bad gateway"})
    failed = probe.call(timeout=5)
    assert (failed.status_code, failed.json()) == (502, {"error": "bad gateway"})
    probe.server.fail_requests(probe.path, status=429, retry_after=7)
    limited = probe.call(timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.text == "429: Too Many Requests"
    probe.server.fault("truncated_json", probe.path)
    cut = probe.call(timeout=5)
    assert cut.status_code == 200 and normal.content.startswith(cut.content) and cut.content
    with pytest.raises(ValueError):
        cut.json()
    for at in ("headers", "body"):
        probe.server.fault("reset", probe.path, at=at)
        with pytest.raises(requests.RequestException):
            probe.call(timeout=5)
    assert probe.call(timeout=5).json() == normal.json()


def test_shared_faults_delay_takes_effect_but_answers_late(probe: Probe) -> None:
    """``delay`` answers the real reply late; ``seconds`` makes any other fault late too (a
    gateway that times out, then answers 504)."""
    probe.server.fault("delay", probe.path, seconds=2.0)
    probe.server.fault("status", probe.path, status=504, seconds=2.0)
    for _ in range(2):
        with pytest.raises(requests.ReadTimeout):
            probe.call(timeout=(5, 0.2))
    assert probe.call(timeout=5).status_code == 200  # only the next requests were late


def test_shared_faults_order_any_path_and_clearing(probe: Probe) -> None:
    """The first fault for a path applies; ``*`` waits until the faults before it are used up."""
    server = probe.server
    server.fault("status", probe.path, status=500)
    server.fault("status", "*", times=2, status=503)
    assert [f.path for f in server.pending_faults] == [probe.path, "*"]
    assert probe.submit().status_code != 503  # "*" is not first yet
    assert probe.call(timeout=5).status_code == 500
    assert [probe.submit().status_code, probe.call(timeout=5).status_code] == [503, 503]
    assert probe.call(timeout=5).status_code == 200 and server.pending_faults == []
    server.fault("status", "*", times=100)
    server.clear_faults()
    assert probe.call(timeout=5).status_code == 200


def test_shared_faults_default_to_the_submission_endpoint(probe: Probe) -> None:
    probe.server.fault("status")
    assert probe.call(timeout=5).status_code == 200
    assert probe.submit().status_code == 503


def test_fault_with_process_takes_effect_on_every_fake(fake_comfyui: FakeComfyUI) -> None:
    """``status`` takes no effect unless asked; the other faults do unless told not to."""
    with FakeRunningHub(api_key=RH_KEY) as hub:
        workflow_id = hub.add_workflow(json.loads(T2I.read_text()))
        body = {"apiKey": RH_KEY, "workflowId": workflow_id}
        for options, created in [({}, 0), ({"process": True}, 1)]:
            hub.fault("status", status=502, **options)
            reply = requests.post(hub.url + RH_CREATE, json=body, timeout=5)
            assert reply.status_code == 502 and len(hub.tasks) == created
        hub.fault("reset")
        with pytest.raises(requests.RequestException):
            requests.post(hub.url + RH_CREATE, json=body, timeout=5)
        assert len(hub.tasks) == 2


# -- RunningHub ---------------------------------------------------------------------------------
RH_KEY = "rh-fault-key"
RH_CREATE, RH_OUTPUTS = "/task/openapi/create", "/task/openapi/outputs"


@pytest.fixture
def hub_kit(monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    with FakeRunningHub(api_key=RH_KEY, run_time=0.05) as hub:
        workflow_id = hub.add_workflow(json.loads(T2I.read_text()))
        options = {"poll_max_interval": 0.05, "runninghub_timeout": 20}
        with ComfyKit(
            runninghub_url=hub.url, runninghub_api_key=RH_KEY, runninghub_retry_count=2, **options
        ) as kit:
            yield hub, kit, workflow_id


def test_fault_runninghub_queue_full_is_retried_once_nothing_was_created(hub_kit):
    hub, kit, workflow_id = hub_kit
    hub.respond(RH_CREATE, 421)
    result = kit.execute(workflow_id, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert len(hub.tasks) == 1


def test_fault_runninghub_queue_full_until_retries_run_out(hub_kit):
    hub, kit, workflow_id = hub_kit
    hub.respond(RH_CREATE, 421, times=3)
    result = kit.execute(workflow_id, {"prompt": "x"})
    assert isinstance(result.error, RateLimitError) and result.prompt_id is None
    assert hub.tasks == {}


@pytest.mark.parametrize("code", [804, 813])  # task running / task queued
def test_fault_runninghub_outputs_not_ready_keeps_waiting(hub_kit, code):
    hub, kit, workflow_id = hub_kit
    hub.respond(RH_OUTPUTS, code, times=2)
    result = kit.execute(workflow_id, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert len(hub.tasks) == 1


def test_fault_runninghub_create_reply_reset_is_not_retried(hub_kit):
    """The task exists but its reply is lost: asking again would bill a second task."""
    hub, kit, workflow_id = hub_kit
    hub.fault("reset", RH_CREATE, at="body")
    result = kit.execute(workflow_id, {"prompt": "x"})
    assert result.status == "failed" and isinstance(result.error, TransportError), result.msg
    assert len(hub.tasks) == 1


def test_fault_runninghub_truncated_json_while_waiting_is_a_typed_error(hub_kit):
    hub, kit, workflow_id = hub_kit
    hub.fault("truncated_json", "/task/openapi/outputs", times=50)
    result = kit.execute(workflow_id, {"prompt": "x"})
    assert isinstance(result.error, InvalidResponseError) and result.prompt_id, result.msg
    assert len(hub.tasks) == 1


def test_fault_runninghub_invalid_key(hub_kit):
    hub, kit, workflow_id = hub_kit
    hub.respond(RH_CREATE, 802)
    result = kit.execute(workflow_id, {"prompt": "x"})
    assert isinstance(result.error, AuthenticationError) and result.prompt_id is None
    assert hub.tasks == {}
