"""Partial execution (``outputs=``) end to end against the fake ComfyUI server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from helpers import T2I

from comfykit_sync import (
    ComfyKit,
    ConfigurationError,
    ParameterError,
    WorkflowValidationError,
)
from comfykit_sync._targets import resolve_targets, upstream
from comfykit_sync.events import NodeExecuting, Progress
from comfykit_sync.params import parse_workflow

EXECUTORS = ["http", "websocket"]
PARAMS = {"prompt": "a fox", "seed": 5}


@pytest.fixture(params=EXECUTORS)
def kit(request, fake_comfyui):
    with ComfyKit(fake_comfyui.url, executor_type=request.param, timeout=30) as kit:
        yield kit


def history(fake_comfyui, prompt_id: str) -> dict[str, Any]:
    reply = requests.get(f"{fake_comfyui.url}/history/{prompt_id}", timeout=10)
    return reply.json()[prompt_id]


def t2i() -> dict[str, Any]:
    return json.loads(T2I.read_text())


def chained() -> dict[str, Any]:
    """A text shown by an output node (ShowText, which has a socket) that feeds another."""
    return {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "hi"}},
        "2": {
            "class_type": "ShowText|pysssss",
            "inputs": {"text": ["1", 0]},
            "_meta": {"title": "$output.shown"},
        },
        "3": {
            "class_type": "PreviewAny",
            "inputs": {"source": ["2", 0]},
            "_meta": {"title": "$output.final"},
        },
        "4": {"class_type": "PrimitiveString", "inputs": {"value": "other"}},
        "5": {
            "class_type": "PreviewAny",
            "inputs": {"source": ["4", 0]},
            "_meta": {"title": "$output.other"},
        },
    }


# -- running only some outputs ----------------------------------------------------------------
def test_only_the_named_output_and_its_dependencies_run(kit, fake_comfyui):
    events: list = []
    result = kit.execute(T2I, PARAMS, outputs=["caption"], on_event=events.append)
    assert result.status == "completed", result.msg
    assert result.texts_by_var == {"caption": ["a fox"]} and result.images == []
    assert set(result.outputs) == {"10"}
    entry = history(fake_comfyui, result.prompt_id)
    assert entry["prompt"][4] == ["10"]  # sent as partial_execution_targets
    if kit.config.executor_type == "websocket":
        ran = {e.node_id for e in events if isinstance(e, NodeExecuting)}
        assert ran == {"4", "6", "10"}  # not the sampler, decoder or SaveImage
        fractions = [e.fraction for e in events if isinstance(e, Progress)]
        assert fractions[-1] == 1.0  # counted over the nodes the targets need


def test_names_and_node_ids_mix(kit, fake_comfyui):
    result = kit.execute(T2I, PARAMS, outputs=["image", "10", "image"])
    assert result.status == "completed", result.msg
    assert set(result.outputs) == {"9", "10"} and len(result.images) == 1
    assert history(fake_comfyui, result.prompt_id)["prompt"][4] == ["9", "10"]


def test_submit_takes_outputs_too(kit, fake_comfyui):
    job = kit.submit(T2I, PARAMS, outputs="image")
    result = job.result()
    assert result.status == "completed", result.msg
    assert list(result.images_by_var) == ["image"] and result.texts == []


def test_an_output_node_a_target_needs_runs_and_is_reported(kit, fake_comfyui):
    result = kit.execute_json(chained(), outputs=["final"])
    assert result.status == "completed", result.msg
    assert set(result.texts_by_var) == {"shown", "final"}  # not "other"
    assert result.texts_by_var["shown"] == ["hi"]
    assert history(fake_comfyui, result.prompt_id)["prompt"][4] == ["3"]


def test_cached_outputs_of_nodes_that_did_not_run_are_left_out(kit, fake_comfyui):
    full = kit.execute(T2I, PARAMS)
    assert set(full.outputs) == {"9", "10"}
    partial = kit.execute(T2I, PARAMS, outputs=["image"])
    assert partial.status == "completed", partial.msg
    # ComfyUI's history lists the caption cached by the first run, although it did not run
    assert set(history(fake_comfyui, partial.prompt_id)["outputs"]) == {"9", "10"}
    assert set(partial.outputs) == {"9"} and partial.texts == []
    assert partial.images == full.images  # the cached image is this run's output
    reattached = kit.job(partial.prompt_id).result()
    assert set(reattached.outputs) == {"9"} and reattached.texts == []


# -- caller mistakes, before anything is sent -------------------------------------------------
def test_unknown_output_is_refused_before_sending(kit, fake_comfyui, tmp_path):
    with pytest.raises(ParameterError) as info:
        kit.execute(T2I, PARAMS, outputs=["image", "cover", "99"])
    message = str(info.value)
    assert "'cover'" in message and "'99'" in message and "'image'" not in message
    assert "image (node 9)" in message and "caption (node 10)" in message
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ParameterError, match="'nope'"):
        kit.execute(
            T2I.parent / "image_to_image.json", {"image": image}, outputs=["nope"]
        )  # refused before the upload too
    assert fake_comfyui.prompts == {}
    assert not [r for r in fake_comfyui.requests if r.method == "POST"]


@pytest.mark.parametrize(
    ("outputs", "match"),
    [([], "outputs is empty"), ([None], "got NoneType"), ([True], "got bool"), (3.5, "float")],
)
def test_malformed_outputs_are_refused(kit, fake_comfyui, outputs, match):
    with pytest.raises(ParameterError, match=match):
        kit.execute(T2I, PARAMS, outputs=outputs)
    assert fake_comfyui.prompts == {}


def test_a_node_that_is_not_an_output_node_is_refused(kit, fake_comfyui):
    with pytest.raises(ParameterError) as info:
        kit.execute(T2I, PARAMS, outputs=["image", "3"])
    message = str(info.value)
    assert "node 3 (KSampler) is not an output node" in message
    assert "node 9 (image, SaveImage), node 10 (caption, PreviewAny)" in message
    assert fake_comfyui.prompts == {}
    # node classes are looked up once per kit
    looked_up = len([r for r in fake_comfyui.requests if r.path.startswith("/object_info/")])
    assert kit.execute(T2I, PARAMS, outputs=["image"]).ok
    assert looked_up == len(
        [r for r in fake_comfyui.requests if r.path.startswith("/object_info/")]
    )


def test_when_classes_cannot_be_looked_up_the_server_decides(kit, fake_comfyui):
    fake_comfyui.fail_requests("/object_info/KSampler", 500)
    result = kit.execute(T2I, PARAMS, outputs=["3"])
    assert result.status == "failed" and isinstance(result.error, WorkflowValidationError)
    assert "Prompt has no outputs" in result.msg
    fake_comfyui.fail_requests("/object_info/KSampler", 500)
    with pytest.raises(ParameterError, match=r"outputs: node 8 \(VAEDecode\) is not an output"):
        kit.execute(T2I, PARAMS, outputs=["3", "8"])  # the classes that could be looked up


def test_backends_without_partial_execution_refuse_outputs(fake_runninghub):
    workflow_id = fake_runninghub.add_workflow(t2i())
    key = fake_runninghub.api_key
    with ComfyKit(runninghub_url=fake_runninghub.url, runninghub_api_key=key) as kit:
        assert "partial" not in kit.backend("runninghub").capabilities
        with pytest.raises(ConfigurationError, match="'runninghub' cannot run only some"):
            kit.execute(workflow_id, {"prompt": "x"}, outputs=["image"])
    assert fake_runninghub.tasks == {}


# -- resolving names --------------------------------------------------------------------------
def test_names_select_every_node_they_name_and_win_over_node_ids():
    graph = t2i()
    graph["11"] = {**graph["9"], "_meta": {"title": "$output.image"}}
    graph["12"] = {**graph["10"], "_meta": {"title": "$output.9"}}
    spec = parse_workflow(graph)
    assert resolve_targets(spec, graph, ["image"]) == ("9", "11")
    assert resolve_targets(spec, graph, ["9", 10]) == ("12", "10")  # "9" names node 12
    assert resolve_targets(spec, graph, None) is None


def test_upstream_follows_links_only():
    graph = t2i()
    assert upstream(graph, ["10"]) == {"10", "6", "4"}
    assert upstream(graph, ["9"]) == {"9", "8", "3", "4", "5", "6", "7"}
    assert upstream(graph, ["missing"]) == set()
