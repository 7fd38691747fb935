"""Build ComfyUI-style media files in memory (stdlib only), following the spec's §16 recipes."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

PROMPT: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {"seed": 1, "steps": 20},
        "_meta": {"title": "Sampler, $seed"},
    },
    "9": {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": "x", "images": ["3", 0]},
        "_meta": {"title": "$output.image"},
    },
}
UI: dict[str, Any] = {"nodes": [], "links": [], "version": 0.4}
#: A small UI-format workflow (EmptyImage -> ImageInvert -> SaveImage) with markers in titles.
UI_INVERT: dict[str, Any] = {
    "last_node_id": 3,
    "last_link_id": 2,
    "nodes": [
        {
            "id": 1,
            "type": "EmptyImage",
            "title": "Canvas, $width",
            "mode": 0,
            "inputs": [],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            "properties": {},
            "widgets_values": [64, 64, 1, 0],
        },
        {
            "id": 2,
            "type": "ImageInvert",
            "mode": 0,
            "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
            "properties": {},
        },
        {
            "id": 3,
            "type": "SaveImage",
            "title": "$output.inverted",
            "mode": 0,
            "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
            "outputs": [],
            "properties": {},
            "widgets_values": ["inverted"],
        },
    ],
    "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    "groups": [],
    "config": {},
    "extra": {},
    "version": 0.4,
}
PJ = json.dumps(PROMPT)
UJ = json.dumps(UI)


# --- PNG -------------------------------------------------------------------------------------
def chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def text(key: str, value: str, ctype: bytes = b"tEXt") -> bytes:
    return chunk(ctype, key.encode("latin-1") + b"\0" + value.encode("latin-1"))


def ztxt(key: str, value: str) -> bytes:
    return chunk(b"zTXt", key.encode() + b"\0\0" + zlib.compress(value.encode("latin-1")))


def itxt(key: str, value: str, compressed: bool = False) -> bytes:
    raw = value.encode("utf-8")
    body = zlib.compress(raw) if compressed else raw
    return chunk(b"iTXt", key.encode() + b"\0" + bytes([int(compressed), 0]) + b"\0\0" + body)


def png(before: list[bytes] = (), after: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + b"".join(before)
        + idat
        + b"".join(after)
        + chunk(b"IEND", b"")
    )


# --- WebP ------------------------------------------------------------------------------------
def tiff(values: list[tuple[int, str]], endian: str = ">") -> bytes:
    head = (b"MM\0*" if endian == ">" else b"II*\0") + struct.pack(endian + "I", 8)
    data_at = 8 + 2 + 12 * len(values) + 4
    entries, blobs = b"", b""
    for tag, value in values:
        raw = value.encode() + b"\0"
        entries += struct.pack(endian + "HHII", tag, 2, len(raw), data_at + len(blobs))
        blobs += raw
    return head + struct.pack(endian + "H", len(values)) + entries + b"\0\0\0\0" + blobs


def riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"WEBP"
    for fourcc, data in chunks:
        body += fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp(exif: bytes, prefix: bool = True) -> bytes:
    vp8x = bytes([0x08]) + b"\0" * 9
    return riff(
        [
            (b"VP8X", vp8x),
            (b"VP8L", b"\x2f" + b"\0" * 4),
            (b"EXIF", (b"Exif\0\0" if prefix else b"") + exif),
        ]
    )


# --- Vorbis comments: FLAC and Ogg ------------------------------------------------------------
def comments(items: list[str]) -> bytes:
    out = struct.pack("<I", 12) + b"Lavf61.7.100" + struct.pack("<I", len(items))
    for item in items:
        raw = item.encode()
        out += struct.pack("<I", len(raw)) + raw
    return out


def flac(items: list[str]) -> bytes:
    body = comments(items)
    return (
        b"fLaC"
        + b"\x00"
        + (34).to_bytes(3, "big")
        + b"\0" * 34
        + b"\x84"
        + len(body).to_bytes(3, "big")
        + body
    )


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _page(segments: list[int], payload: bytes, seq: int, continued: bool) -> bytes:
    head = struct.pack(
        "<4sBBqIIIB",
        b"OggS",
        0,
        int(continued) | (2 if seq == 0 else 0),
        0,
        1234,
        seq,
        0,
        len(segments),
    ) + bytes(segments)
    page = head + payload
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def ogg(packets: list[bytes]) -> bytes:
    """Pages of at most 255 segments; a packet longer than one page continues on the next."""
    out, seq = b"", 0
    for packet in packets:
        laces = [255] * (len(packet) // 255) + [len(packet) % 255]
        pos, continued = 0, False
        while laces:
            page_laces, laces = laces[:255], laces[255:]
            size = sum(page_laces)
            out += _page(page_laces, packet[pos : pos + size], seq, continued)
            pos, seq, continued = pos + size, seq + 1, True
    return out


def opus(items: list[str]) -> bytes:
    head = b"OpusHead" + bytes([1, 2]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    return ogg([head, b"OpusTags" + comments(items)])


# --- MP3 -------------------------------------------------------------------------------------
def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def mp3(key: str, value: str, version: int = 4, encoding: int = 3) -> bytes:
    if encoding == 1:
        body = b"\x01" + key.encode("utf-16") + b"\0\0" + (value + "\0").encode("utf-16")
    else:
        body = b"\x03" + key.encode() + b"\0" + value.encode() + b"\0"
    size = _syncsafe(len(body)) if version == 4 else struct.pack(">I", len(body))
    frame = b"TXXX" + size + b"\0\0" + body
    return b"ID3" + bytes([version, 0, 0]) + _syncsafe(len(frame)) + frame + b"\xff\xfb\x90\x00"


# --- MP4 -------------------------------------------------------------------------------------
def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(items: list[tuple[str, str]]) -> bytes:
    hdlr = box(b"hdlr", b"\0" * 8 + b"mdta" + b"\0" * 13)
    keys = box(
        b"keys",
        b"\0" * 4
        + struct.pack(">I", len(items))
        + b"".join(struct.pack(">I", 8 + len(k.encode())) + b"mdta" + k.encode() for k, _ in items),
    )
    ilst = box(
        b"ilst",
        b"".join(
            box(struct.pack(">I", i), box(b"data", struct.pack(">II", 1, 0) + v.encode()))
            for i, (_, v) in enumerate(items, 1)
        ),
    )
    meta = box(b"meta", b"\0" * 4 + hdlr + keys + ilst)
    return (
        box(b"ftyp", b"isom\0\0\2\0isomiso2")
        + box(b"mdat", b"\0" * 1000)
        + box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"udta", meta))
    )


# --- WebM ------------------------------------------------------------------------------------
def _size(n: int) -> bytes:
    return (n | (1 << 56)).to_bytes(8, "big")  # 8-byte VINT


def element(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _size(len(payload)) + payload


def webm(tags: list[tuple[str, str]]) -> bytes:
    simple = b"".join(
        element(0x67C8, element(0x45A3, k.encode()) + element(0x4487, v.encode())) for k, v in tags
    )
    tags_el = element(0x1254C367, element(0x7373, element(0x63C0, b"") + simple))
    cluster = element(0x1F43B675, b"\0" * 500)
    return element(0x1A45DFA3, element(0x4282, b"webm")) + element(0x18538067, cluster + tags_el)


# --- SVG, GLB, safetensors -----------------------------------------------------------------
def svg(meta: dict[str, Any]) -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg"><metadata><![CDATA['
        + json.dumps(meta, indent=2).encode()
        + b"]]></metadata><rect/></svg>"
    )


def glb(extras: dict[str, str]) -> bytes:
    doc = json.dumps({"asset": {"version": "2.0", "extras": extras}}).encode()
    doc += b" " * (-len(doc) % 4)
    return b"glTF" + struct.pack("<III", 2, 20 + len(doc), len(doc)) + b"JSON" + doc


def safetensors(meta: dict[str, str]) -> bytes:
    header = json.dumps({"__metadata__": meta}).encode()
    return struct.pack("<Q", len(header)) + header
