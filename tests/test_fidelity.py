"""Execution fidelity on real server shapes: failures that ComfyUI records under a "success"
status, node ids created by expansion, and everything an ``execution_error`` says — on both
ComfyUI backends, against the fake server on 127.0.0.1."""

from __future__ import annotations

import pytest
from helpers import T2I

from comfykit_sync import (
    Artifact,
    ComfyKit,
    ExecutionError,
    ExecutionInterrupted,
    hookimpl,
)
from comfykit_sync.backends._ws_stream import Message, Subscription
from comfykit_sync.backends.comfyui_ws import _PromptWatch
from comfykit_sync.events import Failed, NodeExecuted, NodeExecuting, Progress
from comfykit_sync.plugins import make_plugin_manager
from comfykit_sync.testing import Script

EXECUTORS = ["http", "websocket"]


@pytest.fixture(params=EXECUTORS)
def kit(request, fake_comfyui):
    with ComfyKit(
        fake_comfyui.url, executor_type=request.param, timeout=30, poll_max_interval=0.2
    ) as kit:
        yield kit


def history_status(fake_comfyui, prompt_id: str) -> dict:
    import requests

    reply = requests.get(f"{fake_comfyui.url}/history/{prompt_id}", timeout=10).json()
    return reply[prompt_id]["status"]


# -- 1. a failed run is never "completed" ------------------------------------------------------
def test_cycle_made_by_an_expansion_is_a_failed_result(kit, fake_comfyui):
    fake_comfyui.script(Script(expand_node="3", expansion_cycle=True))
    events: list = []
    result = kit.execute(T2I, {"prompt": "x"}, on_event=events.append)
    # the server's own verdict says success; its messages say the run stopped at node 3
    status = history_status(fake_comfyui, result.prompt_id)
    assert (status["status_str"], status["completed"]) == ("success", True)
    assert [m[0] for m in status["messages"]][-1] == "execution_error"
    assert result.status == "failed" and not result.ok and result.prompt_id
    error = result.error
    assert type(error) is ExecutionError and error.prompt_id == result.prompt_id
    assert (error.node_id, error.node_type) == ("3", "KSampler")
    assert error.exception_type == "graph.DependencyCycleError"
    assert error.exception_message == "Dependency cycle detected"
    assert error.traceback == () and error.current_inputs == {}
    assert "3.0.0.1" in error.executed and "3" not in error.executed
    assert result.msg == str(error)
    assert "node 3 (KSampler)" in result.msg and "Dependency cycle detected" in result.msg
    assert "9" not in result.outputs and result.images == []  # the save never ran
    assert isinstance(events[-1], Failed) and events[-1].error is error
    with pytest.raises(ExecutionError):
        result.raise_for_status()


def test_a_success_message_with_an_execution_blocked_notice_completes(kit, fake_comfyui):
    fake_comfyui.script(Script(blocked_node="7"))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    messages = [m[0] for m in history_status(fake_comfyui, result.prompt_id)["messages"]]
    assert messages[-1] == "execution_success" and "execution_error" not in messages


# -- 2. real node ids --------------------------------------------------------------------------
def test_outputs_of_an_expanded_node_keep_its_id_and_are_named_through_its_display_node(
    kit, fake_comfyui
):
    fake_comfyui.script(Script(expand_node="9"))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert set(result.outputs) == {"9.0.0.1", "10"}
    [image] = [a for a in result.artifacts if a.kind == "image"]
    assert (image.node_id, image.display_node, image.var) == ("9.0.0.1", "9", "image")
    assert result.images_by_var == {"image": [image.url]}
    [text] = [a for a in result.artifacts if a.kind == "text"]
    assert (text.node_id, text.display_node, text.var) == ("10", "10", "caption")
    assert image.bytes().startswith(b"\x89PNG")


def test_a_parser_unaware_of_display_nodes_still_gets_them(fake_comfyui):
    class Thumbnails:
        @hookimpl
        def comfykit_parse_output(self, output):
            if output.key == "images":
                return Artifact(kind="thumbnail", var=output.var, node_id=output.node_id)
            return None

    pm = make_plugin_manager(autoload=False)
    pm.register(Thumbnails(), name="thumbnails")
    fake_comfyui.script(Script(expand_node="9"))
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    [thumbnail] = [a for a in result.artifacts if a.kind == "thumbnail"]
    assert (thumbnail.node_id, thumbnail.display_node, thumbnail.var) == ("9.0.0.1", "9", "image")


@pytest.mark.fake_comfyui(duration=0.2)
def test_events_name_the_node_that_ran_and_its_display_node(fake_comfyui):
    fake_comfyui.script(Script(expand_node="3"))
    events: list = []
    with ComfyKit(fake_comfyui.url, executor_type="websocket", timeout=30) as kit:
        result = kit.execute(T2I, {"prompt": "x", "steps": 3}, on_event=events.append)
    assert result.status == "completed", result.msg
    executing = {e.node_id: e for e in events if isinstance(e, NodeExecuting)}
    assert executing["3"].display_node == "3" and executing["3"].class_type == "KSampler"
    copy = executing["3.0.0.1"]  # not folded into its parent
    assert copy.display_node == "3" and copy.class_type is None
    assert copy.title == "Sampler, $seed, $steps, $cfg"  # the title it is shown under
    assert executing["8"].display_node == "8"
    steps = [e for e in events if isinstance(e, Progress) and e.max == 3]
    assert [(e.node_id, e.display_node, e.value) for e in steps] == [
        ("3.0.0.1", "3", 1),
        ("3.0.0.1", "3", 2),
        ("3.0.0.1", "3", 3),
    ]
    executed = [(e.node_id, e.display_node) for e in events if isinstance(e, NodeExecuted)]
    assert sorted(executed) == [("10", "10"), ("9", "9")]


def test_progress_without_progress_state_gets_the_display_node_of_its_node():
    """Older servers send only ``progress`` (``node`` without ``display_node``)."""
    events: list = []
    watch = _PromptWatch(
        None,  # type: ignore[arg-type]  # handling events needs no HTTP
        Subscription("p"),
        {"3": {"class_type": "KSampler", "_meta": {"title": "Sampler"}}},
        to_run={"3"},
        deadline=0.0,
        queue_deadline=None,
        emit=events.append,
        max_interval=1.0,
        check_timeout=1.0,
        from_submit=True,
    )
    watch._handle(Message("executing", {"node": "3.0.0.1", "display_node": "3", "prompt_id": "p"}))
    watch._handle(Message("progress", {"node": "3.0.0.1", "value": 1, "max": 2, "prompt_id": "p"}))
    watch._handle(Message("progress", {"node": "5", "value": 1, "max": 1, "prompt_id": "p"}))
    assert events == [
        NodeExecuting("p", "3.0.0.1", "Sampler", None, "3"),
        Progress("p", "3.0.0.1", 1, 2, None, "3"),
        Progress("p", "5", 1, 1, None, None),  # never announced: the server did not say
    ]


# -- 3. ExecutionError keeps everything the server said ----------------------------------------
def test_execution_error_keeps_every_field_and_a_one_line_message(kit, fake_comfyui):
    message = "CUDA out of memory\n\nTIPS: If the workflow worked before, lower the batch size."
    fake_comfyui.script(
        Script(error_node="3", error_message=message, error_type="torch.OutOfMemoryError")
    )
    result = kit.execute(T2I, {"prompt": "x", "steps": 7})
    error = result.error
    assert type(error) is ExecutionError and result.status == "failed"
    [(_, report)] = [
        m
        for m in history_status(fake_comfyui, result.prompt_id)["messages"]
        if m[0] == "execution_error"
    ]
    assert (error.node_id, error.node_type) == ("3", "KSampler")
    assert error.exception_type == "torch.OutOfMemoryError"
    assert error.exception_message == report["exception_message"] == message + "\n"
    assert list(error.traceback) == report["traceback"] and error.traceback
    assert list(error.executed) == report["executed"] and {"4", "5", "6", "7"} <= set(
        error.executed
    )
    assert error.current_inputs == report["current_inputs"]
    assert error.current_inputs["steps"] == [7]
    assert list(error.current_outputs) == report["current_outputs"]
    assert error.timestamp == report["timestamp"] and isinstance(error.timestamp, int)
    assert "\n" not in result.msg and "TIPS" not in result.msg
    assert "node 3 (KSampler)" in result.msg and "CUDA out of memory" in result.msg


def test_interruption_keeps_the_executed_nodes_and_time(kit, fake_comfyui):
    fake_comfyui.script(Script(duration=5, interrupt_after=0.3))
    result = kit.execute(T2I, {"prompt": "x"})
    error = result.error
    assert isinstance(error, ExecutionInterrupted)
    [(_, report)] = [
        m
        for m in history_status(fake_comfyui, result.prompt_id)["messages"]
        if m[0] == "execution_interrupted"
    ]
    assert error.node_id == report["node_id"] and list(error.executed) == report["executed"]
    assert error.timestamp == report["timestamp"]


def test_execution_error_constructor_stays_compatible():
    error = ExecutionError(
        "node 3 failed",
        prompt_id="p",
        node_id="3",
        node_type="KSampler",
        exception_type="RuntimeError",
        traceback=("  File x",),
    )
    assert str(error) == "node 3 failed" and error.traceback == ("  File x",)
    assert error.exception_message is None and error.timestamp is None
    assert (error.executed, error.current_inputs, error.current_outputs) == ((), {}, ())
