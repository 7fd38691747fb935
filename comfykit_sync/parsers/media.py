"""Parser for file outputs under any key: classified by extension, ``format`` and ``animated``.

Videos arrive under ``images`` (SaveVideo, SaveWEBM) or ``gifs`` (VHS), so the key is never
used. ``.gif`` counts as video (as the original SDK did locally); animated WebP/PNG stay images
with ``animated=True``. Files of unknown type are kept as kind ``file``, never dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..hookspecs import hookimpl
from ..models import Artifact, OutputItem

EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(
        (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".svg", ".heic"),
        "image",
    ),
    **dict.fromkeys((".mp4", ".mov", ".avi", ".webm", ".gif", ".mkv", ".m4v"), "video"),
    **dict.fromkeys((".mp3", ".wav", ".flac", ".ogg", ".aac", ".m4a", ".wma", ".opus"), "audio"),
    **dict.fromkeys((".glb", ".gltf", ".obj", ".fbx", ".stl", ".ply", ".usdz"), "model3d"),
}
MIME_PREFIXES = {"image/gif": "video", "image/": "image", "video/": "video", "audio/": "audio"}


def classify(filename: str, mime: str | None = None) -> str:
    """The artifact kind of a file name (and optional MIME ``format``)."""
    kind = EXTENSIONS.get(os.path.splitext(filename)[1].lower())
    if kind:
        return kind
    for prefix, mime_kind in MIME_PREFIXES.items():
        if mime and mime.startswith(prefix):
            return mime_kind
    return "file"


def _animated(node_output: Mapping[str, object]) -> bool:
    flags = node_output.get("animated")
    return isinstance(flags, (list, tuple)) and any(flag is True for flag in flags)


@hookimpl(trylast=True)
def comfykit_parse_output(output: OutputItem) -> Artifact | None:
    record = output.value
    if not isinstance(record, Mapping) or not isinstance(record.get("filename"), str):
        return None
    filename = record["filename"]
    mime = record.get("format") if isinstance(record.get("format"), str) else None
    return Artifact(
        kind=classify(filename, mime),
        var=output.var,
        node_id=output.node_id,
        display_node=output.display_node,
        url=output.url,
        filename=filename,
        subfolder=str(record.get("subfolder") or ""),
        folder_type=str(record.get("type") or "output"),
        animated=_animated(output.node_output),
    )
