"""Which container a file is, from its magic bytes (the extension is only a hint, spec §15.1)."""

from __future__ import annotations

import struct

#: extension -> format, for files we claim even when their bytes are wrong
EXTENSIONS = {
    ".png": "png",
    ".apng": "png",
    ".webp": "webp",
    ".flac": "flac",
    ".mp3": "mp3",
    ".opus": "ogg",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mp4",
    ".m4a": "mp4",
    ".webm": "matroska",
    ".mkv": "matroska",
    ".svg": "svg",
    ".glb": "glb",
    ".latent": "safetensors",
    ".safetensors": "safetensors",
}
HEAD_BYTES = 64


def sniff(head: bytes, suffix: str) -> str | None:
    """Return the format name for a file starting with ``head``, or ``None`` if not ours."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3"):
        return "mp3"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"glTF"):
        return "glb"
    if suffix == ".mp3" and len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"
    if suffix == ".svg" and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<svg", b"<?xml")):
        return "svg"
    if suffix in (".latent", ".safetensors") and len(head) >= 9:
        (length,) = struct.unpack("<Q", head[:8])
        if length > 1 and head[8:9] == b"{":
            return "safetensors"
    return None


def describe(head: bytes) -> str:
    """A short human description of what unknown bytes look like."""
    if not head:
        return "the file is empty"
    for magic, name in (
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"{", "JSON text"),
        (b"[", "JSON text"),
        (b"<", "XML/HTML text"),
    ):
        if head.lstrip().startswith(magic):
            return f"it looks like {name}"
    return f"it starts with bytes {head[:8].hex(' ')}"
