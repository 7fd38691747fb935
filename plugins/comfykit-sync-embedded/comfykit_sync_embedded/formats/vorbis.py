"""Vorbis comments in FLAC (``VORBIS_COMMENT`` block) and Ogg Opus/Vorbis (spec §6, §8)."""

from __future__ import annotations

import struct

from .._io import Corrupt, Reader, TooLarge, sub
from . import Entry


def parse_comments(data: bytes, base: int, where: str) -> list[Entry]:
    """``u32 vendor_len, vendor, u32 count, count x (u32 len, "KEY=value")``."""
    (vendor_len,) = struct.unpack("<I", sub(data, 0, 4, "vendor length", base))
    pos = 4 + vendor_len
    (count,) = struct.unpack("<I", sub(data, pos, 4, "comment count", base))
    pos += 4
    entries: list[Entry] = []
    for _ in range(count):
        (length,) = struct.unpack("<I", sub(data, pos, 4, "comment length", base))
        text = sub(data, pos + 4, length, "comment", base).decode("utf-8", "replace")
        pos += 4 + length
        key, sep, value = text.partition("=")
        if sep:
            entries.append(Entry(key, value, f"{where} {key!r}"))
    return entries


def read_flac(reader: Reader) -> list[Entry]:
    """Walk the metadata blocks (never the audio frames)."""
    if reader.read(0, 4, "signature") != b"fLaC":
        raise Corrupt("bad FLAC signature at byte offset 0")
    pos, entries = 4, []
    while True:
        header = reader.read(pos, 4, "metadata block header")
        last, kind = header[0] & 0x80, header[0] & 0x7F
        length = int.from_bytes(header[1:4], "big")
        if kind == 4:
            body = reader.read(pos + 4, length, "VORBIS_COMMENT block")
            entries += parse_comments(body, pos + 4, "FLAC VORBIS_COMMENT")
        elif pos + 4 + length > reader.size:
            raise Corrupt(f"truncated: metadata block at byte offset {pos} runs past the end")
        pos += 4 + length
        if last or kind == 127:
            return entries


def _packets(reader: Reader, wanted: int) -> list[bytes]:
    """Reassemble the first ``wanted`` packets of the first logical Ogg stream."""
    packets: list[bytes] = []
    current: list[bytes] = []
    total, pos, serial = 0, 0, None
    while len(packets) < wanted:
        if pos >= reader.size:
            raise Corrupt(f"truncated: Ogg stream ends at byte offset {pos} inside the headers")
        head = reader.read(pos, 27, "Ogg page header")
        if head[:4] != b"OggS":
            raise Corrupt(f"no Ogg page at byte offset {pos}")
        page_serial = struct.unpack("<I", head[14:18])[0]
        lacing = reader.read(pos + 27, head[26], "Ogg lacing values")
        body = reader.read(pos + 27 + head[26], sum(lacing), "Ogg page")
        if serial is None:
            serial = page_serial
        if page_serial == serial:
            offset = 0
            for lace in lacing:
                current.append(body[offset : offset + lace])
                offset += lace
                total += lace
                if total > reader.cap:
                    raise TooLarge(f"an Ogg header packet is over the {reader.cap} byte limit")
                if lace < 255:
                    packets.append(b"".join(current))
                    current, total = [], 0
        pos += 27 + head[26] + len(body)
    return packets


def read_ogg(reader: Reader) -> list[Entry]:
    """Opus (``OpusHead`` + ``OpusTags``) or Vorbis (``\\x01vorbis`` + ``\\x03vorbis``)."""
    first = _packets(reader, 1)[0]
    if first.startswith(b"OpusHead"):
        tags, prefix, where = _packets(reader, 2)[1], b"OpusTags", "Opus OpusTags"
    elif first.startswith(b"\x01vorbis"):
        tags, prefix, where = _packets(reader, 2)[1], b"\x03vorbis", "Ogg Vorbis comment"
    else:
        return []  # another codec: ComfyUI writes no workflow there
    if not tags.startswith(prefix):
        raise Corrupt(f"the second Ogg packet is not {prefix!r}")
    return parse_comments(tags[len(prefix) :], 0, where)
