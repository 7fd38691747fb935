"""The smoke workflow (``comfykit_sync/testing/workflows/smoke.json``): model-free core nodes
only, so the same file runs on the fake and on any real ComfyUI 0.3.64+.

It runs end to end on both local executors, and every node of it is checked against the
``/object_info`` of a real 0.3.64 server: classes, inputs, types, ranges, combos and links.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import REAL_OBJECT_INFO, SMOKE, flac_stream, png_pixels

from comfykit_sync import ComfyKit
from comfykit_sync.testing import FakeComfyUI

EXECUTORS = ["http", "websocket"]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_smoke_workflow_runs_end_to_end(fake_comfyui: FakeComfyUI, executor: str) -> None:
    with ComfyKit(fake_comfyui.url, executor_type=executor, timeout=30) as kit:
        result = kit.execute(SMOKE, {"name": "fake", "color": 0x102030})
        assert result.status == "completed", result.msg
        assert result.texts_by_var == {
            "text": ["hello, fake"],
            "width": ["128"],  # 64x48 scaled to a height of 96
            "picture_height": ["64"],  # the fake's input/example.png
        }
        files = {a.var: a for a in result.artifacts if a.filename}
        width, height, rows = png_pixels(files["image"].bytes())
        assert (width, height) == (128, 96) and {p for row in rows for p in row} == {
            (239, 223, 207)
        }
        assert png_pixels(files["preview"].bytes())[2][0][0] == (16, 32, 48)
        audio = flac_stream(files["audio"].bytes())
        assert (audio["sample_rate"], audio["channels"], audio["samples"]) == (8000, 1, 4000)
        assert set(result.outputs) == {"3", "8", "9", "10", "13", "15"}  # SaveImageWebsocket: none


def test_smoke_workflow_suits_a_real_server() -> None:
    """What a real 0.3.64 server's validation looks at, checked against its own definitions."""
    if not REAL_OBJECT_INFO.is_file():
        pytest.skip("needs the ComfyUI 0.3.64 /object_info snapshot beside the repository")
    real = json.loads(REAL_OBJECT_INFO.read_text())
    graph = json.loads(SMOKE.read_text())
    for node_id, node in graph.items():
        definition = real[node["class_type"]]
        declared = {**definition["input"]["required"], **definition["input"].get("optional", {})}
        inputs = node["inputs"]
        assert set(definition["input"]["required"]) <= set(inputs) <= set(declared), node_id
        for name, value in inputs.items():
            kind, options = declared[name][0], (declared[name] + [{}])[1]
            if isinstance(value, list):
                source = real[graph[value[0]]["class_type"]]
                assert kind in ("*", source["output"][value[1]]), (node_id, name)
            else:
                assert_literal_fits(kind, options, value, f"{node_id}.{name}")


def assert_literal_fits(kind: Any, options: dict[str, Any], value: Any, where: str) -> None:
    if isinstance(kind, list):
        assert value in kind, where
        return
    python_type = {"INT": int, "FLOAT": (int, float), "STRING": str, "BOOLEAN": bool}[kind]
    assert isinstance(value, python_type), where
    assert options.get("min", value) <= value <= options.get("max", value), where
