"""What each fake node "computes": link values, UI outputs and the files it saves.

Nothing is rendered. Values flowing along links are :class:`~._values.Blob` stand-ins
(or the literal ``value``/``text`` of the producing node, so text previews
show something traceable); output nodes write small valid files named like
ComfyUI names them and return ComfyUI's UI output dicts.

The model-free core nodes compute for real where it is cheap: images are solid
frames whose colours EmptyImage sets, ImageInvert inverts and LoadImage reads
(the top-left pixel of the file), ImageScale and GetImageSize follow the real
sizes, strings are concatenated, EmptyAudio makes silence that SaveAudio writes
as a real FLAC file, and SaveImageWebsocket streams PNG frames.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from . import _media
from ._folders import Folders
from ._nodes import CATALOGUE
from ._values import Audio, Blob, colour, colour_int, inverted, pixel

UI = dict[str, list[Any]]
_SIZED = ("LATENT", "IMAGE", "VIDEO")
_VHS_FILES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "image/gif": ("gif", _media.gif),
    "video/h264-mp4": ("mp4", _media.mp4),
    "video/webm": ("webm", _media.webm),
}


@attrs.frozen
class NodeContext:
    """Everything a fake node needs: its resolved inputs and the prompt around it."""

    node_id: str
    class_type: str
    inputs: dict[str, Any]
    digest: str
    prompt: dict[str, Any]
    extra_pnginfo: dict[str, Any] | None
    folders: Folders


@attrs.frozen
class NodeResult:
    """Values of the node's output slots and its UI output (None when it has none).

    ``streamed`` are PNG images the node sends over the WebSocket as it runs (with a
    ``progress`` event each); ``progress_text`` is shown on the node (a binary TEXT frame).
    """

    values: tuple[Any, ...]
    ui: UI | None = None
    streamed: tuple[bytes, ...] = ()
    progress_text: str | None = None


def run_node(ctx: NodeContext) -> NodeResult:
    """Execute one node; raises like ComfyUI would (e.g. a prefix escaping the output folder)."""
    behaviour = _BEHAVIOURS.get(ctx.class_type)
    return behaviour(ctx) if behaviour else NodeResult(_default_values(ctx))


def _default_values(ctx: NodeContext) -> tuple[Any, ...]:
    """Literal ``value``/``text`` for primitives and encoders, else sized blobs."""
    for key in ("value", "text"):
        if key in ctx.inputs:
            return (ctx.inputs[key],)
    sized = next((v for v in ctx.inputs.values() if isinstance(v, Blob) and v.type in _SIZED), None)
    dims = (sized.width, sized.height, sized.frames) if sized else (512, 512, 1)
    outputs = CATALOGUE[ctx.class_type].outputs
    return tuple(Blob(kind, f"{ctx.digest}:{slot}", *dims) for slot, kind in enumerate(outputs))


def _image(ctx: NodeContext, name: str) -> Blob:
    """The image input ``name`` (a stand-in of the node's own when it is not an image)."""
    value = ctx.inputs.get(name)
    return value if isinstance(value, Blob) else Blob("IMAGE", ctx.digest)


def _frames(ctx: NodeContext, name: str) -> tuple[Blob, list[_media.RGB]]:
    """The input image and the 8-bit colour a save node writes for each of its frames."""
    blob = _image(ctx, name)
    return blob, [colour(value) for value in blob.frame_pixels()]


def _pixels(blob: Blob) -> tuple[int, int]:
    """The size of a picture on disk: the image's own (the PNG of a solid frame is cheap)."""
    return max(1, blob.width), max(1, blob.height)


def _metadata(ctx: NodeContext) -> dict[str, str]:
    """ComfyUI's PNG text chunks: ``prompt`` plus every ``extra_pnginfo`` key."""
    text = {"prompt": json.dumps(ctx.prompt)}
    for key, value in (ctx.extra_pnginfo or {}).items():
        text[key] = json.dumps(value)
    return text


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))


def _save(
    ctx: NodeContext, prefix: str, folder_type: str, suffix: str, data: bytes
) -> dict[str, str]:
    """Write one file as ``{prefix}_{counter:05}{suffix}``; return its file record."""
    folder = ctx.folders.by_type(folder_type)
    assert folder is not None
    full_folder, name, counter, subfolder = ctx.folders.save_path(prefix, folder)
    filename = ctx.folders.write(full_folder, name, counter, suffix, data)
    return {"filename": filename, "subfolder": subfolder, "type": folder_type}


def _save_images(ctx: NodeContext, prefix: str, folder_type: str) -> NodeResult:
    blob, colours = _frames(ctx, "images")
    width, height = _pixels(blob)
    records = []
    for index, rgb in enumerate(colours):
        data = _media.png(width, height, rgb, _metadata(ctx))
        name = prefix.replace("%batch_num%", str(index))
        records.append(_save(ctx, name, folder_type, "_.png", data))
    return NodeResult((), {"images": records})


def _save_image(ctx: NodeContext) -> NodeResult:
    return _save_images(ctx, str(ctx.inputs.get("filename_prefix", "ComfyUI")), "output")


def _preview_image(ctx: NodeContext) -> NodeResult:
    return _save_images(ctx, _temp_prefix(), "temp")


def _save_webp(ctx: NodeContext) -> NodeResult:
    blob, colours = _frames(ctx, "images")
    data = _media.webp(*_pixels(blob), colours)
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.webp", data)
    return NodeResult((), {"images": [record], "animated": [len(colours) != 1]})


def _save_webm(ctx: NodeContext) -> NodeResult:
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.webm", _media.webm())
    return NodeResult((), {"images": [record], "animated": [True]})


def _save_video(ctx: NodeContext) -> NodeResult:
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.mp4", _media.mp4())
    return NodeResult((), {"images": [record], "animated": [True]})


def _flac(ctx: NodeContext) -> bytes:
    """The FLAC file of the ``audio`` input (silence of its length) with the metadata."""
    audio = ctx.inputs.get("audio")
    audio = audio if isinstance(audio, Audio) else Audio()
    return _media.flac(audio.sample_rate, audio.channels, audio.samples, _metadata(ctx))


def _save_flac(ctx: NodeContext) -> NodeResult:
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.flac", _flac(ctx))
    return NodeResult((), {"audio": [record]})


def _save_mp3(ctx: NodeContext) -> NodeResult:
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.mp3", _media.mp3())
    return NodeResult((), {"audio": [record]})


def _preview_audio(ctx: NodeContext) -> NodeResult:
    record = _save(ctx, _temp_prefix(), "temp", "_.flac", _flac(ctx))
    return NodeResult((), {"audio": [record]})


def _save_latent(ctx: NodeContext) -> NodeResult:
    data = _media.latent(_metadata(ctx))
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.latent", data)
    return NodeResult((), {"latents": [record]})


def _save_glb(ctx: NodeContext) -> NodeResult:
    record = _save(ctx, str(ctx.inputs["filename_prefix"]), "output", "_.glb", _media.glb())
    return NodeResult((), {"3d": [record]})


def _video_combine(ctx: NodeContext) -> NodeResult:
    """VideoHelperSuite: a metadata PNG plus the video, reported under ``gifs``."""
    blob, colours = _frames(ctx, "images")
    fmt = str(ctx.inputs["format"])
    folder_type = "output" if ctx.inputs.get("save_output", True) else "temp"
    prefix = str(ctx.inputs["filename_prefix"])
    png = _save(ctx, prefix, folder_type, ".png", _media.png(1, 1, colours[0], _metadata(ctx)))
    if fmt == "image/webp":
        extension, data = "webp", _media.webp(*_pixels(blob), colours)
    else:
        extension, make = _VHS_FILES[fmt]
        data = make()
    folder = ctx.folders.by_type(folder_type)
    assert folder is not None
    name = png["filename"].removesuffix(".png")
    path = folder / png["subfolder"] / f"{name}.{extension}"
    path.write_bytes(data)
    record = {
        "filename": path.name,
        "subfolder": png["subfolder"],
        "type": folder_type,
        "format": fmt,
        "frame_rate": ctx.inputs["frame_rate"],
        "workflow": png["filename"],
        "fullpath": str(path),
    }
    files = [str(Path(folder, png["subfolder"], png["filename"])), str(path)]
    return NodeResult(((folder_type == "output", files),), {"gifs": [record]})


def _preview_any(ctx: NodeContext) -> NodeResult:
    """ComfyUI's PreviewAny formatting of any value as one string."""
    source = ctx.inputs.get("source")
    if isinstance(source, str):
        text = source
    elif isinstance(source, (int, float, bool)):
        text = str(source)
    elif source is None:
        text = "None"
    else:
        try:
            text = json.dumps(source)
        except TypeError:
            text = str(source)
    return NodeResult((), {"text": [text]})


def _show_text(ctx: NodeContext) -> NodeResult:
    value = ctx.inputs.get("text")
    texts = [str(t) for t in value] if isinstance(value, list) else [str(value)]
    return NodeResult((texts,), {"text": texts})


def _load_image(ctx: NodeContext) -> NodeResult:
    """The file's size, and its top-left pixel as the colour of the (solid) image."""
    path = ctx.folders.resolve_annotated(str(ctx.inputs["image"]))
    data = path.read_bytes() if path else b""
    width, height = _media.png_size(data) or (512, 512)
    rgb = _media.png_first_pixel(data)
    return NodeResult(
        (
            Blob("IMAGE", ctx.digest, width, height, pixels=None if rgb is None else (pixel(rgb),)),
            Blob("MASK", ctx.digest + ":mask", width, height),
        )
    )


def _empty_image(ctx: NodeContext) -> NodeResult:
    inputs = ctx.inputs
    frames = inputs["batch_size"]
    fill = colour_int(inputs["color"])
    image = Blob("IMAGE", ctx.digest, inputs["width"], inputs["height"], frames, (fill,) * frames)
    return NodeResult((image,))


def _image_invert(ctx: NodeContext) -> NodeResult:
    image = _image(ctx, "image")
    pixels = tuple(inverted(value) for value in image.frame_pixels())
    return NodeResult((attrs.evolve(image, digest=ctx.digest, pixels=pixels),))


def _image_scale(ctx: NodeContext) -> NodeResult:
    """ImageScale's size rules (a 0 side keeps the aspect ratio); a solid frame keeps its
    colour, except that ``lanczos`` goes through 8-bit pictures and back."""
    image, inputs = _image(ctx, "image"), ctx.inputs
    width, height = inputs["width"], inputs["height"]
    if width == 0 and height == 0:
        width, height = image.width, image.height
    elif width == 0:
        width = max(1, round(image.width * height / image.height))
    elif height == 0:
        height = max(1, round(image.height * width / image.width))
    pixels = image.frame_pixels()
    if inputs["upscale_method"] == "lanczos":
        pixels = tuple(pixel(colour(value)) for value in pixels)
    return NodeResult(
        (attrs.evolve(image, digest=ctx.digest, width=width, height=height, pixels=pixels),)
    )


def _get_image_size(ctx: NodeContext) -> NodeResult:
    image = _image(ctx, "image")
    text = f"width: {image.width}, height: {image.height}\n batch size: {image.frames}"
    return NodeResult((image.width, image.height, image.frames), progress_text=text)


def _string_concatenate(ctx: NodeContext) -> NodeResult:
    inputs = ctx.inputs
    return NodeResult(
        (str(inputs["delimiter"]).join((str(inputs["string_a"]), str(inputs["string_b"]))),)
    )


def _empty_audio(ctx: NodeContext) -> NodeResult:
    inputs = ctx.inputs
    rate = inputs["sample_rate"]
    audio = Audio(rate, inputs["channels"], int(round(inputs["duration"] * rate)))
    return NodeResult((audio,))


def _save_image_websocket(ctx: NodeContext) -> NodeResult:
    """Each frame as a PNG over the WebSocket, like a preview; no file, no UI output."""
    image, colours = _frames(ctx, "images")
    width, height = _pixels(image)
    return NodeResult((), streamed=tuple(_media.png(width, height, rgb) for rgb in colours))


def _empty_latent(ctx: NodeContext) -> NodeResult:
    inputs = ctx.inputs
    blob = Blob("LATENT", ctx.digest, inputs["width"], inputs["height"], inputs["batch_size"])
    return NodeResult((blob,))


#: classes whose ``IS_CHANGED`` never matches: they run again in every prompt
ALWAYS_CHANGED = frozenset({"SaveImageWebsocket"})

_BEHAVIOURS: dict[str, Callable[[NodeContext], NodeResult]] = {
    "EmptyLatentImage": _empty_latent,
    "LoadImage": _load_image,
    "EmptyImage": _empty_image,
    "ImageInvert": _image_invert,
    "ImageScale": _image_scale,
    "GetImageSize": _get_image_size,
    "StringConcatenate": _string_concatenate,
    "EmptyAudio": _empty_audio,
    "SaveImageWebsocket": _save_image_websocket,
    "SaveImage": _save_image,
    "PreviewImage": _preview_image,
    "SaveAnimatedWEBP": _save_webp,
    "SaveWEBM": _save_webm,
    "SaveVideo": _save_video,
    "SaveAudio": _save_flac,
    "SaveAudioMP3": _save_mp3,
    "PreviewAudio": _preview_audio,
    "SaveLatent": _save_latent,
    "SaveGLB": _save_glb,
    "VHS_VideoCombine": _video_combine,
    "PreviewAny": _preview_any,
    "ShowText|pysssss": _show_text,
}
