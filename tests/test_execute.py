"""``ComfyKit.execute`` end to end against the fake ComfyUI server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from helpers import T2I, WORKFLOWS, execute_numbered

import comfykit_sync
from comfykit_sync import (
    ComfyKit,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionTimeout,
    InvalidResponseError,
    ParameterError,
    PromptLostError,
    ServerError,
    TransportError,
    WorkflowLoadError,
    WorkflowValidationError,
)
from comfykit_sync.testing import Script

I2I = WORKFLOWS / "image_to_image.json"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def kit(fake_comfyui):
    with ComfyKit(fake_comfyui.url, timeout=30) as kit:
        yield kit


def graph(path: Path) -> dict:
    return json.loads(path.read_text())


def test_text_to_image(kit, fake_comfyui):
    result = kit.execute(T2I, {"prompt": "a red fox", "steps": "12"})
    assert result.status == "completed", result.msg
    assert result.msg is None and result.error is None
    assert result.backend == "comfyui-http" and result.duration > 0
    [url] = result.images_by_var["image"]
    assert url == f"{fake_comfyui.url}/view?filename=ComfyKit_00001_.png&subfolder=&type=output"
    assert result.images == [url] and result.videos == [] and result.audios == []
    assert result.texts_by_var == {"caption": ["a red fox"]}
    assert set(result.outputs) == {"9", "10"}
    record = fake_comfyui.prompts[result.prompt_id]
    assert record.submit_count == 1
    assert record.client_id == kit.config.client_id
    sent = record.graph
    assert sent["6"]["inputs"]["text"] == "a red fox"
    assert sent["3"]["inputs"]["steps"] == 12  # coerced to the workflow's int type
    # seed 0 is randomised, and the seed used is reported
    assert sent["3"]["inputs"]["seed"] == result.seeds["3"] != 0


def test_explicit_seed_is_kept_and_reported(kit, fake_comfyui):
    result = kit.execute(T2I, {"prompt": "x", "seed": 1234})
    assert result.seeds == {"3": 1234}
    assert fake_comfyui.prompts[result.prompt_id].graph["3"]["inputs"]["seed"] == 1234


def test_seed_policy_off_keeps_zero(fake_comfyui):
    with ComfyKit(fake_comfyui.url, seed_policy="off") as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert result.seeds == {"3": 0}


def test_execute_json_and_cached_rerun(kit, fake_comfyui):
    wf = graph(T2I)
    first = kit.execute_json(wf, {"prompt": "same", "seed": 7})
    second = kit.execute_json(wf, {"prompt": "same", "seed": 7})
    assert first.status == second.status == "completed"
    # a fully cached re-run still returns its outputs (history is the authority)
    assert second.images == first.images and second.texts == ["same"]


def test_caller_mistakes_raise_before_anything_is_sent(kit, fake_comfyui, tmp_path):
    with pytest.raises(ParameterError, match="prompt"):
        kit.execute(T2I, {})
    with pytest.raises(ParameterError) as info:
        kit.execute(T2I, {"prompt": "x", "promt": "y", "colour": 1})
    assert "promt" in str(info.value) and "negative" in str(info.value)  # lists known names
    with pytest.raises(ParameterError, match="steps"):
        kit.execute(T2I, {"prompt": "x", "steps": "many"})
    with pytest.raises(ParameterError, match="not found"):
        kit.execute(I2I, {"image": tmp_path / "missing.png"})
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(WorkflowLoadError, match="no nodes to run"):  # UI format, but empty
        kit.execute(ui)
    with pytest.raises(comfykit_sync.ConfigurationError, match="unknown backend"):
        kit.execute(T2I, {"prompt": "x"}, backend="nope")
    assert fake_comfyui.prompts == {}
    assert not any(r.path.endswith("/upload/image") for r in fake_comfyui.requests)


def test_rejected_workflow_names_the_parameter(kit, fake_comfyui):
    wf = graph(T2I)
    wf["4"]["_meta"]["title"] = "$model.ckpt_name"
    result = kit.execute_json(wf, {"prompt": "x", "model": "missing.safetensors"})
    assert result.status == "failed" and result.prompt_id is None
    assert isinstance(result.error, WorkflowValidationError)
    assert "parameter 'model'" in result.msg and "node 4" in result.msg
    assert "missing.safetensors" in result.msg
    assert result.error.param_errors.keys() == {"model"}
    assert result.error.node_errors["4"]["class_type"] == "CheckpointLoaderSimple"
    with pytest.raises(WorkflowValidationError):
        result.raise_for_status()
    with pytest.raises(WorkflowValidationError):
        kit.execute_json(wf, {"prompt": "x", "model": "nope"}, raise_on_error=True)
    assert all(r.status == "rejected" for r in fake_comfyui.prompts.values())


def _two_branch_workflow() -> dict:
    wf = graph(T2I)
    wf["20"] = {
        "class_type": "LoadImage",
        "inputs": {"image": "example.png"},
        "_meta": {"title": "$photo.image"},
    }
    wf["21"] = {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": "b", "images": ["20", 0]},
        "_meta": {"title": "$output.copy"},
    }
    return wf


#: a server file in a subfolder: the input listing cannot vouch for it, so only the server
#: refuses it (a plain unknown name is refused before sending)
MISSING_SERVER_FILE = "sub/nope.png"


def test_partially_invalid_prompt_fails_and_is_cancelled(kit, fake_comfyui):
    fake_comfyui.duration = 2.0
    result = kit.execute_json(_two_branch_workflow(), {"prompt": "x", "photo": MISSING_SERVER_FILE})
    assert result.status == "failed"
    assert isinstance(result.error, WorkflowValidationError)
    assert "parameter 'photo'" in result.msg and "node 20" in result.msg
    assert result.error.prompt_id == result.prompt_id
    for _ in range(300):  # the server applies an interrupt asynchronously (bounded wait)
        if fake_comfyui.prompts[result.prompt_id].status in ("deleted", "interrupted"):
            break
        time.sleep(0.01)
    assert fake_comfyui.prompts[result.prompt_id].status in ("deleted", "interrupted")


def test_partially_invalid_prompt_can_run_with_warnings(fake_comfyui):
    with ComfyKit(fake_comfyui.url, on_node_errors="warn") as kit:
        params = {"prompt": "x", "photo": MISSING_SERVER_FILE}
        result = kit.execute_json(_two_branch_workflow(), params)
    assert result.status == "completed"
    assert result.images_by_var.keys() == {"image"}  # the invalid branch did not run
    assert "parameter 'photo'" in result.warnings[0]


def test_execution_error_names_node_and_parameters(kit, fake_comfyui):
    fake_comfyui.script(
        Script(
            error_node="3", error_message="CUDA out of memory", error_type="torch.OutOfMemoryError"
        )
    )
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "failed" and result.prompt_id
    error = result.error
    assert type(error) is ExecutionError
    assert (error.node_id, error.node_type) == ("3", "KSampler")
    assert error.exception_type == "torch.OutOfMemoryError" and error.traceback
    assert "node 3 (KSampler)" in result.msg and "CUDA out of memory" in result.msg
    assert "seed, steps, cfg" in result.msg


def test_blocked_notice_is_not_an_error(kit, fake_comfyui):
    fake_comfyui.script(Script(blocked_node="3"))
    assert kit.execute(T2I, {"prompt": "x"}).status == "completed"


def test_interrupted_is_told_apart(kit, fake_comfyui):
    fake_comfyui.script(Script(duration=2, interrupt_after=0.1))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "failed"
    assert isinstance(result.error, ExecutionInterrupted)
    assert "interrupted" in result.msg


def test_vanished_prompt_is_reported_not_waited_for(kit, fake_comfyui):
    fake_comfyui.script(Script(vanish=True))
    result = kit.execute(T2I, {"prompt": "x"}, timeout=20)
    assert isinstance(result.error, PromptLostError)
    assert result.prompt_id and result.duration < 20


def test_server_restart_loses_the_prompt(kit, fake_comfyui):
    fake_comfyui.duration = 2.0
    timer = threading.Timer(0.2, fake_comfyui.forget_all)
    timer.start()
    result = kit.execute(T2I, {"prompt": "x"}, timeout=20)
    timer.join()
    assert isinstance(result.error, PromptLostError)


def test_timeout_interrupts_the_running_prompt(kit, fake_comfyui):
    fake_comfyui.duration = 5.0
    result = kit.execute(T2I, {"prompt": "x"}, timeout=0.5)
    assert result.status == "failed"
    assert isinstance(result.error, ExecutionTimeout) and isinstance(result.error, TimeoutError)
    assert result.error.cancelled and "cancelled" in result.msg
    for _ in range(300):  # the server applies the interrupt asynchronously (bounded wait)
        if fake_comfyui.prompts[result.prompt_id].status == "interrupted":
            break
        time.sleep(0.01)
    assert fake_comfyui.prompts[result.prompt_id].status == "interrupted"


def test_timeout_deletes_a_pending_prompt(kit, fake_comfyui):
    fake_comfyui.duration = 3.0
    blocker = threading.Thread(
        target=kit.execute, args=(T2I, {"prompt": "first"}), kwargs={"timeout": 1.5}
    )
    blocker.start()
    try:
        for _ in range(200):  # until the first prompt runs (bounded)
            if any(r.status == "running" for r in fake_comfyui.prompts.values()):
                break
            time.sleep(0.01)
        result = kit.execute(T2I, {"prompt": "second"}, timeout=0.5)
    finally:
        blocker.join()
    assert isinstance(result.error, ExecutionTimeout) and result.error.cancelled
    assert fake_comfyui.prompts[result.prompt_id].status == "deleted"


def test_ambiguous_submit_failure_is_checked_not_duplicated(kit, fake_comfyui):
    fake_comfyui.fail_requests("/prompt", status=503, times=1)
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed"
    assert fake_comfyui.prompts[result.prompt_id].submit_count == 1


def test_server_error_on_submit_is_a_failed_result(kit, fake_comfyui):
    fake_comfyui.script(Script(submit_status=500))
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, ServerError) and "HTTP 500" in result.msg
    assert result.prompt_id is None


def test_non_json_reply_is_a_typed_error(kit, fake_comfyui):
    fake_comfyui.fail_requests("/prompt", status=200, body="<html>proxy login</html>")
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, InvalidResponseError)
    assert "non-JSON" in result.msg and "proxy login" in result.msg


def test_history_5xx_while_polling_is_retried(kit, fake_comfyui):
    fake_comfyui.duration = 0.3

    def fail_history():
        for record in fake_comfyui.prompts.values():
            fake_comfyui.fail_requests(f"/history/{record.prompt_id}", status=502, times=3)

    timer = threading.Timer(0.1, fail_history)
    timer.start()
    result = kit.execute(T2I, {"prompt": "x"})
    timer.join()
    assert result.status == "completed", result.msg


def test_unreachable_server_is_a_failed_result():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ComfyKit(f"http://127.0.0.1:{port}") as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, TransportError) and result.prompt_id is None
    assert "could not connect" in result.msg


# -- uploads ---------------------------------------------------------------------------------
def test_upload_local_path_streams_the_file(kit, fake_comfyui, tmp_path):
    path = tmp_path / "my cat.png"
    path.write_bytes(PNG)
    result = kit.execute(I2I, {"image": path})
    assert result.status == "completed", result.msg
    name = fake_comfyui.prompts[result.prompt_id].graph["10"]["inputs"]["image"]
    assert name == "my cat.png"
    assert (fake_comfyui.input_dir / name).read_bytes() == PNG
    # the same file again reuses the server's copy; different bytes get a new name
    kit.execute(I2I, {"image": str(path)})
    path.write_bytes(PNG + b"changed")
    again = kit.execute(I2I, {"image": path})
    assert fake_comfyui.prompts[again.prompt_id].graph["10"]["inputs"]["image"] == "my cat (1).png"


@pytest.mark.parametrize(
    "make",
    [
        lambda p: PNG,
        lambda p: io.BytesIO(PNG),
        lambda p: open(p, "rb"),  # noqa: SIM115 - closed by the test's tmp_path cleanup
    ],
)
def test_upload_bytes_and_file_objects(kit, fake_comfyui, tmp_path, make):
    path = tmp_path / "src.png"
    path.write_bytes(PNG)
    result = kit.execute(I2I, {"image": make(path)})
    assert result.status == "completed", result.msg
    name = fake_comfyui.prompts[result.prompt_id].graph["10"]["inputs"]["image"]
    assert name.endswith(".png") and (fake_comfyui.input_dir / name).read_bytes() == PNG


def test_upload_into_a_subfolder(fake_comfyui, tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    with ComfyKit(fake_comfyui.url, upload_subfolder="sdk") as kit:
        result = kit.execute(I2I, {"image": path})
    assert result.status == "completed", result.msg
    assert fake_comfyui.prompts[result.prompt_id].graph["10"]["inputs"]["image"] == "sdk/a.png"


def test_upload_from_url_without_leaking_credentials(fake_comfyui, recording_server):
    url = recording_server.route("/media/dog.png", PNG)
    with ComfyKit(fake_comfyui.url, api_key="sk-secret") as kit:
        result = kit.execute(I2I, {"image": url})
    assert result.status == "completed", result.msg
    assert fake_comfyui.prompts[result.prompt_id].graph["10"]["inputs"]["image"] == "dog.png"
    assert "Authorization" not in recording_server.requests[-1]["headers"]


def test_server_side_file_name_is_used_verbatim(kit, fake_comfyui):
    result = kit.execute(I2I, {"image": "example.png"})
    assert result.status == "completed", result.msg
    assert fake_comfyui.prompts[result.prompt_id].graph["10"]["inputs"]["image"] == "example.png"
    assert not any(r.path.endswith("/upload/image") for r in fake_comfyui.requests)


def test_default_upload_value_is_not_uploaded_from_cwd(kit, fake_comfyui, tmp_path, monkeypatch):
    (tmp_path / "example.png").write_bytes(b"local file that must not be uploaded")
    monkeypatch.chdir(tmp_path)
    result = kit.execute(I2I)
    assert result.status == "completed", result.msg
    assert not any(r.path.endswith("/upload/image") for r in fake_comfyui.requests)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda p: p, True),
        (lambda p: str(p), True),
        (lambda p: b"", False),
        (lambda p: io.BytesIO(), False),
        (lambda p: open(p, "rb"), True),  # noqa: SIM115 - closed by the tmp_path cleanup
    ],
    ids=["Path", "str", "bytes", "BytesIO", "file"],
)
def test_empty_upload_is_refused_before_sending(kit, fake_comfyui, tmp_path, make, named):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ParameterError, match=r"parameter 'image': .*empty \(0 bytes\)") as info:
        kit.execute(I2I, {"image": make(empty)})
    assert info.value.params == ("image",)
    assert ("empty.png" in str(info.value)) is named  # names the file when it has a name
    assert fake_comfyui.requests == []


def test_empty_download_is_not_uploaded(kit, fake_comfyui, recording_server):
    url = recording_server.route("/media/empty.png", b"")
    result = kit.execute(I2I, {"image": url})
    assert isinstance(result.error, ParameterError) and "'empty.png' is empty" in result.msg
    assert not any(r.path.endswith("/upload/image") for r in fake_comfyui.requests)
    assert fake_comfyui.prompts == {}


def test_server_file_name_the_server_does_not_list_is_refused_before_sending(kit, fake_comfyui):
    with pytest.raises(ParameterError) as info:
        kit.execute(I2I, {"image": "nope.png"})
    assert info.value.params == ("image",)
    message = str(info.value)
    assert "parameter 'image'" in message and "'nope.png'" in message
    assert "LoadImage input 'image'" in message and "'example.png'" in message
    assert fake_comfyui.prompts == {}
    assert [r.path for r in fake_comfyui.requests] == ["/object_info/LoadImage"]
    # the listing is read on each submit: a file that arrived since is accepted
    (fake_comfyui.input_dir / "nope.png").write_bytes(PNG)
    assert kit.execute(I2I, {"image": "nope.png"}).status == "completed"


def test_server_file_names_the_listing_cannot_vouch_for_are_left_to_the_server(
    kit, fake_comfyui
):
    (fake_comfyui.input_dir / "sub").mkdir()
    (fake_comfyui.input_dir / "sub" / "a.png").write_bytes(PNG)
    assert kit.execute(I2I, {"image": "sub/a.png"}).status == "completed"  # not listed
    result = kit.execute(I2I, {"image": "sub/missing.png"})
    assert isinstance(result.error, WorkflowValidationError) and "sub/missing.png" in result.msg


def test_server_file_names_are_not_checked_when_the_server_cannot_list_them(kit, fake_comfyui):
    fake_comfyui.fail_requests("/object_info/LoadImage", status=500)
    result = kit.execute(I2I, {"image": "nope.png"})  # the server decides
    assert isinstance(result.error, WorkflowValidationError) and "nope.png" in result.msg


# -- results and credentials -----------------------------------------------------------------
def test_view_urls_are_percent_encoded_and_downloadable(kit, fake_comfyui, tmp_path):
    wf = graph(T2I)
    wf["9"]["inputs"]["filename_prefix"] = "a b&c#d+é/sub dir/x"
    result = kit.execute_json(wf, {"prompt": "x"})
    [url] = result.images
    assert " " not in url and "#" not in url and "%26" in url and "subfolder=a+b%26c%23d%2B" in url
    saved = kit.download(result.artifacts[0], tmp_path / "out.png")
    assert saved.read_bytes().startswith(b"\x89PNG")


def test_credentials_reach_every_request_but_not_extra_data(fake_comfyui):
    with ComfyKit(fake_comfyui.url, api_key="sk-proxy", cookies={"sid": "c1"}) as kit:
        result = kit.execute(I2I, {"image": PNG})
    assert result.status == "completed"
    assert fake_comfyui.requests
    for record in fake_comfyui.requests:
        headers = {k.lower(): v for k, v in record.headers.items()}
        assert headers["authorization"] == "Bearer sk-proxy" and headers["cookie"] == "sid=c1"
    assert "api_key_comfy_org" not in fake_comfyui.prompts[result.prompt_id].extra_data


def test_comfy_org_key_is_a_separate_setting(fake_comfyui):
    with ComfyKit(fake_comfyui.url, comfy_org_api_key="corg") as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert fake_comfyui.prompts[result.prompt_id].extra_data["api_key_comfy_org"] == "corg"


# -- thread safety ---------------------------------------------------------------------------
def test_one_kit_shared_by_32_threads_never_mixes_results(tmp_path):
    from comfykit_sync.testing import FakeComfyUI

    wf = graph(T2I)
    wf["9"]["_meta"]["title"] = "$prefix.filename_prefix, $output.image"
    with FakeComfyUI(workers=8, duration=0.0) as server, ComfyKit(server.url) as kit:
        results = execute_numbered(kit, wf, n_jobs=200, n_threads=32)
        assert len(results) == 200
        for i, res in results.items():
            assert res.status == "completed", res.msg
            assert res.texts_by_var == {"caption": [f"prompt {i}"]}
            [url] = res.images_by_var["image"]
            assert f"filename=job{i}_00001_.png" in url
            assert server.prompts[res.prompt_id].graph["6"]["inputs"]["text"] == f"prompt {i}"
        assert len({res.prompt_id for res in results.values()}) == 200


def test_demo_command_runs_and_saves_outputs(tmp_path, capsys):
    from comfykit_sync.cli import main

    assert main(["demo", "--output", str(tmp_path), "--duration", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "status:    completed" in out and "images[image]" in out
    [saved] = tmp_path.glob("*.png")
    assert saved.read_bytes().startswith(b"\x89PNG")


def test_queue_watcher_wakes_a_waiter_only_when_its_prompt_changes():
    """32 waiters must not all be woken by every /queue poll that tells them nothing new."""
    from comfykit_sync.backends._queue_watch import Tracked

    tracked = Tracked("p")
    tracked.update("running", None, None)
    assert tracked.changed.is_set()
    tracked.changed.clear()
    tracked.update("running", None, None)
    assert not tracked.changed.is_set()
    tracked.update("gone", None, None)
    assert tracked.changed.is_set() and tracked.state == "gone"


def test_queue_watcher_polls_fast_for_prompts_that_can_finish_not_for_pending_ones():
    from comfykit_sync.backends._queue_watch import QueueWatch, Tracked

    watch = QueueWatch(None, max_interval=2.0)  # type: ignore[arg-type]  # no request is made
    now = time.monotonic()
    old, fresh = Tracked("old", since=now - 60), Tracked("fresh", since=now - 30)
    watch._tracked = [old, fresh]
    assert watch._youngest() == now - 30  # not seen yet: may be cached and finish at once
    fresh.update("pending", 5, None)
    assert watch._youngest() == now - 60  # deep in the queue: cannot finish next
    old.update("pending", 0, None)
    assert watch._youngest() == now - 60  # nothing can finish: the schedule keeps slowing down
    fresh.update("running", None, None)
    assert watch._youngest() == fresh.running_since >= now


def test_finished_prompts_are_read_from_one_batched_history_request(kit, fake_comfyui):
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    paths = [(r.path, r.query) for r in fake_comfyui.requests if r.path.startswith("/history")]
    assert (f"/history/{result.prompt_id}", {}) not in paths
    assert any(path == "/history" and "max_items" in query for path, query in paths)


def test_a_server_ignoring_max_items_is_watched_through_the_queue_alone():
    from comfykit_sync.backends._queue_watch import QueueWatch

    class IgnoresMaxItems:
        calls = 0

        def recent_history(self, max_items: int) -> dict:
            self.calls += 1
            return {str(i): {"outputs": {}} for i in range(max_items + 5)}

    client = IgnoresMaxItems()
    watch = QueueWatch(client, max_interval=2.0)  # type: ignore[arg-type]
    assert len(watch._scan_history()) == 6  # this reply is still used
    assert not watch._scan and client.calls == 1


class RecordedHistory:
    """A server's history for unit tests of the watcher's scan: ``max_items`` like ComfyUI."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}
        self.asked: list[int] = []

    def finish(self, *prompt_ids: str) -> None:
        for prompt_id in prompt_ids:
            self.entries[prompt_id] = {"outputs": {}, "status": {"status_str": "success"}}

    def recent_history(self, max_items: int) -> dict:
        self.asked.append(max_items)
        return dict(list(self.entries.items())[-max_items:])


def test_history_scan_reaches_back_to_the_last_newest_entry():
    from comfykit_sync.backends._queue_watch import QueueWatch

    history = RecordedHistory()
    history.finish("old-1", "old-2")
    watch = QueueWatch(history, max_interval=2.0)  # type: ignore[arg-type]
    assert list(watch._scan_history()) == ["old-2"]  # first scan: a baseline, no more
    history.finish(*(f"p{i}" for i in range(10)))
    assert {f"p{i}" for i in range(10)} <= set(watch._scan_history())
    assert history.asked == [1, 2, 4, 8, 16]  # doubled until "old-2" was in the reply
    history.finish("q1", "q2")
    history.asked.clear()
    assert list(watch._scan_history())[-2:] == ["q1", "q2"]
    assert len(history.asked) == 1  # sized by the previous scans: one request
    for n in range(20):  # a steady three per scan: about twice as many asked, one request
        history.finish(*(f"r{n}-{i}" for i in range(3)))
        history.asked.clear()
        watch._scan_history()
    assert len(history.asked) == 1 and 1 + 3 < history.asked[0] <= 1 + 2 * 3 + 1
    history.entries.clear()  # someone cleared the history
    history.finish("s1")
    assert list(watch._scan_history()) == ["s1"]


def test_history_scan_gives_up_at_its_limit_and_lets_the_queue_decide():
    from comfykit_sync.backends._queue_watch import SCAN_MAX_ITEMS, QueueWatch

    history = RecordedHistory()
    history.finish("base")
    watch = QueueWatch(history, max_interval=2.0)  # type: ignore[arg-type]
    watch._scan_history()
    watch._next_queue_read = float("inf")
    history.finish(*(f"p{i}" for i in range(SCAN_MAX_ITEMS + 10)))
    assert len(watch._scan_history()) == SCAN_MAX_ITEMS
    assert watch._next_queue_read == 0.0  # the next tick reads /queue


def test_queue_deadline_asks_the_server_before_timing_out(fake_comfyui):
    """The watcher reads /queue only now and then; a prompt it last saw pending may have
    started since — the queue deadline must not fire then."""
    from comfykit_sync.backends._queue_watch import Tracked
    from comfykit_sync.backends.comfyui_http import HistoryWaiter

    fake_comfyui.duration = 5.0
    with ComfyKit(fake_comfyui.url) as kit:
        job = kit.submit(T2I, {"prompt": "x"})
        backend = kit.backend("comfyui-http")
        events: list = []
        now = time.monotonic()
        waiter = HistoryWaiter(
            backend.client,
            job.prompt_id,
            deadline=now + 1.0,
            queue_deadline=now + 0.3,
            emit=events.append,
            check_timeout=5.0,
        )
        stale = Tracked(job.prompt_id, state="pending", position=0)  # never updated
        with pytest.raises(ExecutionTimeout) as raised:
            waiter._follow(stale)
        assert raised.value.deadline == "total"
        assert type(events[-1]).__name__ == "Started"  # seen at the queue deadline
        job.cancel()
