"""Tiny, structurally valid media files built with the standard library only.

PNG, JPEG, WebP and GIF files decode in real image libraries; the audio,
video, mesh and latent files carry valid headers (enough for type sniffing
and for tests that compare bytes), not real content.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence

RGB = tuple[int, int, int]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rgb: RGB, text: Mapping[str, str] | None = None) -> bytes:
    """A solid-colour 8-bit RGB PNG with ``tEXt`` chunks (like ComfyUI's metadata)."""
    row = b"\x00" + bytes(rgb) * width
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    for key, value in (text or {}).items():
        chunks.append(
            _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
        )
    chunks.append(_png_chunk(b"IDAT", zlib.compress(row * height)))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR, or None when ``data`` is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def jpeg_gray() -> bytes:
    """An 8x8 mid-grey baseline JPEG (one DC-only block, one-code Huffman tables)."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    sof0 = b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00"
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, symbol 0
    dht_dc = b"\xff\xc4\x00\x14\x00" + one_code
    dht_ac = b"\xff\xc4\x00\x14\x10" + one_code
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    scan = b"\x3f"  # DC category 0 ('0'), EOB ('0'), padded with ones
    return b"\xff\xd8" + app0 + dqt + sof0 + dht_dc + dht_ac + sos + scan + b"\xff\xd9"


class _BitWriter:
    """LSB-first bit packer (the VP8L bit order)."""

    def __init__(self) -> None:
        self._value = 0
        self._count = 0

    def write(self, value: int, bits: int) -> None:
        self._value |= value << self._count
        self._count += bits

    def getvalue(self) -> bytes:
        return self._value.to_bytes((self._count + 7) // 8, "little")


def _vp8l(width: int, height: int, rgb: RGB) -> bytes:
    """A lossless VP8L bitstream of one colour: five single-symbol prefix codes."""
    bits = _BitWriter()
    bits.write(0x2F, 8)
    bits.write(width - 1, 14)
    bits.write(height - 1, 14)
    bits.write(0, 1)  # alpha unused
    bits.write(0, 3)  # version
    bits.write(0, 1)  # no transform
    bits.write(0, 1)  # no colour cache
    bits.write(0, 1)  # no meta prefix codes
    red, green, blue = rgb
    for symbol in (green, red, blue, 255):  # green, red, blue, alpha
        bits.write(1, 1)  # simple code
        bits.write(0, 1)  # one symbol
        bits.write(1, 1)  # 8-bit symbol
        bits.write(symbol, 8)
    bits.write(1, 1)  # distance code: simple, one 1-bit symbol 0
    bits.write(0, 1)
    bits.write(0, 1)
    bits.write(0, 1)
    return bits.getvalue()


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    pad = b"\x00" if len(data) % 2 else b""
    return kind + struct.pack("<I", len(data)) + data + pad


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def webp(width: int, height: int, frames: Sequence[RGB], duration_ms: int = 100) -> bytes:
    """A lossless WebP; animated (VP8X + ANIM + ANMF) when more than one frame."""
    if len(frames) == 1:
        body = _riff_chunk(b"VP8L", _vp8l(width, height, frames[0]))
    else:
        header = bytes([0x02, 0, 0, 0]) + _u24(width - 1) + _u24(height - 1)
        body = _riff_chunk(b"VP8X", header) + _riff_chunk(b"ANIM", b"\x00\x00\x00\x00\x00\x00")
        for rgb in frames:
            frame = (
                _u24(0) + _u24(0) + _u24(width - 1) + _u24(height - 1) + _u24(duration_ms) + b"\x00"
            )
            body += _riff_chunk(b"ANMF", frame + _riff_chunk(b"VP8L", _vp8l(width, height, rgb)))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def gif() -> bytes:
    """A 1x1 white GIF."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def mp4() -> bytes:
    """An ISO-BMFF file with ``ftyp``, ``free`` and an empty ``mdat`` box."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 0x200) + b"isommp41"
    return ftyp + struct.pack(">I", 8) + b"free" + struct.pack(">I", 8) + b"mdat"


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    return element_id + bytes([0x80 | len(payload)]) + payload


def webm() -> bytes:
    """A Matroska/WebM EBML header followed by an empty segment."""
    header = b"".join(
        [
            _ebml(b"\x42\x86", b"\x01"),
            _ebml(b"\x42\xf7", b"\x01"),
            _ebml(b"\x42\xf2", b"\x04"),
            _ebml(b"\x42\xf3", b"\x08"),
            _ebml(b"\x42\x82", b"webm"),
            _ebml(b"\x42\x87", b"\x02"),
            _ebml(b"\x42\x85", b"\x02"),
        ]
    )
    return _ebml(b"\x1a\x45\xdf\xa3", header) + b"\x18\x53\x80\x67\x80"


def flac(sample_rate: int = 44100) -> bytes:
    """A FLAC stream with a STREAMINFO block and zero samples."""
    packed = (sample_rate << 44) | (1 << 41) | (15 << 36)  # stereo, 16 bit, 0 samples
    info = struct.pack(">HH", 4096, 4096) + b"\x00" * 6 + packed.to_bytes(8, "big") + b"\x00" * 16
    return b"fLaC" + b"\x80" + len(info).to_bytes(3, "big") + info


def mp3() -> bytes:
    """An empty ID3v2 tag and one silent MPEG-1 layer III frame (128 kbit/s)."""
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413


def glb() -> bytes:
    """A binary glTF 2.0 file with an empty scene description."""
    doc = json.dumps({"asset": {"version": "2.0", "generator": "fake-comfyui"}}).encode()
    doc += b" " * (-len(doc) % 4)
    chunk = struct.pack("<I", len(doc)) + b"JSON" + doc
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunk)) + chunk


def latent(metadata: Mapping[str, str]) -> bytes:
    """A safetensors file shaped like ComfyUI's ``.latent`` files."""
    header = {
        "__metadata__": dict(metadata),
        "latent_tensor": {"dtype": "F32", "shape": [1, 4, 1, 1], "data_offsets": [0, 16]},
        "latent_format_version_0": {"dtype": "F32", "shape": [0], "data_offsets": [16, 16]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 16
