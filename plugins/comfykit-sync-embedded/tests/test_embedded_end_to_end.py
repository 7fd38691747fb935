"""Re-run a workflow embedded in a file on the fake ComfyUI, through the installed plugin."""

from __future__ import annotations

import json
from pathlib import Path

import embedded_builders as b
import requests

import comfykit_sync
from comfykit_sync import ComfyKit
from comfykit_sync.plugins import make_plugin_manager
from comfykit_sync.testing.fake_comfyui import FakeComfyUI

T2I = Path(comfykit_sync.__file__).parent / "testing/workflows/text_to_image.json"


def test_entry_point_discovery() -> None:
    pm = make_plugin_manager()
    assert pm.has_plugin("embedded")
    assert pm.distributions["embedded"][0] == "comfykit-sync-embedded"
    hookimpls = pm.hook.comfykit_load_workflow.get_hookimpls()
    impls = [i.plugin_name for i in hookimpls if not i.wrapper]
    # asked before the built-in (trylast) loaders: pluggy calls the last impl first
    assert impls[-1] == "embedded"


def test_rerun_embedded_png_with_new_params(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    path = tmp_path / "render.png"
    graph = json.loads(T2I.read_text())
    path.write_bytes(b.png([b.text("prompt", json.dumps(graph))]))
    with ComfyKit(fake_comfyui.url) as kit:
        result = kit.execute(path, {"seed": 7, "prompt": "a fox"})
        assert result.status == "completed", result.msg
        submitted = list(fake_comfyui.prompts.values())[-1].graph
        assert submitted["3"]["inputs"]["seed"] == 7
        assert submitted["6"]["inputs"]["text"] == "a fox"

        # the fake's SaveImage output embeds the submitted graph: download and re-run it
        url = result.images_by_var["image"][0]
        again = tmp_path / "again.png"
        again.write_bytes(requests.get(url, timeout=10).content)
        # "$prompt.text!" marks a required parameter, embedded or not
        second = kit.execute(str(again), {"seed": 8, "prompt": "a hare"})
        assert second.status == "completed", second.msg
        rerun = list(fake_comfyui.prompts.values())[-1].graph
        assert rerun["3"]["inputs"]["seed"] == 8
        assert rerun["6"]["inputs"]["text"] == "a hare"
        assert rerun["7"]["inputs"]["text"] == graph["7"]["inputs"]["text"]  # from the picture
        assert rerun["9"]["_meta"]["title"] == "$output.image"  # DSL titles survive


def test_png_with_only_the_ui_workflow_runs(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    """An image whose metadata holds only the editor's workflow: converted with the server's
    node definitions, DSL markers in the editor's titles included."""
    path = tmp_path / "ui-only.png"
    path.write_bytes(b.png([b.text("workflow", json.dumps(b.UI_INVERT))]))
    with ComfyKit(fake_comfyui.url) as kit:
        spec = kit.list_params(path)
        assert spec.params["width"].default == 64 and dict(spec.outputs) == {"3": "inverted"}
        result = kit.execute(path, {"width": 32})
        assert result.status == "completed", result.msg
        assert list(result.images_by_var) == ["inverted"]
        submitted = fake_comfyui.prompts[result.prompt_id].graph
        assert {n["class_type"] for n in submitted.values()} == {
            "EmptyImage",
            "ImageInvert",
            "SaveImage",
        }
        assert submitted["1"]["inputs"]["width"] == 32
