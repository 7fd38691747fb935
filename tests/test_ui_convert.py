"""UI-format → API-format conversion against the ComfyUI frontend's own output.

The oracle (``../shared/ui-oracle`` beside the repository) holds the ``/object_info`` of a real
ComfyUI 0.3.64 and what frontend 1.27.10's ``graphToPrompt()`` made of 30 official templates;
the templates themselves come from the pinned ``comfyui-workflow-templates`` test dependency.
"""

from __future__ import annotations

import json
import pickle
import random
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ui_graphs import Subgraph, UIGraph

from comfykit_sync.errors import UIConversionError, WorkflowLoadError
from comfykit_sync.ui_workflow import (
    PrimitiveSource,
    convert_ui,
    convert_ui_workflow,
    is_ui_workflow,
)

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


# --- constructs, one small workflow each ------------------------------------------------------

#: Node types the core server lacks, for constructs only custom nodes use.
SYNTHETIC_NODES: dict[str, Any] = {
    "ComboControl": {
        "display_name": "Combo Control",
        "input": {
            "required": {
                "mode": [["a", "b", "c"], {"control_after_generate": True}],
                "style": ["COMBO", {"options": ["x", "y"], "control_after_generate": True}],
                "after": ["INT", {"default": 3}],
            }
        },
        "input_order": {"required": ["mode", "style", "after"]},
        "output": ["INT"],
    },
    "SeedNames": {
        "display_name": "Seed Names",
        "input": {
            "required": {
                "seed": ["INT", {"control_after_generate": False}],
                "noise_seed": ["INT", {}],
                "other": ["INT", {"control_after_generate": True}],
                "last": ["INT", {}],
            }
        },
        "input_order": {"required": ["seed", "noise_seed", "other", "last"]},
        "output": [],
    },
    "DefaultInputs": {
        "display_name": "Default Inputs",
        "input": {
            "required": {"kept": ["INT", {"defaultInput": True}]},
            "optional": {"socket": ["INT", {"defaultInput": True}], "last": ["INT", {}]},
        },
        "input_order": {"required": ["kept"], "optional": ["socket", "last"]},
        "output": [],
    },
    "DynamicFormat": {
        "display_name": "Dynamic Format",
        "input": {
            "required": {
                "format": [
                    "COMFY_DYNAMICCOMBO_V3",
                    {
                        "options": [
                            {
                                "key": "png",
                                "inputs": {"required": {"level": ["INT", {"default": 6}]}},
                            },
                            {
                                "key": "webp",
                                "inputs": {
                                    "required": {
                                        "mask": ["MASK", {}],
                                        "seed": ["INT", {"default": 1}],
                                        "lossless": ["BOOLEAN", {}],
                                    },
                                    "optional": {"quality": ["INT", {"default": 90}]},
                                },
                            },
                        ]
                    },
                ],
                "after": ["INT", {"default": 1}],
            }
        },
        "input_order": {"required": ["format", "after"]},
        "output": [],
    },
    "ForceNode": {
        "display_name": "Force Node",
        "input": {
            "required": {
                "seed": ["INT", {}],
                "text": ["STRING", {"forceInput": True}],
                "steps": ["INT", {"default": 5}],
            },
            "optional": {"strength": ["FLOAT", {"default": 1.0}]},
        },
        "input_order": {"required": ["seed", "text", "steps"], "optional": ["strength"]},
        "output": ["STRING"],
    },
}


@pytest.fixture(scope="module")
def info(object_info: dict[str, Any]) -> dict[str, Any]:
    return {**object_info, **SYNTHETIC_NODES}


def inputs_of(prompt: dict[str, Any], node_id: str) -> dict[str, Any]:
    return prompt[node_id]["inputs"]


def test_widget_values_fill_in_input_order_skipping_the_seed_control(info):
    g = UIGraph()
    g.add(3, "KSampler", [42, "randomize", 20, 7.5, "euler", "karras", 0.8])
    prompt = convert_ui_workflow(g.workflow(), info)
    assert prompt == {
        "3": {
            "inputs": {
                "seed": 42,
                "steps": 20,
                "cfg": 7.5,
                "sampler_name": "euler",
                "scheduler": "karras",
                "denoise": 0.8,
            },
            "class_type": "KSampler",
            "_meta": {"title": "KSampler"},
        }
    }


def test_missing_values_take_the_frontends_defaults_optional_widgets_included(info):
    g = UIGraph()
    g.add(1, "EmptyLatentImage", [640])
    g.add(2, "DifferentialDiffusion", [])
    g.add(3, "KSampler")  # no widgets_values at all
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "1") == {"width": 640, "height": 512, "batch_size": 1}
    assert inputs_of(prompt, "2") == {"strength": 1.0}
    sampler = info["KSampler"]["input"]["required"]
    assert inputs_of(prompt, "3") == {
        "seed": 0,
        "steps": 20,
        "cfg": 8.0,
        "sampler_name": sampler["sampler_name"][0][0],
        "scheduler": sampler["scheduler"][0][0],
        "denoise": 1.0,
    }


def test_a_combo_with_generate_control_takes_a_control_and_a_filter_slot(info):
    g = UIGraph()
    g.add(1, "ComboControl", ["b", "increment", "", "y", "fixed", "^y", 9])
    assert inputs_of(convert_ui_workflow(g.workflow(), info), "1") == {
        "mode": "b",
        "style": "y",
        "after": 9,
    }


def test_an_int_has_a_control_slot_when_its_spec_says_so_or_it_is_a_seed(info):
    """``seed`` with control_after_generate False has none, ``noise_seed`` gets one."""
    g = UIGraph()
    g.add(1, "SeedNames", [1, 2, "fixed", 3, "randomize", 4])
    assert inputs_of(convert_ui_workflow(g.workflow(), info), "1") == {
        "seed": 1,
        "noise_seed": 2,
        "other": 3,
        "last": 4,
    }


def test_upload_buttons_take_a_slot_after_the_node_definitions_widgets(info):
    g = UIGraph()
    g.add(1, "LoadImageMask", ["photo.png", "red", "image"])
    g.add(2, "LoadImage", ["cat.png", "image"])
    g.add(3, "LoadAudio", ["tone.wav", None, None])
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "1") == {"image": "photo.png", "channel": "red"}
    assert inputs_of(prompt, "2") == {"image": "cat.png"}
    # the audio player is sent as "" (the server ignores it), the upload button is not sent
    assert inputs_of(prompt, "3") == {"audio": "tone.wav", "audioUI": ""}


def test_an_upload_combo_reads_files_from_another_folder_as_annotated_paths(info):
    g = UIGraph()
    g.add(1, "LoadImageOutput", ["ComfyUI_0001.png", False, "refresh", "image"])
    g.add(2, "LoadImageOutput", ["sub/a.png [output]", False, "refresh", "image"])
    g.add(3, "LoadImageOutput", ["", False, "refresh", "image"])
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "1") == {"image": "ComfyUI_0001.png [output]"}
    assert inputs_of(prompt, "2") == {"image": "sub/a.png [output]"}
    # an empty choice reports the combo's value when created (a remote list still loading)
    assert inputs_of(prompt, "3") == {"image": "Loading..."}


def test_default_input_makes_only_an_optional_input_a_socket(info):
    g = UIGraph()
    g.add(1, "DefaultInputs", [4, 5])
    assert inputs_of(convert_ui_workflow(g.workflow(), info), "1") == {"kept": 4, "last": 5}


def test_a_dynamic_combo_is_followed_by_its_selected_options_widgets(info):
    """Connection-only sub-inputs take no slot, nor does a sub-input seed get a control."""
    g = UIGraph()
    g.add(1, "DynamicFormat", ["webp", 7, True, 80, 5])
    g.add(2, "DynamicFormat", ["png", 3, 5])
    g.add(3, "DynamicFormat", [])
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "1") == {
        "format": "webp",
        "format.seed": 7,
        "format.lossless": True,
        "format.quality": 80,
        "after": 5,
    }
    assert inputs_of(prompt, "2") == {"format": "png", "format.level": 3, "after": 5}
    assert inputs_of(prompt, "3") == {"format": "png", "format.level": 6, "after": 1}


def test_legacy_force_input_dummy_values_are_dropped(info):
    """Saved before frontend 1.16, a forceInput input had a widget slot of its own."""
    g = UIGraph()
    g.add(1, "ForceNode", [11, "fixed", "dummy", 7, 0.5])  # old layout: seed+control, text, ...
    g.add(2, "ForceNode", [11, "fixed", 7, 0.5])  # current layout
    g.add(3, "PrimitiveStringMultiline", ["linked text"], outputs=("STRING",))
    g.connect(3, 0, 2, "text", "STRING")
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "1") == {"seed": 11, "steps": 7, "strength": 0.5}
    assert inputs_of(prompt, "2") == {"seed": 11, "steps": 7, "strength": 0.5, "text": ["3", 0]}


def test_widgets_values_saved_as_a_dict_are_read_by_widget_name(info):
    g = UIGraph()
    g.add(1, "KSampler", {"seed": 5, "steps": 9, "cfg": 2.0, "sampler_name": "ddim", "x": 1})
    assert inputs_of(convert_ui_workflow(g.workflow(), info), "1") == {
        "seed": 5,
        "steps": 9,
        "cfg": 2.0,
        "sampler_name": "ddim",
        "scheduler": info["KSampler"]["input"]["required"]["scheduler"][0][0],
        "denoise": 1.0,
    }


def test_list_values_are_wrapped_so_the_server_does_not_read_them_as_links(info):
    g = UIGraph()
    g.add(1, "PrimitiveStringMultiline", [["a", "b"]])
    assert inputs_of(convert_ui_workflow(g.workflow(), info), "1") == {
        "value": {"__value__": ["a", "b"]}
    }


def test_titles_saved_else_the_display_name_the_frontend_shows(info):
    g = UIGraph()
    g.add(1, "EmptyLatentImage", [512, 512, 1], title="$size")
    g.add(2, "EmptyLatentImage", [512, 512, 1], title="")
    g.add(3, "ImageBlur", [1, 1.0])  # /object_info has no display name for it
    g.add(4, "ComboControl", [])
    prompt = convert_ui_workflow(g.workflow(), info)
    assert [prompt[i]["_meta"]["title"] for i in "1234"] == [
        "$size",
        "Empty Latent Image",
        "Image Blur",
        "Combo Control",
    ]


def checkpoint_sampler_decode(sampler_mode: int = 0) -> UIGraph:
    g = UIGraph()
    g.add(1, "CheckpointLoaderSimple", ["model.safetensors"], outputs=("MODEL", "CLIP", "VAE"))
    g.add(2, "EmptyLatentImage", [512, 512, 1], outputs=("LATENT",))
    g.add(3, "KSampler", [1, "fixed", 20, 8, "euler", "normal", 1], mode=sampler_mode)
    g.add(4, "VAEDecode", [], outputs=("IMAGE",))
    g.connect(1, 0, 3, "model", "MODEL")
    g.connect(2, 0, 3, "latent_image", "LATENT")
    g.node(3)["outputs"] = [{"name": "LATENT", "type": "LATENT", "links": []}]
    g.connect(3, 0, 4, "samples", "LATENT")
    g.connect(1, 2, 4, "vae", "VAE")
    return g


def test_a_muted_node_is_left_out_and_links_to_it_are_dropped(info):
    prompt = convert_ui_workflow(checkpoint_sampler_decode(sampler_mode=2).workflow(), info)
    assert "3" not in prompt
    assert inputs_of(prompt, "4") == {"vae": ["1", 2]}


def test_a_bypassed_node_passes_its_input_of_the_same_type_through(info):
    prompt = convert_ui_workflow(checkpoint_sampler_decode(sampler_mode=4).workflow(), info)
    assert "3" not in prompt
    # KSampler's LATENT output slot 0 faces its "model" socket, which is no LATENT: the first
    # input of exactly the type the VAE Decode wants is used instead
    assert inputs_of(prompt, "4") == {"samples": ["2", 0], "vae": ["1", 2]}


def test_bypass_through_mismatched_types(info):
    g = UIGraph()
    g.add(1, "LoadImage", ["a.png", "image"], outputs=("IMAGE", "MASK"))
    g.add(2, "UpscaleModelLoader", ["x4.pth"], outputs=("UPSCALE_MODEL",))
    g.add(3, "ImageUpscaleWithModel", [], mode=4, outputs=("IMAGE",))
    g.connect(2, 0, 3, "upscale_model", "UPSCALE_MODEL")
    g.connect(1, 0, 3, "image", "IMAGE")
    g.add(4, "SaveImage", ["up"])
    g.connect(3, 0, 4, "images", "IMAGE")
    g.add(5, "EmptyLatentImage", [512, 512, 1], outputs=("LATENT",))
    g.add(6, "VAEDecode", [], mode=4, outputs=("IMAGE",))
    g.connect(5, 0, 6, "samples", "LATENT")
    g.add(7, "SaveImage", ["nothing fits"])
    g.connect(6, 0, 7, "images", "IMAGE")
    g.add(8, "PreviewAny", [])
    g.connect(6, 0, 8, "source", "*")
    prompt = convert_ui_workflow(g.workflow(), info)
    # socket order is upscale_model, image: the IMAGE input is found by its type
    assert inputs_of(prompt, "4") == {"filename_prefix": "up", "images": ["1", 0]}
    # VAE Decode's inputs are LATENT and VAE: nothing can stand in for its IMAGE
    assert inputs_of(prompt, "7") == {"filename_prefix": "nothing fits"}
    # a wildcard input takes whatever the same index holds, here the latent
    assert inputs_of(prompt, "8") == {"source": ["5", 0], "preview": ""}


def test_bypass_of_a_node_with_several_outputs_maps_each_to_its_input(info):
    g = UIGraph()
    g.add(1, "CheckpointLoaderSimple", ["m"], outputs=("MODEL", "CLIP", "VAE"))
    g.add(2, "LoraLoader", ["l.safetensors", 1, 1], mode=4, outputs=("MODEL", "CLIP"))
    g.connect(1, 0, 2, "model", "MODEL")
    g.connect(1, 1, 2, "clip", "CLIP")
    g.add(3, "CLIPTextEncode", ["cat"])
    g.connect(2, 1, 3, "clip", "CLIP")
    g.add(4, "DifferentialDiffusion", [1.0])
    g.connect(2, 0, 4, "model", "MODEL")
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "3")["clip"] == ["1", 1]
    assert inputs_of(prompt, "4")["model"] == ["1", 0]


def test_reroutes_pass_links_through(info):
    g = UIGraph()
    g.add(1, "LoadImage", ["a.png", "image"], outputs=("IMAGE", "MASK"))
    g.add(2, "Reroute", outputs=("*",))
    g.add(3, "Reroute", outputs=("*",))
    g.connect(1, 0, 2, "", "*")
    g.connect(2, 0, 3, "", "*")
    g.add(4, "SaveImage", ["r"])
    g.connect(3, 0, 4, "images", "IMAGE")
    g.add(5, "Reroute", outputs=("*",))  # nothing goes in
    g.add(6, "SaveImage", ["empty"])
    g.connect(5, 0, 6, "images", "IMAGE")
    prompt = convert_ui_workflow(g.workflow(), info)
    assert sorted(prompt) == ["1", "4", "6"]
    assert inputs_of(prompt, "4")["images"] == ["1", 0]
    assert inputs_of(prompt, "6") == {"filename_prefix": "empty"}


def test_a_primitive_node_writes_its_value_into_every_widget_it_feeds(info):
    g = UIGraph()
    g.add(1, "PrimitiveNode", [33, "fixed"], title="steps", outputs=("INT",))
    g.add(2, "KSampler", [1, "fixed", 20, 8, "euler", "normal", 1])
    g.add(3, "KSampler", [2, "fixed", 25, 8, "euler", "normal", 1])
    g.connect(1, 0, 2, "steps", "INT", widget=True)
    g.connect(1, 0, 3, "steps", "INT", widget=True)
    g.add(4, "PrimitiveNode", [20000, "fixed"], outputs=("INT",))  # above steps' max 10000
    g.add(5, "KSampler", [3, "fixed", 25, 8, "euler", "normal", 1])
    g.connect(4, 0, 5, "steps", "INT", widget=True)
    g.add(6, "PrimitiveNode", [7, "fixed"], outputs=("INT",))  # through a reroute: no widget
    g.add(7, "Reroute", outputs=("*",))
    g.connect(6, 0, 7, "", "INT")
    g.add(8, "KSampler", [4, "fixed", 25, 8, "euler", "normal", 1])
    g.connect(7, 0, 8, "steps", "INT", widget=True)
    prompt = convert_ui_workflow(g.workflow(), info)
    assert sorted(prompt) == ["2", "3", "5", "8"]
    assert inputs_of(prompt, "2")["steps"] == inputs_of(prompt, "3")["steps"] == 33
    assert inputs_of(prompt, "5")["steps"] == 10000  # clamped to the range of its target
    assert inputs_of(prompt, "8")["steps"] == 25


def test_a_primitive_node_can_replace_node_widget_references(info):
    g = UIGraph()
    g.add(1, "EmptyLatentImage", [640, 480, 1])
    g.add(
        2, "PrimitiveNode", ["%EmptyLatentImage.width%x%Size.height% %nope.x%"], outputs=("STRING",)
    )
    g.node(2)["properties"] = {"Run widget replace on values": True}
    g.node(1)["title"] = "Size"
    g.add(3, "CLIPTextEncode", ["placeholder"])
    g.connect(2, 0, 3, "text", "STRING", widget=True)
    prompt = convert_ui_workflow(g.workflow(), info)
    assert inputs_of(prompt, "3") == {"text": "640x480 %nope.x%"}


class _Draw(random.Random):
    """An rng whose every draw is ``fraction`` (first choice at 0, last near 1)."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def random(self) -> float:
        return self.fraction


def test_dynamic_prompts_choose_strip_comments_and_unescape(info):
    g = UIGraph()
    g.add(1, "CLIPTextEncode", ["a {red|green|blue} car, {big|{tiny|huge}} // note"])
    g.add(2, "CLIPTextEncode", ["\\{kept\\} /* gone */ {only}\nline two"])
    g.add(3, "PrimitiveStringMultiline", ["{not|dynamic}"])  # its spec has no dynamicPrompts
    first = convert_ui_workflow(g.workflow(), info, rng=_Draw(0.0))
    last = convert_ui_workflow(g.workflow(), info, rng=_Draw(0.99))
    assert inputs_of(first, "1")["text"] == "a red car, big "
    assert inputs_of(last, "1")["text"] == "a blue car, huge "
    assert inputs_of(first, "2")["text"] == "{kept}  only\nline two"
    assert inputs_of(first, "3")["value"] == "{not|dynamic}"
    # reproducible by default
    assert convert_ui_workflow(g.workflow(), info) == convert_ui_workflow(g.workflow(), info)


def test_save_nodes_replace_widget_references_and_dates_in_file_names(info):
    g = UIGraph()
    g.add(1, "KSampler", [42, "fixed", 20, 8, "euler", "normal", 1])
    g.add(2, "CLIPTextEncode", ['a/b:c*"d'], title="Prompt")
    g.add(3, "SaveImage", ["run_%KSampler.seed%_%date:yyyy-MM-dd hhmmss%_%Prompt.text%"])
    g.add(4, "SaveImage", ["%width%_%Missing.seed%_%a.b.c%_%KSampler.nope%"])
    prompt = convert_ui_workflow(g.workflow(), info, now=lambda: datetime(2024, 3, 5, 7, 8, 9))
    # widget values are made safe for file names
    assert inputs_of(prompt, "3")["filename_prefix"] == "run_42_2024-03-05 070809_a_b_c__d"
    # what matches no node or widget is left for the server (which fills %width%)
    assert (
        inputs_of(prompt, "4")["filename_prefix"]
        == "%width%_%Missing.seed%_%a.b.c%_%KSampler.nope%"
    )


def test_kjnodes_get_and_set_nodes_redirect_links(info):
    g = UIGraph()
    g.add(1, "LoadImage", ["a.png", "image"], outputs=("IMAGE", "MASK"))
    g.add(2, "SetNode", ["img"])
    g.connect(1, 0, 2, "IMAGE", "IMAGE")
    g.add(3, "GetNode", ["img"], outputs=("IMAGE",))
    g.add(4, "SaveImage", ["g"])
    g.connect(3, 0, 4, "images", "IMAGE")
    prompt = convert_ui_workflow(g.workflow(), info)
    assert sorted(prompt) == ["1", "4"]
    assert inputs_of(prompt, "4")["images"] == ["1", 0]


def test_notes_and_other_frontend_only_nodes_never_reach_the_prompt(info):
    g = UIGraph()
    g.add(1, "Note", ["hello"])
    g.add(2, "MarkdownNote", ["# hi"])
    g.add(3, "Label (rgthree)")
    g.add(4, "EmptyLatentImage", [512, 512, 1])
    assert sorted(convert_ui_workflow(g.workflow(), info)) == ["4"]


def test_links_saved_as_objects_read_the_same(info):
    arrays = checkpoint_sampler_decode().workflow()
    objects = dict(arrays)
    objects["links"] = [
        dict(
            zip(
                ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"),
                link,
                strict=True,
            )
        )
        for link in arrays["links"]
    ]
    objects["version"] = 1
    assert is_ui_workflow(objects)
    assert convert_ui_workflow(objects, info) == convert_ui_workflow(arrays, info)


def test_native_reroutes_are_link_midpoints_not_nodes(info):
    plain = checkpoint_sampler_decode().workflow()
    rerouted = json.loads(json.dumps(plain))
    rerouted["extra"]["reroutes"] = [{"id": 1, "pos": [10, 10], "linkIds": [3]}]
    rerouted["extra"]["linkExtensions"] = [{"id": 3, "parentId": 1}]
    assert convert_ui_workflow(rerouted, info) == convert_ui_workflow(plain, info)


def test_ui_format_is_told_apart_from_api_format(info):
    assert is_ui_workflow(checkpoint_sampler_decode().workflow())
    assert is_ui_workflow({"nodes": [], "links": []})
    assert is_ui_workflow({"version": 1, "nodes": [], "state": {}})
    assert not is_ui_workflow({"3": {"class_type": "KSampler", "inputs": {}}})
    assert not is_ui_workflow({"nodes": [], "3": {"class_type": "KSampler", "inputs": {}}})
    assert not is_ui_workflow([{"nodes": []}])
    assert not is_ui_workflow("nodes")


# --- subgraphs --------------------------------------------------------------------------------


def sampler_subgraph(subgraph_id: str = "sub-sampler") -> Subgraph:
    """Inputs ``model`` (a socket) and ``steps`` (promoted: it feeds KSampler's steps widget)."""
    s = Subgraph(
        subgraph_id, "Sampler", [("model", "MODEL"), ("steps", "INT")], [("LATENT", "LATENT")]
    )
    s.add(5, "KSampler", [7, "fixed", 20, 8, "euler", "normal", 1], outputs=("LATENT",))
    s.add(6, "EmptyLatentImage", [512, 512, 1], outputs=("LATENT",))
    s.connect_input(0, 5, "model")
    s.connect_input(1, 5, "steps", widget=True)
    s.connect(6, 0, 5, "latent_image", "LATENT")
    s.connect_output(5, 0, 0)
    return s


def test_subgraph_nodes_get_outer_inner_ids_and_the_instance_owns_promoted_values(info):
    s = sampler_subgraph()
    g = UIGraph()
    g.add(1, "CheckpointLoaderSimple", ["m"], outputs=("MODEL", "CLIP", "VAE"))
    s.instance(g, 10, [33])
    g.connect(1, 0, 10, "model", "MODEL")
    s.instance(g, 11, [])  # no value of its own: the interior widget's
    g.connect(1, 0, 11, "model", "MODEL")
    g.add(2, "VAEDecode", [])
    g.connect(10, 0, 2, "samples", "LATENT")
    g.connect(1, 2, 2, "vae", "VAE")
    prompt = convert_ui_workflow(g.workflow(s), info)
    assert sorted(prompt) == ["1", "10:5", "10:6", "11:5", "11:6", "2"]
    assert inputs_of(prompt, "10:5")["steps"] == 33
    assert inputs_of(prompt, "11:5")["steps"] == 20
    assert inputs_of(prompt, "10:5")["model"] == ["1", 0]
    assert inputs_of(prompt, "10:5")["latent_image"] == ["10:6", 0]
    assert inputs_of(prompt, "2") == {"samples": ["10:5", 0], "vae": ["1", 2]}
    assert prompt["10:5"]["_meta"] == {"title": "KSampler"}


def test_a_linked_subgraph_input_wins_over_the_promoted_value(info):
    s = sampler_subgraph()
    g = UIGraph()
    g.add(3, "PrimitiveInt", [12, "fixed"], outputs=("INT",))
    s.instance(g, 10, [33])
    g.connect(3, 0, 10, "steps", "INT", widget=True)
    prompt = convert_ui_workflow(g.workflow(s), info)
    assert inputs_of(prompt, "10:5")["steps"] == ["3", 0]
    assert "model" not in inputs_of(prompt, "10:5")  # a socket-only input left unlinked


def test_nested_subgraphs_promote_through_every_level(info):
    inner = Subgraph("sub-inner", "Inner", [("steps", "INT")], [("LATENT", "LATENT")])
    inner.add(3, "KSampler", [1, "fixed", 20, 8, "euler", "normal", 1], outputs=("LATENT",))
    inner.add(4, "EmptyLatentImage", [256, 256, 1], outputs=("LATENT",))
    inner.connect(4, 0, 3, "latent_image", "LATENT")
    inner.connect_input(0, 3, "steps", widget=True)
    inner.connect_output(3, 0, 0)
    outer = Subgraph("sub-outer", "Outer", [("steps", "INT")], [("LATENT", "LATENT")])
    outer.nested.append(inner)
    inner.instance(outer, 7, [])
    outer.connect_input(0, 7, "steps", widget=True)
    outer.connect_output(7, 0, 0)
    g = UIGraph()
    outer.instance(g, 10, [44])
    outer.instance(g, 11, [])
    g.add(2, "VAEDecode", [])
    g.connect(10, 0, 2, "samples", "LATENT")
    prompt = convert_ui_workflow(g.workflow(outer), info)
    assert sorted(prompt) == ["10:7:3", "10:7:4", "11:7:3", "11:7:4", "2"]
    assert inputs_of(prompt, "10:7:3")["steps"] == 44
    assert inputs_of(prompt, "11:7:3")["steps"] == 20
    assert inputs_of(prompt, "10:7:3")["latent_image"] == ["10:7:4", 0]
    assert inputs_of(prompt, "2") == {"samples": ["10:7:3", 0]}


def test_legacy_proxy_widgets_set_interior_values_for_their_instance_only(info):
    s = Subgraph("sub-proxy", "Proxy", [], [("LATENT", "LATENT")])
    s.add(5, "KSampler", [7, "fixed", 20, 8, "euler", "normal", 1], outputs=("LATENT",))
    s.add(6, "EmptyLatentImage", [512, 512, 1], outputs=("LATENT",))
    s.add(8, "PrimitiveNode", [256, "fixed"], outputs=("INT",))
    s.connect(8, 0, 6, "width", "INT", widget=True)
    s.connect(6, 0, 5, "latent_image", "LATENT")
    s.connect_output(5, 0, 0)
    proxies = [["5", "seed"], ["5", "steps"], ["6", "$$canvas-image-preview"], ["99", "gone"]]
    proxies.append(["8", "value"])
    g = UIGraph()
    s.instance(g, 10, [123, 9, None, 1, 640], properties={"proxyWidgets": proxies})
    s.instance(g, 11, [5, 6], properties={"proxyWidgets": json.dumps(proxies[:2])})
    s.instance(g, 12)
    prompt = convert_ui_workflow(g.workflow(s), info)
    assert (inputs_of(prompt, "10:5")["seed"], inputs_of(prompt, "10:5")["steps"]) == (123, 9)
    assert (inputs_of(prompt, "11:5")["seed"], inputs_of(prompt, "11:5")["steps"]) == (5, 6)
    assert (inputs_of(prompt, "12:5")["seed"], inputs_of(prompt, "12:5")["steps"]) == (7, 20)
    # the primitive's value for instance 10, its own value elsewhere
    assert inputs_of(prompt, "10:6")["width"] == 640
    assert inputs_of(prompt, "11:6")["width"] == inputs_of(prompt, "12:6")["width"] == 256


def test_a_proxy_widget_naming_a_promoted_input_sets_the_instances_value(info):
    s = sampler_subgraph()
    g = UIGraph()
    s.instance(g, 10, [77], properties={"proxyWidgets": [["5", "steps"]]})
    assert inputs_of(convert_ui_workflow(g.workflow(s), info), "10:5")["steps"] == 77


def test_a_bypassed_subgraph_instance_passes_its_input_through_by_type(info):
    s = Subgraph("sub-bypass", "Upscale", [("image", "IMAGE")], [("IMAGE", "IMAGE")])
    s.add(5, "ImageScale", ["bilinear", 64, 64, "disabled"], mode=4, outputs=("IMAGE",))
    s.connect_input(0, 5, "image")
    s.connect_output(5, 0, 0)
    g = UIGraph()
    g.add(1, "LoadImage", ["a.png", "image"], outputs=("IMAGE", "MASK"))
    s.instance(g, 10, mode=4)
    g.connect(1, 0, 10, "image", "IMAGE")
    g.add(2, "SaveImage", ["b"])
    g.connect(10, 0, 2, "images", "IMAGE")
    prompt = convert_ui_workflow(g.workflow(s), info)
    assert sorted(prompt) == ["1", "2"]
    assert inputs_of(prompt, "2")["images"] == ["1", 0]


def test_a_subgraph_output_fed_straight_from_its_input_resolves_outside(info):
    s = Subgraph(
        "sub-through", "Through", [("image", "IMAGE")], [("IMAGE", "IMAGE"), ("X", "IMAGE")]
    )
    s.connect(-10, 0, -20, "", "IMAGE")
    s.inputs[0]["linkIds"].append(1)
    s.outputs[0]["linkIds"].append(1)
    g = UIGraph()
    g.add(1, "LoadImage", ["a.png", "image"], outputs=("IMAGE", "MASK"))
    s.instance(g, 10)
    g.connect(1, 0, 10, "image", "IMAGE")
    g.add(2, "SaveImage", ["b"])
    g.connect(10, 0, 2, "images", "IMAGE")
    g.add(3, "SaveImage", ["unfed output"])
    g.connect(10, 1, 3, "images", "IMAGE")
    prompt = convert_ui_workflow(g.workflow(s), info)
    assert inputs_of(prompt, "2")["images"] == ["1", 0]
    assert inputs_of(prompt, "3") == {"filename_prefix": "unfed output"}


def test_convert_ui_tells_which_inputs_each_primitive_node_reached(info):
    """A DSL marker on a PrimitiveNode's title binds every input its value reached."""
    s = Subgraph("sub-prim", "Sized", [("steps", "INT")], [("LATENT", "LATENT")])
    s.add(5, "KSampler", [7, "fixed", 20, 8, "euler", "normal", 1], outputs=("LATENT",))
    s.add(6, "EmptyLatentImage", [512, 512, 1], outputs=("LATENT",))
    s.add(8, "PrimitiveNode", [768, "fixed"], title="$width", outputs=("INT",))
    s.connect(8, 0, 6, "width", "INT", widget=True)
    s.connect(6, 0, 5, "latent_image", "LATENT")
    s.connect_input(0, 5, "steps", widget=True)
    s.connect_output(5, 0, 0)
    g = UIGraph()
    g.add(1, "PrimitiveNode", [30, "fixed"], title="$steps.value", outputs=("INT",))
    g.add(2, "KSampler", [1, "fixed", 20, 8, "euler", "normal", 1])
    g.add(3, "KSampler", [1, "fixed", 20, 8, "euler", "normal", 1], mode=2)
    g.connect(1, 0, 2, "steps", "INT", widget=True)
    g.connect(1, 0, 3, "steps", "INT", widget=True)
    s.instance(g, 10, [40])
    s.instance(g, 11, [41])
    g.add(4, "PrimitiveNode", [50, "fixed"], title="into the subgraph", outputs=("INT",))
    g.connect(4, 0, 11, "steps", "INT", widget=True)
    g.add(9, "PrimitiveNode", [], outputs=("INT",))  # never connected: no value, not listed
    result = convert_ui(g.workflow(s), info)
    assert result.prompt == convert_ui_workflow(g.workflow(s), info)
    assert result.primitives == (
        PrimitiveSource("1", "$steps.value", (("2", "steps"),)),
        PrimitiveSource("10:8", "$width", (("10:6", "width"),)),
        PrimitiveSource("11:8", "$width", (("11:6", "width"),)),
        # a subgraph input linked to a primitive is linked, so the interior keeps its value
        PrimitiveSource("4", "into the subgraph", ()),
    )
    assert (
        inputs_of(result.prompt, "10:6")["width"]
        == inputs_of(result.prompt, "11:6")["width"]
        == 768
    )
    assert inputs_of(result.prompt, "10:5")["steps"] == 40
    assert inputs_of(result.prompt, "11:5")["steps"] == 20


# --- what cannot be converted faithfully is refused -------------------------------------------


def assert_refused(workflow, info, node_id, title, node_type, reason):
    with pytest.raises(UIConversionError, match=reason) as caught:
        convert_ui_workflow(workflow, info)
    error = caught.value
    assert (error.node_id, error.title, error.node_type) == (node_id, title, node_type)
    for part in (node_id, title, node_type):
        assert part in str(error)


def test_a_node_type_the_server_lacks_is_refused_naming_id_title_and_type(info):
    g = UIGraph()
    g.add(4, "FancyNode", [1, 2], title="My Node")
    assert_refused(g.workflow(), info, "4", "My Node", "FancyNode", "has no node of this type")
    s = Subgraph("sub-fancy", "Fancy", [], [])
    s.add(5, "FancyNode")
    g = UIGraph()
    s.instance(g, 10)
    assert_refused(g.workflow(s), info, "10:5", "FancyNode", "FancyNode", "no node of this type")


def test_a_conversion_error_survives_pickling():
    error = UIConversionError("why", node_id="10:5", title="T", node_type="X")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.node_id, copy.title, copy.node_type, copy.reason) == ("10:5", "T", "X", "why")
    assert str(copy) == str(error)


def test_a_missing_node_type_that_is_bypassed_or_muted_is_converted_around(info):
    g = UIGraph()
    g.add(1, "LoadImage", ["a.png", "image"], outputs=("IMAGE", "MASK"))
    g.add(2, "FancyFilter", [0.5], mode=4, outputs=("IMAGE",))
    g.connect(1, 0, 2, "image", "IMAGE")
    g.add(3, "FancyMuted", mode=2)
    g.add(4, "SaveImage", ["b"])
    g.connect(2, 0, 4, "images", "IMAGE")
    prompt = convert_ui_workflow(g.workflow(), info)
    assert sorted(prompt) == ["1", "4"]
    assert inputs_of(prompt, "4")["images"] == ["1", 0]


@pytest.mark.parametrize("mode", [0, 2, 4])
def test_legacy_group_nodes_are_refused(info, mode):
    """The frontend expands them even when muted or bypassed; this converter does not."""
    g = UIGraph()
    g.add(3, "workflow>Sampler Group", [1, "fixed"], mode=mode)
    workflow = g.workflow()
    workflow["extra"]["groupNodes"] = {"Sampler Group": {"nodes": [], "links": []}}
    assert_refused(workflow, info, "3", "workflow>Sampler Group", "workflow>Sampler Group", "group")


@pytest.mark.parametrize(
    ("node_type", "widgets", "title"),
    [
        ("RecordAudio", ["", ""], "Record Audio"),
        ("Load3D", ["m.glb", "", 1024, 1024], "Load 3D"),
        ("WebcamCapture", ["", 640, 480, False, ""], "Webcam Capture"),
    ],
)
def test_nodes_whose_value_the_browser_computes_when_queued_are_refused(
    info, node_type, widgets, title
):
    g = UIGraph()
    g.add(2, node_type, widgets)
    assert_refused(g.workflow(), info, "2", title, node_type, "computed in the browser")
    g.node(2)["mode"] = 2
    assert convert_ui_workflow(g.workflow(), info) == {}


def test_links_in_a_loop_are_refused(info):
    g = UIGraph()
    g.add(1, "Reroute", outputs=("*",))
    g.add(2, "Reroute", outputs=("*",))
    g.connect(1, 0, 2, "", "*")
    g.connect(2, 0, 1, "", "*")
    g.add(3, "SaveImage", ["loop"])
    g.connect(2, 0, 3, "images", "IMAGE")
    with pytest.raises(UIConversionError, match="loop") as caught:
        convert_ui_workflow(g.workflow(), info)
    assert caught.value.node_type == "Reroute"


def test_a_subgraph_that_contains_itself_is_refused(info):
    s = Subgraph("sub-self", "Self", [], [])
    s.instance(s, 4)
    g = UIGraph()
    s.instance(g, 10)
    with pytest.raises(UIConversionError, match="contains") as caught:
        convert_ui_workflow(g.workflow(s), info)
    assert caught.value.node_type == "sub-self"


@pytest.mark.parametrize(
    "workflow",
    [
        {"nodes": "no", "links": []},
        {"nodes": [{"type": "KSampler"}], "links": []},
        {"nodes": [{"id": 1}], "links": []},
        {"nodes": [], "links": [["x"]]},
        {"nodes": [], "links": [], "definitions": {"subgraphs": [{"name": "no id"}]}},
    ],
)
def test_an_unreadable_ui_workflow_is_a_load_error(info, workflow):
    with pytest.raises(WorkflowLoadError):
        convert_ui_workflow(workflow, info)


# --- random widget layouts --------------------------------------------------------------------

SEED_NAMES = ("seed", "noise_seed")
KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "LIST", "COMBO", "IMAGE", "FORCED")


@st.composite
def widget_inputs(draw: st.DrawFn, name: str) -> tuple[list[Any], list[Any], Any, Any]:
    """One input: its spec, the slots the frontend saves for it, its value and its default."""
    kind = draw(st.sampled_from(KINDS))
    options: dict[str, Any] = {}
    control = draw(st.sampled_from([None, True, False]))
    if control is not None and kind in ("INT", "LIST", "COMBO"):
        options["control_after_generate"] = control
    if kind == "IMAGE":
        return ["IMAGE", options], [], None, None
    if kind == "FORCED":  # a socket only since frontend 1.16
        return ["STRING", {"forceInput": True}], [], None, None
    if kind == "INT":
        default = draw(st.integers(0, 100))
        value: Any = draw(st.integers(-(2**53), 2**53))
        seed_control = control or (control is None and name in SEED_NAMES)
        return (
            ["INT", {**options, "default": default}],
            [value, "fixed"][: 1 + seed_control],
            value,
            default,
        )
    if kind == "FLOAT":
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
        return ["FLOAT", options], [value], value, 0
    if kind == "STRING":
        value = draw(st.text(max_size=12))
        return ["STRING", options], [value], value, ""
    if kind == "BOOLEAN":
        value = draw(st.booleans())
        return ["BOOLEAN", options], [value], value, False
    choices = draw(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True))
    value = draw(st.sampled_from(choices))
    spec = [choices, options] if kind == "LIST" else ["COMBO", {**options, "options": choices}]
    slots = [value, "randomize", "^a"] if control else [value]
    return spec, slots, value, choices[0]


def migration_length(inputs: list[tuple[str, list[Any]]]) -> int:
    """How many values the frontend expects from a save that predates 1.16 (see
    ``test_legacy_force_input_dummy_values_are_dropped``): one per widget or forceInput input,
    two for one with a control widget."""
    length = 0
    for name, (spec_type, options) in inputs:
        if options.get("forceInput"):
            length += 1
        elif spec_type != "IMAGE":
            control = options.get("control_after_generate")
            length += 2 if control or (control is None and name in SEED_NAMES) else 1
    return length


@st.composite
def widget_layouts(draw: st.DrawFn) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    """A random node definition, the ``widgets_values`` the frontend saves for it (maybe cut
    short, as by an older version), and the API inputs that must come out."""
    names = draw(
        st.lists(st.sampled_from([*SEED_NAMES, *"abcdefgh"]), min_size=1, max_size=8, unique=True)
    )
    drawn = {name: draw(widget_inputs(name)) for name in names}
    optional = {name for name in names if draw(st.booleans())}
    # widgets are created for the required inputs first, then the optional ones
    order = [n for n in names if n not in optional] + [n for n in names if n in optional]
    saved = [slot for name in order for slot in drawn[name][1]]
    cut = draw(st.integers(0, len(saved)))
    forced = any(spec[1].get("forceInput") for spec, *_ in drawn.values())
    # a save as long as a pre-1.16 one would be migrated: that has a test of its own
    assume(not forced or cut != migration_length([(n, drawn[n][0]) for n in order]))
    expected: dict[str, Any] = {}
    position = 0
    for name in order:
        spec, slots, value, default = drawn[name]
        if slots:
            expected[name] = value if position < cut else default
        position += len(slots)
    node_def = {
        "display_name": "Random",
        "input": {
            "required": {n: drawn[n][0] for n in names if n not in optional},
            "optional": {n: drawn[n][0] for n in names if n in optional},
        },
        "input_order": {
            "required": [n for n in names if n not in optional],
            "optional": [n for n in names if n in optional],
        },
        "output": [],
    }
    return node_def, saved[:cut], expected


@given(widget_layouts())
@settings(max_examples=300, deadline=None)
def test_random_widget_layouts_convert_to_the_saved_values(layout):
    node_def, widgets_values, expected = layout
    positional = UIGraph()
    positional.add(1, "Random", widgets_values)
    assert (
        convert_ui_workflow(positional.workflow(), {"Random": node_def})["1"]["inputs"] == expected
    )
    by_name = UIGraph()  # the same values saved as a dict keyed by widget name
    by_name.add(1, "Random", expected)
    assert convert_ui_workflow(by_name.workflow(), {"Random": node_def})["1"]["inputs"] == expected
