"""MP4/MOV: QuickTime ``mdta`` metadata in ``moov/udta/meta`` (``keys`` + ``ilst``, spec §9)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .._io import Corrupt, Reader, sub
from . import Entry


def _boxes(reader: Reader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, payload_end)`` of the boxes in ``[start, end)``, seeking."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", reader.read(pos, 8, "box header"))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", reader.read(pos + 8, 8, "64-bit box size"))[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Corrupt(
                f"box {kind!r} at byte offset {pos} has size {size}, past its parent's end {end}"
            )
        yield kind, pos + header, pos + size
        pos += size


def _meta(reader: Reader, start: int, end: int) -> list[Entry]:
    keys: list[str] = []
    items: dict[int, bytes] = {}
    for kind, s, e in _boxes(reader, start + 4, end):  # full box: skip version/flags
        if kind == b"keys":
            data = reader.read(s, e - s, "keys box")
            (count,) = struct.unpack(">I", sub(data, 4, 4, "keys count", s))
            pos = 8
            for _ in range(count):
                size, _ns = struct.unpack(">I4s", sub(data, pos, 8, "key entry", s))
                if size < 8:
                    raise Corrupt(f"key entry at byte offset {s + pos} has size {size}")
                keys.append(sub(data, pos + 8, size - 8, "key name", s).decode("utf-8", "replace"))
                pos += size
        elif kind == b"ilst":
            for item, is_, ie in _boxes(reader, s, e):
                for sub_kind, ds, de in _boxes(reader, is_, ie):
                    if sub_kind == b"data":
                        payload = reader.read(ds, de - ds, "ilst data box")
                        items[struct.unpack(">I", item)[0]] = payload[8:]
    entries = []
    for index, value in sorted(items.items()):
        if 1 <= index <= len(keys):
            key = keys[index - 1]
            text = value.decode("utf-8", "replace")
            entries.append(Entry(key, text, f"MP4 udta/meta key {key!r}"))
    return entries


def read_mp4(reader: Reader) -> list[Entry]:
    """Walk top-level boxes with seeks (never reading ``mdat``) down to ``moov/udta/meta``."""
    entries: list[Entry] = []
    for kind, s, e in _boxes(reader, 0, reader.size):
        if kind != b"moov":
            continue
        for child, cs, ce in _boxes(reader, s, e):
            if child == b"meta":
                entries += _meta(reader, cs, ce)
            elif child == b"udta":
                for grand, gs, ge in _boxes(reader, cs, ce):
                    if grand == b"meta":
                        entries += _meta(reader, gs, ge)
    return entries
