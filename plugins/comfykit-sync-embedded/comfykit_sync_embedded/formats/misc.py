"""SVG ``<metadata>`` CDATA, GLB ``asset.extras``, safetensors ``__metadata__`` (spec §11)."""

from __future__ import annotations

import json
import struct

from .._io import Corrupt, Reader
from . import Entry

SVG_HEAD_BYTES = 1 << 16  # the metadata element follows the opening <svg ...> tag


def _json(data: bytes, where: str) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Corrupt(f"{where} is not valid JSON ({exc})") from None


def read_svg(reader: Reader) -> list[Entry]:
    """One JSON object ``{"prompt": ..., "workflow": ...}`` in a CDATA section."""
    head = reader.read(0, min(reader.size, reader.cap), "SVG text")
    start = head.find(b"<metadata>")
    if start < 0 or start > head.find(b"<svg") + SVG_HEAD_BYTES:
        return []
    cdata = head.find(b"<![CDATA[", start)
    end = head.find(b"]]>", cdata)
    if cdata < 0 or end < 0:
        return []
    obj = _json(head[cdata + 9 : end], f"SVG <metadata> at byte offset {cdata}")
    if not isinstance(obj, dict):
        return []
    return [Entry(str(k), v, f"SVG <metadata> key {k!r}") for k, v in obj.items()]


def read_glb(reader: Reader) -> list[Entry]:
    """The first (JSON) chunk's ``asset.extras``, whose values are JSON strings."""
    magic, _version, _length, chunk_len, chunk_type = struct.unpack(
        "<4sIIII", reader.read(0, 20, "GLB header")
    )
    if magic != b"glTF" or chunk_type != 0x4E4F534A:
        raise Corrupt("GLB file has no JSON chunk at byte offset 12")
    doc = _json(reader.read(20, chunk_len, "GLB JSON chunk"), "GLB JSON chunk")
    asset = doc.get("asset") if isinstance(doc, dict) else None
    extras = asset.get("extras") if isinstance(asset, dict) else None
    if not isinstance(extras, dict):
        return []
    return [Entry(str(k), v, f"GLB asset.extras {k!r}") for k, v in extras.items()]


def read_safetensors(reader: Reader) -> list[Entry]:
    """``u64le`` header length, then a JSON header whose ``__metadata__`` is a string map."""
    (length,) = struct.unpack("<Q", reader.read(0, 8, "safetensors header length"))
    doc = _json(reader.read(8, length, "safetensors header"), "safetensors header")
    meta = doc.get("__metadata__") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        return []
    return [Entry(str(k), v, f"safetensors __metadata__ {k!r}") for k, v in meta.items()]
