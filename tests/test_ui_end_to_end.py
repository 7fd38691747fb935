"""Each UI-format construct, run end to end on the fake ComfyUI with both executors.

The conversion itself is checked node by node in ``test_ui_convert.py``; here each construct is
a complete workflow the kit loads, converts with the fake's ``/object_info`` (definitions copied
from a real ComfyUI 0.3.64), submits and collects — proving the fake knows every node type and
that what the server receives runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ui_graphs import Subgraph, UIGraph

from comfykit_sync import ComfyKit
from comfykit_sync.testing import FakeComfyUI
from comfykit_sync.testing._media import png

Check = Callable[[dict[str, Any], Any], None]


def controls_and_upload() -> tuple[dict[str, Any], dict[str, Any], Check]:
    """KSampler's seed control slot, LoadImage's upload button, a `$~image` upload marker."""
    g = UIGraph()
    g.add(4, "CheckpointLoaderSimple", ["sd15.safetensors"], outputs=("MODEL", "CLIP", "VAE"))
    g.add(10, "LoadImage", ["example.png", "image"], title="$~image", outputs=("IMAGE", "MASK"))
    g.add(11, "VAEEncode", [], outputs=("LATENT",))
    g.add(6, "CLIPTextEncode", ["a cat"], title="$prompt.text", outputs=("CONDITIONING",))
    g.add(7, "CLIPTextEncode", [""], outputs=("CONDITIONING",))
    sampler = [5, "increment", 12, 6.5, "euler", "karras", 0.6]
    g.add(3, "KSampler", sampler, title="$seed", outputs=("LATENT",))
    g.add(8, "VAEDecode", [], outputs=("IMAGE",))
    g.add(9, "SaveImage", ["img2img"], title="$output.result")
    g.connect(10, 0, 11, "pixels", "IMAGE")
    g.connect(4, 2, 11, "vae", "VAE")
    for encoder in (6, 7):
        g.connect(4, 1, encoder, "clip", "CLIP")
    g.connect(4, 0, 3, "model", "MODEL")
    g.connect(6, 0, 3, "positive", "CONDITIONING")
    g.connect(7, 0, 3, "negative", "CONDITIONING")
    g.connect(11, 0, 3, "latent_image", "LATENT")
    g.connect(3, 0, 8, "samples", "LATENT")
    g.connect(4, 2, 8, "vae", "VAE")
    g.connect(8, 0, 9, "images", "IMAGE")

    def check(sent: dict[str, Any], result: Any) -> None:
        sampler = sent["3"]["inputs"]
        assert (sampler["seed"], sampler["steps"], sampler["cfg"]) == (5, 12, 6.5)
        assert (sampler["scheduler"], sampler["denoise"]) == ("karras", 0.6)
        assert sent["10"]["inputs"]["image"] != "example.png"  # the uploaded file's name
        assert result.images_by_var["result"]

    return g.workflow(), {"image": Path("photo.png"), "prompt": "a fox"}, check


def bypass_and_mute() -> tuple[dict[str, Any], dict[str, Any], Check]:
    """A bypassed node whose output type faces another input type; a muted output node."""
    g = UIGraph()
    g.add(1, "LoadImage", ["example.png", "image"], outputs=("IMAGE", "MASK"))
    g.add(2, "UpscaleModelLoader", ["example.safetensors"], outputs=("UPSCALE_MODEL",))
    g.add(3, "ImageUpscaleWithModel", [], mode=4, outputs=("IMAGE",))
    g.connect(2, 0, 3, "upscale_model", "UPSCALE_MODEL")
    g.connect(1, 0, 3, "image", "IMAGE")
    g.add(4, "SaveImage", ["kept"], title="$output.kept")
    g.connect(3, 0, 4, "images", "IMAGE")
    g.add(5, "SaveImage", ["muted"], mode=2)
    g.connect(1, 0, 5, "images", "IMAGE")

    def check(sent: dict[str, Any], result: Any) -> None:
        assert "3" not in sent and "5" not in sent
        assert sent["4"]["inputs"]["images"] == ["1", 0]
        assert list(result.images_by_var) == ["kept"]

    return g.workflow(), {}, check


def nested_subgraphs_and_promoted_widgets() -> tuple[dict[str, Any], dict[str, Any], Check]:
    """Two levels of subgraphs with a widget promoted through both (linked-input form) and a
    subgraph whose widget is promoted the legacy way (``proxyWidgets``)."""
    image = [("IMAGE", "IMAGE")]
    inner = Subgraph("sub-blur", "Blur", [("image", "IMAGE"), ("blur_radius", "INT")], image)
    inner.add(5, "ImageBlur", [1, 1.0], title="$sigma.sigma", outputs=("IMAGE",))
    inner.connect_input(0, 5, "image")
    inner.connect_input(1, 5, "blur_radius", widget=True)
    inner.connect_output(5, 0, 0)
    outer = Subgraph("sub-outer", "Soften", [("image", "IMAGE"), ("radius", "INT")], image)
    outer.nested.append(inner)
    inner.instance(outer, 7, [])
    outer.connect_input(0, 7, "image")
    outer.connect_input(1, 7, "blur_radius", widget=True)
    outer.connect_output(7, 0, 0)
    scale = Subgraph("sub-scale", "Scale", [("image", "IMAGE")], image)
    scale.add(6, "ImageScale", ["bilinear", 512, 512, "disabled"], outputs=("IMAGE",))
    scale.connect_input(0, 6, "image")
    scale.connect_output(6, 0, 0)
    g = UIGraph()
    g.add(1, "EmptyImage", [64, 64, 1, 0], outputs=("IMAGE",))
    outer.instance(g, 10, [9])
    g.connect(1, 0, 10, "image", "IMAGE")
    scale.instance(g, 11, [32], properties={"proxyWidgets": [["6", "width"]]})
    g.connect(10, 0, 11, "image", "IMAGE")
    g.add(2, "SaveImage", ["soft"], title="$output.soft")
    g.connect(11, 0, 2, "images", "IMAGE")
    workflow = g.workflow(outer, scale)

    def check(sent: dict[str, Any], result: Any) -> None:
        assert sorted(sent) == ["1", "10:7:5", "11:6", "2"]
        blur = sent["10:7:5"]["inputs"]
        assert blur["blur_radius"] == 9 and blur["sigma"] == 2.5 and blur["image"] == ["1", 0]
        assert sent["11:6"]["inputs"]["width"] == 32
        assert sent["11:6"]["inputs"]["image"] == ["10:7:5", 0]
        assert sent["2"]["inputs"]["images"] == ["11:6", 0]
        assert result.images_by_var["soft"]

    return workflow, {"sigma": 2.5}, check


def primitive_combo_and_legacy_force_input() -> tuple[dict[str, Any], dict[str, Any], Check]:
    """A PrimitiveNode feeding a combo (value, control and filter slots); a legacy dummy value
    saved for a ``forceInput`` input; ``widgets_values`` saved as a dict (VHS)."""
    g = UIGraph()
    g.add(1, "EmptyImage", [64, 64, 4, 0], outputs=("IMAGE",))
    g.add(2, "ImageScale", ["nearest-exact", 32, 32, "disabled"], outputs=("IMAGE",))
    g.add(3, "PrimitiveNode", ["bicubic", "fixed", ""], title="Method", outputs=("COMBO",))
    g.connect(3, 0, 2, "upscale_method", "COMBO", widget=True)
    g.connect(1, 0, 2, "image", "IMAGE")
    vhs = {
        "frame_rate": 12,
        "loop_count": 0,
        "filename_prefix": "clip",
        "format": "image/gif",
        "pingpong": False,
        "save_output": True,
        "videopreview": {"hidden": False, "paused": False, "params": {}},
    }
    g.add(4, "VHS_VideoCombine", vhs, title="$output.clip")
    g.connect(2, 0, 4, "images", "IMAGE")
    g.add(5, "PrimitiveStringMultiline", ["hello"], title="$text.value", outputs=("STRING",))
    g.add(6, "ShowText|pysssss", ["shown before the last run"], title="$output.shown")
    g.connect(5, 0, 6, "text", "STRING")

    def check(sent: dict[str, Any], result: Any) -> None:
        assert sent["2"]["inputs"]["upscale_method"] == "bicubic"
        combine = sent["4"]["inputs"]
        assert (combine["frame_rate"], combine["format"], combine["filename_prefix"]) == (
            12,
            "image/gif",
            "clip",
        )
        assert sent["6"]["inputs"] == {"text": ["5", 0]}  # the dummy value is not an input
        assert result.videos_by_var["clip"] and result.texts_by_var["shown"] == ["hi"]

    return g.workflow(), {"text": "hi"}, check


CONSTRUCTS = {
    "controls_and_upload": controls_and_upload,
    "bypass_and_mute": bypass_and_mute,
    "nested_subgraphs_and_promoted_widgets": nested_subgraphs_and_promoted_widgets,
    "primitive_combo_and_legacy_force_input": primitive_combo_and_legacy_force_input,
}


@pytest.mark.parametrize("executor", ["http", "websocket"])
@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_construct_runs_end_to_end(name, executor, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("photo.png").write_bytes(png(16, 16, (10, 200, 30)))
    workflow, params, check = CONSTRUCTS[name]()
    with FakeComfyUI() as server, ComfyKit(server.url, executor_type=executor) as kit:
        result = kit.execute_json(workflow, params)
        assert result.status == "completed", result.msg
        check(server.prompts[result.prompt_id].graph, result)
