"""UI-format → API-format conversion against the ComfyUI frontend's own output.

The oracle (``../shared/ui-oracle`` beside the repository) holds the ``/object_info`` of a real
ComfyUI 0.3.64 and what frontend 1.27.10's ``graphToPrompt()`` made of 30 official templates;
the templates themselves come from the pinned ``comfyui-workflow-templates`` test dependency.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from comfykit_sync.errors import UIConversionError, WorkflowLoadError
from comfykit_sync.ui_workflow import convert_ui_workflow, is_ui_workflow

ORACLE = Path(__file__).resolve().parents[1].parent / "shared" / "ui-oracle"
EXPECTED = sorted(p.name for p in (ORACLE / "expected").glob("*.json"))
TEMPLATES = resources.files("comfyui_workflow_templates") / "templates"
TEMPLATE_NAMES = sorted(
    t.name
    for t in TEMPLATES.iterdir()
    if t.name.endswith(".json") and not t.name.startswith("index")
)
#: Templates that cannot be converted faithfully, and why (the acceptance list).
REFUSED_TEMPLATES = {
    # RecordAudio records the microphone and uploads the recording when the prompt is queued
    "api_stability_ai_audio_to_audio.json": ("9", "RecordAudio", "computed in the browser"),
    "video_humo.json": ("68", "RecordAudio", "computed in the browser"),
    # uses custom nodes (comfyui_controlnet_aux, KJNodes, SAM2) that a stock server lacks
    "video_wan2_2_14B_animate.json": ("158", "PixelPerfectResolution", "has no node of this type"),
}


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return json.loads((ORACLE / "object_info-0.3.64.json").read_text(encoding="utf-8"))


def template(name: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / name).read_text(encoding="utf-8"))


def test_the_oracle_and_the_templates_are_there():
    assert len(EXPECTED) == 30, f"expected 30 oracle outputs in {ORACLE}"
    assert len(TEMPLATE_NAMES) == 172
    assert set(EXPECTED) <= set(TEMPLATE_NAMES)


@pytest.mark.parametrize("name", EXPECTED)
def test_conversion_equals_the_frontends_for_official_template(name, object_info):
    """Judged as the spec says: same ids, class_type, title, and every declared input."""
    expected = json.loads((ORACLE / "expected" / name).read_text(encoding="utf-8"))
    workflow = template(name)
    assert is_ui_workflow(workflow)

    got = convert_ui_workflow(workflow, object_info)

    assert sorted(got) == sorted(expected)
    for node_id, want in expected.items():
        node = got[node_id]
        assert node["class_type"] == want["class_type"], node_id
        assert node["_meta"] == want["_meta"], node_id
        spec = object_info[want["class_type"]]["input"]
        declared = {*spec.get("required", {}), *spec.get("optional", {})}
        judged = {k: v for k, v in node["inputs"].items() if k in declared}
        assert judged == {k: v for k, v in want["inputs"].items() if k in declared}, node_id


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_official_template_converts_or_is_refused_for_a_documented_reason(name, object_info):
    workflow = template(name)
    assert is_ui_workflow(workflow)
    if name in REFUSED_TEMPLATES:
        node_id, node_type, reason = REFUSED_TEMPLATES[name]
        with pytest.raises(UIConversionError, match=reason) as caught:
            convert_ui_workflow(workflow, object_info)
        assert (caught.value.node_id, caught.value.node_type) == (node_id, node_type)
        assert isinstance(caught.value, WorkflowLoadError)
        return
    prompt = convert_ui_workflow(workflow, object_info)
    assert prompt, "a template converts to at least one node"
    for node_id, node in prompt.items():
        assert node["class_type"] in object_info, node_id
        for value in node["inputs"].values():
            if isinstance(value, list):  # a link points at an emitted node's real output
                assert value[0] in prompt and isinstance(value[1], int), (node_id, value)
    json.dumps(prompt)  # plain JSON, ready for POST /prompt
