"""The fake server's node catalogue and its ``/object_info`` rendering.

Input specs mirror ComfyUI's ``INPUT_TYPES``: ``("TYPE",)`` or
``("TYPE", {options})``, where TYPE is a type name, a list of combo options,
``"COMBO"`` with ``options["options"]`` (V3 nodes), or :class:`InputFiles`
(a combo listing the input folder, resolved per request).

Besides the classes written out below, the catalogue holds the definitions in
``object_info_0.3.64.json``: entries copied verbatim from the ``/object_info`` of a real
ComfyUI 0.3.64 (for UI-format workflows, whose conversion depends on them, and for the
model-free :data:`CORE_NODES` of smoke tests). Two things are
adapted when they are loaded: upload combos list the fake's input folder, and model combos that
were empty on that server (it had no models) list :data:`FAKE_MODELS`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import attrs

from ._folders import Folders

MAX_RESOLUTION = 16384
CHECKPOINTS = ["sd15.safetensors", "sdxl.safetensors"]
SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm",
    "ipndm", "ipndm_v", "deis", "res_multistep", "gradient_estimation", "er_sde", "ddim",
    "uni_pc", "uni_pc_bh2",
]  # fmt: skip
SCHEDULERS = [
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
]  # fmt: skip
VHS_FORMATS = ["image/gif", "image/webp", "video/h264-mp4", "video/webm"]

InputSpec = tuple[Any, ...]


@attrs.frozen
class InputFiles:
    """A combo whose options are the input folder's files of one media kind."""

    kind: str
    v3: bool = False

    def resolve(self, folders: Folders, options: dict[str, Any]) -> InputSpec:
        """The concrete ``(type, options)`` spec for the folder's current content."""
        files = folders.input_files(self.kind)
        if self.v3:
            return ("COMBO", {**options, "options": files})
        return (files, options)


@attrs.frozen(kw_only=True)
class NodeDef:
    """One node class: its inputs, outputs and presentation."""

    name: str
    display_name: str
    category: str
    required: dict[str, InputSpec] = attrs.Factory(dict)
    optional: dict[str, InputSpec] = attrs.Factory(dict)
    hidden: dict[str, str] = attrs.Factory(dict)
    outputs: tuple[str, ...] = ()
    output_names: tuple[str, ...] | None = None
    output_is_list: tuple[bool, ...] | None = None
    input_is_list: bool = False
    output_node: bool = False
    python_module: str = "nodes"
    description: str = ""
    #: further top-level ``/object_info`` keys, rendered as they are (``output_tooltips``, …)
    extra: dict[str, Any] = attrs.Factory(dict)

    def input_spec(self, name: str, folders: Folders) -> tuple[str, InputSpec] | None:
        """(category, resolved spec) of a declared input, None if undeclared."""
        for category, specs in (("required", self.required), ("optional", self.optional)):
            if name in specs:
                return category, resolve_spec(specs[name], folders)
        return None

    def declared_inputs(self) -> list[str]:
        """Required then optional input names, in declaration order."""
        return [*self.required, *self.optional]

    def object_info(self, folders: Folders) -> dict[str, Any]:
        """This class as ``GET /object_info`` renders it."""
        inputs: dict[str, Any] = {
            "required": {k: list(resolve_spec(v, folders)) for k, v in self.required.items()}
        }
        if self.optional:
            inputs["optional"] = {
                k: list(resolve_spec(v, folders)) for k, v in self.optional.items()
            }
        if self.hidden:
            inputs["hidden"] = dict(self.hidden)
        return {
            "input": inputs,
            "input_order": {key: list(value) for key, value in inputs.items()},
            "is_input_list": self.input_is_list,
            "output": list(self.outputs),
            "output_is_list": list(self.output_is_list or [False] * len(self.outputs)),
            "output_name": list(self.output_names or self.outputs),
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "python_module": self.python_module,
            "category": self.category,
            "output_node": self.output_node,
            **self.extra,
        }


def resolve_spec(spec: InputSpec, folders: Folders) -> InputSpec:
    """Replace an :class:`InputFiles` type by the current file list."""
    kind = spec[0]
    if isinstance(kind, InputFiles):
        return kind.resolve(folders, spec[1] if len(spec) > 1 else {})
    return spec


_IMAGE_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
_SEED = ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True})
_STEPS = ("INT", {"default": 20, "min": 1, "max": 10000})
_CFG = ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01})
_SIZE = ("INT", {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8})
_FPS = ("FLOAT", {"default": 24.0, "min": 0.01, "max": 1000.0, "step": 0.01})


def _prefix(default: str) -> InputSpec:
    return ("STRING", {"default": default, "tooltip": "The prefix for the file to save."})


def _save_image_like(
    name: str, display: str, category: str, extra: dict[str, InputSpec]
) -> NodeDef:
    return NodeDef(
        name=name,
        display_name=display,
        category=category,
        required={"images": ("IMAGE",), "filename_prefix": _prefix("ComfyUI"), **extra},
        hidden=_IMAGE_HIDDEN,
        output_node=True,
    )


_DEFS = [
    NodeDef(
        name="CheckpointLoaderSimple",
        display_name="Load Checkpoint",
        category="loaders",
        required={
            "ckpt_name": (CHECKPOINTS, {"tooltip": "The name of the checkpoint (model) to load."})
        },
        outputs=("MODEL", "CLIP", "VAE"),
    ),
    NodeDef(
        name="CLIPTextEncode",
        display_name="CLIP Text Encode (Prompt)",
        category="conditioning",
        required={
            "text": ("STRING", {"multiline": True, "dynamicPrompts": True}),
            "clip": ("CLIP",),
        },
        outputs=("CONDITIONING",),
    ),
    NodeDef(
        name="EmptyLatentImage",
        display_name="Empty Latent Image",
        category="latent",
        required={
            "width": _SIZE,
            "height": _SIZE,
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
        },
        outputs=("LATENT",),
    ),
    NodeDef(
        name="KSampler",
        display_name="KSampler",
        category="sampling",
        required={
            "model": ("MODEL",),
            "seed": _SEED,
            "steps": _STEPS,
            "cfg": _CFG,
            "sampler_name": (SAMPLERS,),
            "scheduler": (SCHEDULERS,),
            "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",),
            "latent_image": ("LATENT",),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
        },
        outputs=("LATENT",),
    ),
    NodeDef(
        name="KSamplerAdvanced",
        display_name="KSampler (Advanced)",
        category="sampling",
        required={
            "model": ("MODEL",),
            "add_noise": (["enable", "disable"],),
            "noise_seed": _SEED,
            "steps": _STEPS,
            "cfg": _CFG,
            "sampler_name": (SAMPLERS,),
            "scheduler": (SCHEDULERS,),
            "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",),
            "latent_image": ("LATENT",),
            "start_at_step": ("INT", {"default": 0, "min": 0, "max": 10000}),
            "end_at_step": ("INT", {"default": 10000, "min": 0, "max": 10000}),
            "return_with_leftover_noise": (["disable", "enable"],),
        },
        outputs=("LATENT",),
    ),
    NodeDef(
        name="VAEDecode",
        display_name="VAE Decode",
        category="latent",
        required={"samples": ("LATENT",), "vae": ("VAE",)},
        outputs=("IMAGE",),
    ),
    NodeDef(
        name="VAEEncode",
        display_name="VAE Encode",
        category="latent",
        required={"pixels": ("IMAGE",), "vae": ("VAE",)},
        outputs=("LATENT",),
    ),
    NodeDef(
        name="LoadAudio",
        display_name="Load Audio",
        category="audio",
        required={"audio": (InputFiles("audio"), {"audio_upload": True})},
        outputs=("AUDIO",),
        python_module="comfy_extras.nodes_audio",
    ),
    NodeDef(
        name="LoadVideo",
        display_name="Load Video",
        category="image/video",
        required={"file": (InputFiles("video", v3=True), {"video_upload": True})},
        outputs=("VIDEO",),
        python_module="comfy_extras.nodes_video",
    ),
    _save_image_like(
        "SaveAnimatedWEBP",
        "SaveAnimatedWEBP",
        "image/animation",
        {
            "fps": ("FLOAT", {"default": 6.0, "min": 0.01, "max": 1000.0, "step": 0.01}),
            "lossless": ("BOOLEAN", {"default": True}),
            "quality": ("INT", {"default": 80, "min": 0, "max": 100}),
            "method": (["default", "fastest", "slowest"],),
        },
    ),
    _save_image_like(
        "SaveWEBM",
        "SaveWEBM",
        "image/video",
        {
            "codec": (["vp9", "av1"],),
            "fps": _FPS,
            "crf": ("FLOAT", {"default": 32.0, "min": 0, "max": 63.0, "step": 1}),
        },
    ),
    NodeDef(
        name="SaveVideo",
        display_name="Save Video",
        category="image/video",
        required={
            "video": ("VIDEO",),
            "filename_prefix": _prefix("video/ComfyUI"),
            "format": ("COMBO", {"options": ["auto", "mp4"], "default": "auto"}),
            "codec": ("COMBO", {"options": ["auto", "h264"], "default": "auto"}),
        },
        hidden=_IMAGE_HIDDEN,
        output_node=True,
        python_module="comfy_extras.nodes_video",
    ),
    NodeDef(
        name="SaveAudioMP3",
        display_name="Save Audio (MP3)",
        category="audio",
        required={
            "audio": ("AUDIO",),
            "filename_prefix": _prefix("audio/ComfyUI"),
            "quality": (["V0", "128k", "320k"], {"default": "V0"}),
        },
        hidden=_IMAGE_HIDDEN,
        output_node=True,
        python_module="comfy_extras.nodes_audio",
    ),
    NodeDef(
        name="PreviewAudio",
        display_name="Preview Audio",
        category="audio",
        required={"audio": ("AUDIO",)},
        hidden=_IMAGE_HIDDEN,
        output_node=True,
        python_module="comfy_extras.nodes_audio",
    ),
    NodeDef(
        name="SaveLatent",
        display_name="SaveLatent",
        category="_for_testing",
        required={
            "samples": ("LATENT",),
            "filename_prefix": ("STRING", {"default": "latents/ComfyUI"}),
        },
        hidden=_IMAGE_HIDDEN,
        output_node=True,
    ),
    NodeDef(
        name="VAEDecodeHunyuan3D",
        display_name="VAEDecodeHunyuan3D",
        category="latent/3d",
        required={
            "samples": ("LATENT",),
            "vae": ("VAE",),
            "num_chunks": ("INT", {"default": 8000, "min": 1000, "max": 500000}),
            "octree_resolution": ("INT", {"default": 256, "min": 16, "max": 512}),
        },
        outputs=("VOXEL",),
        python_module="comfy_extras.nodes_hunyuan3d",
    ),
    NodeDef(
        name="VoxelToMeshBasic",
        display_name="VoxelToMeshBasic",
        category="3d",
        required={
            "voxel": ("VOXEL",),
            "threshold": ("FLOAT", {"default": 0.6, "min": -1.0, "max": 1.0}),
        },
        outputs=("MESH",),
        python_module="comfy_extras.nodes_hunyuan3d",
    ),
    NodeDef(
        name="SaveGLB",
        display_name="SaveGLB",
        category="3d",
        required={"mesh": ("MESH",), "filename_prefix": ("STRING", {"default": "mesh/ComfyUI"})},
        hidden=_IMAGE_HIDDEN,
        output_node=True,
        python_module="comfy_extras.nodes_hunyuan3d",
    ),
    NodeDef(
        name="VHS_VideoCombine",
        display_name="Video Combine 🎥🅥🅗🅢",
        category="Video Helper Suite 🎥🅥🅗🅢",
        required={
            "images": ("IMAGE",),
            "frame_rate": ("FLOAT", {"default": 8, "min": 1, "step": 1}),
            "loop_count": ("INT", {"default": 0, "min": 0, "max": 100, "step": 1}),
            "filename_prefix": ("STRING", {"default": "AnimateDiff"}),
            "format": (VHS_FORMATS,),
            "pingpong": ("BOOLEAN", {"default": False}),
            "save_output": ("BOOLEAN", {"default": True}),
        },
        optional={"audio": ("AUDIO",), "vae": ("VAE",)},
        hidden={**_IMAGE_HIDDEN, "unique_id": "UNIQUE_ID"},
        outputs=("VHS_FILENAMES",),
        output_names=("Filenames",),
        output_node=True,
        python_module="custom_nodes.ComfyUI-VideoHelperSuite",
    ),
    NodeDef(
        name="PrimitiveInt",
        display_name="Int",
        category="utils/primitive",
        required={
            "value": (
                "INT",
                {"min": -sys.maxsize, "max": sys.maxsize, "control_after_generate": True},
            )
        },
        outputs=("INT",),
        python_module="comfy_extras.nodes_primitive",
    ),
    NodeDef(
        name="easy int",
        display_name="Int",
        category="EasyUse/Logic/Type",
        required={"value": ("INT", {"default": 0, "min": -999999, "max": 999999})},
        outputs=("INT",),
        output_names=("int",),
        python_module="custom_nodes.ComfyUI-Easy-Use",
    ),
    NodeDef(
        name="ShowText|pysssss",
        display_name="Show Text 🐍",
        category="utils",
        required={"text": ("STRING", {"forceInput": True})},
        hidden={"unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"},
        outputs=("STRING",),
        output_is_list=(True,),
        input_is_list=True,
        output_node=True,
        python_module="custom_nodes.ComfyUI-Custom-Scripts",
    ),
]

SNAPSHOT = Path(__file__).with_name("object_info_0.3.64.json")
#: What an empty model combo of a snapshot definition lists on the fake.
FAKE_MODELS = ["example.safetensors"]
_UPLOAD_KINDS = {"image_upload": "image", "video_upload": "video", "audio_upload": "audio"}
_KNOWN_KEYS = {
    "name", "display_name", "category", "input", "input_order", "output", "output_name",
    "output_is_list", "output_node", "python_module", "description",
}  # fmt: skip


def _snapshot_spec(spec: list[Any]) -> InputSpec:
    """A real input spec, adapted to the fake's folders (see the module docstring)."""
    kind, options = spec[0], dict(spec[1]) if len(spec) > 1 else {}
    upload = next((k for flag, k in _UPLOAD_KINDS.items() if options.get(flag)), None)
    if upload is not None and isinstance(kind, list):
        return (InputFiles(upload), options)
    if kind == []:
        return (list(FAKE_MODELS), options) if options else (list(FAKE_MODELS),)
    if kind == "COMBO" and options.get("options") == []:
        return ("COMBO", {**options, "options": list(FAKE_MODELS)})
    return tuple(spec)


def node_from_object_info(entry: dict[str, Any]) -> NodeDef:
    """A :class:`NodeDef` rendering ``entry`` (one class of a real ``/object_info``)."""
    inputs = entry["input"]
    order = entry.get("input_order", {})

    def section(name: str) -> dict[str, InputSpec]:
        specs = inputs.get(name, {})
        return {key: _snapshot_spec(specs[key]) for key in order.get(name, specs)}

    return NodeDef(
        name=entry["name"],
        display_name=entry["display_name"],
        category=entry["category"],
        required=section("required"),
        optional=section("optional"),
        hidden={
            key: inputs["hidden"][key] for key in order.get("hidden", inputs.get("hidden", {}))
        },
        outputs=tuple(entry["output"]),
        output_names=tuple(entry["output_name"]),
        output_is_list=tuple(entry["output_is_list"]),
        output_node=entry["output_node"],
        python_module=entry["python_module"],
        description=entry["description"],
        extra={k: v for k, v in entry.items() if k not in _KNOWN_KEYS},
    )


#: The model-free core nodes real users' smoke tests use (``workflows/smoke.json``): served
#: from the snapshot, exactly as ComfyUI 0.3.64 defines them; what they compute is in
#: ``_behaviour.py``.
CORE_NODES = (
    "EmptyImage",
    "ImageInvert",
    "ImageScale",
    "GetImageSize",
    "LoadImage",
    "SaveImage",
    "PreviewImage",
    "PrimitiveString",
    "StringConcatenate",
    "PreviewAny",
    "EmptyAudio",
    "SaveAudio",
    "SaveImageWebsocket",
)

CATALOGUE: dict[str, NodeDef] = {node.name: node for node in _DEFS}
for _entry in json.loads(SNAPSHOT.read_text(encoding="utf-8")).values():
    CATALOGUE.setdefault(_entry["name"], node_from_object_info(_entry))


def server_catalogue(
    missing_nodes: Collection[str] = (), checkpoints: Sequence[str] | None = None
) -> dict[str, NodeDef]:
    """The node classes of one fake server: the catalogue without ``missing_nodes`` (custom
    nodes not installed there), its checkpoint loader listing ``checkpoints``."""
    unknown = sorted(set(missing_nodes) - set(CATALOGUE))
    if unknown:
        raise ValueError(f"not in the catalogue: {', '.join(unknown)}")
    nodes = {name: node for name, node in CATALOGUE.items() if name not in missing_nodes}
    loader = nodes.get("CheckpointLoaderSimple")
    if checkpoints is not None and loader is not None:
        _, options = loader.required["ckpt_name"]
        required = {**loader.required, "ckpt_name": (list(checkpoints), options)}
        nodes[loader.name] = attrs.evolve(loader, required=required)
    return nodes
