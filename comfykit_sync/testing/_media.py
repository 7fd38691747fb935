"""Tiny, structurally valid media files built with the standard library only.

PNG, JPEG, WebP and GIF files decode in real image libraries; the audio,
video, mesh and latent files carry valid headers (enough for type sniffing
and for tests that compare bytes), not real content.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import zlib
from collections.abc import Mapping, Sequence

RGB = tuple[int, int, int]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rgb: RGB, text: Mapping[str, str] | None = None) -> bytes:
    """A solid-colour 8-bit RGB PNG with ``tEXt`` chunks (like ComfyUI's metadata).

    Cheap at any size: rows after the first are filtered "Up" (all zero bytes), and their
    compressed form depends on the width only, so it is made once and reused.
    """
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    for key, value in (text or {}).items():
        chunks.append(
            _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
        )
    chunks.append(_png_chunk(b"IDAT", _solid_zlib(width, height, rgb)))
    chunks.append(_png_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UP_ROWS_BYTES = 1 << 20  # raw bytes of "Up" rows compressed as one reusable run
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a final fixed-Huffman deflate block holding no data


def _solid_zlib(width: int, height: int, rgb: RGB) -> bytes:
    """The zlib stream of a solid image's scanlines, built from independently deflated runs
    (each ends with a full flush, so runs can follow each other)."""
    first = b"\x00" + bytes(rgb) * width
    up = b"\x02" + bytes(3 * width)
    per_run = max(1, _UP_ROWS_BYTES // len(up))
    runs, rest = divmod(height - 1, per_run)
    parts = [_deflated(first)]
    checksum = zlib.adler32(first)
    if runs:
        parts += [_deflated_up_rows(width, per_run)] * runs
        run = up * per_run
        for _ in range(runs):
            checksum = zlib.adler32(run, checksum)
    if rest:
        parts.append(_deflated_up_rows(width, rest))
        checksum = zlib.adler32(up * rest, checksum)
    return b"\x78\x01" + b"".join(parts) + _FINAL_EMPTY_BLOCK + struct.pack(">I", checksum)


def _deflated(data: bytes) -> bytes:
    """Raw deflate blocks of ``data``, not final, standing alone (no back-references out)."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush(zlib.Z_FULL_FLUSH)


@functools.lru_cache(maxsize=64)
def _deflated_up_rows(width: int, rows: int) -> bytes:
    return _deflated((b"\x02" + bytes(3 * width)) * rows)


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR, or None when ``data`` is not a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def png_first_pixel(data: bytes) -> RGB | None:
    """The colour of an 8-bit PNG's top-left pixel (every filter leaves it as stored), or
    None for other PNGs and for anything that is not one."""
    if png_size(data) is None:
        return None
    depth, colour_type = data[24], data[25]
    channels = _CHANNELS.get(colour_type)
    if depth != 8 or channels is None:
        return None
    palette, idat, offset = b"", bytearray(), 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    try:
        pixel = zlib.decompressobj().decompress(bytes(idat), 1 + channels)[1:]
    except zlib.error:
        return None
    if len(pixel) < channels:
        return None
    if colour_type == 3:
        entry = palette[3 * pixel[0] : 3 * pixel[0] + 3]
        return (entry[0], entry[1], entry[2]) if len(entry) == 3 else None
    if colour_type in (0, 4):
        return pixel[0], pixel[0], pixel[0]
    return pixel[0], pixel[1], pixel[2]


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


FLAC_BLOCK = 4096  # samples per channel in each frame


def flac(
    sample_rate: int = 44100,
    channels: int = 2,
    samples: int = 0,
    comments: Mapping[str, str] | None = None,
) -> bytes:
    """A real 16-bit FLAC file of ``samples`` frames of silence (CONSTANT subframes), with
    ``comments`` as Vorbis comments (ComfyUI's ``prompt``/``workflow`` metadata)."""
    frames = [
        _flac_frame(number, min(FLAC_BLOCK, samples - start), channels)
        for number, start in enumerate(range(0, samples, FLAC_BLOCK))
    ]
    sizes = [len(frame) for frame in frames] or [0]
    silence = hashlib.md5()
    chunk = bytes(2 * channels * FLAC_BLOCK)
    for start in range(0, samples, FLAC_BLOCK):
        silence.update(chunk[: 2 * channels * min(FLAC_BLOCK, samples - start)])
    packed = (sample_rate << 44) | ((channels - 1) << 41) | (15 << 36) | samples
    info = (
        struct.pack(">HH", FLAC_BLOCK, FLAC_BLOCK)
        + min(sizes).to_bytes(3, "big")
        + max(sizes).to_bytes(3, "big")
        + packed.to_bytes(8, "big")
        + silence.digest()
    )
    vendor = b"fake-comfyui"
    entries = [f"{key}={value}".encode() for key, value in (comments or {}).items()]
    vorbis = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(entries))
    vorbis += b"".join(struct.pack("<I", len(entry)) + entry for entry in entries)
    blocks = _flac_block(0, info, last=False) + _flac_block(4, vorbis, last=True)
    return b"fLaC" + blocks + b"".join(frames)


def _flac_block(kind: int, body: bytes, *, last: bool) -> bytes:
    return bytes([kind | (0x80 if last else 0)]) + len(body).to_bytes(3, "big") + body


def _flac_frame(number: int, block: int, channels: int) -> bytes:
    """One fixed-blocksize frame: header (size from its end, rate and depth from STREAMINFO
    but for 16 bit, frame number UTF-8 coded, CRC-8), a zero CONSTANT subframe per channel,
    CRC-16."""
    head = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | 0x08])
    head += _flac_utf8(number) + struct.pack(">H", block - 1)
    head += bytes([_crc8(head)])
    frame = head + b"\x00\x00\x00" * channels
    return frame + struct.pack(">H", _crc16(frame))


def _flac_utf8(value: int) -> bytes:
    """FLAC's UTF-8-like coding of a frame number (up to 31 bits here)."""
    if value < 0x80:
        return bytes([value])
    tail: list[int] = []
    while value >= (0x40 >> len(tail)):  # room left in the lead byte after this many tails
        tail.insert(0, 0x80 | (value & 0x3F))
        value >>= 6
    lead = (0xFF00 >> (len(tail) + 1)) & 0xFF
    return bytes([lead | value, *tail])


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


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
