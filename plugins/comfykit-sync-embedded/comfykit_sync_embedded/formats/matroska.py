"""WebM/Matroska: ``Segment/Tags/Tag/SimpleTag`` (``TagName`` + ``TagString``, spec §10)."""

from __future__ import annotations

from collections.abc import Iterator

from .._io import Corrupt, Reader
from . import Entry

EBML, SEGMENT, SEEKHEAD, SEEK, SEEK_ID, SEEK_POS = (
    0x1A45DFA3,
    0x18538067,
    0x114D9B74,
    0x4DBB,
    0x53AB,
    0x53AC,
)
TAGS, TAG, SIMPLETAG, TAGNAME, TAGSTRING, CLUSTER = (
    0x1254C367,
    0x7373,
    0x67C8,
    0x45A3,
    0x4487,
    0x1F43B675,
)


def _vint(reader: Reader, pos: int, keep_marker: bool) -> tuple[int, int, bool]:
    """Return ``(value, length, unknown_size)`` of the variable-length integer at ``pos``."""
    first = reader.read(pos, 1, "EBML integer")[0]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        raise Corrupt(f"invalid EBML integer at byte offset {pos}")
    raw = int.from_bytes(reader.read(pos, length, "EBML integer"), "big")
    value = raw if keep_marker else raw & ((1 << (7 * length)) - 1)
    return value, length, not keep_marker and value == (1 << (7 * length)) - 1


def _elements(reader: Reader, start: int, end: int) -> Iterator[tuple[int, int, int, bool]]:
    """Yield ``(id, data_start, data_end, unknown_size)`` of the elements in ``[start, end)``."""
    pos = start
    while pos < end:
        eid, idlen, _ = _vint(reader, pos, True)
        size, szlen, unknown = _vint(reader, pos + idlen, False)
        data = pos + idlen + szlen
        stop = end if unknown else data + size
        if stop > end:
            raise Corrupt(f"EBML element 0x{eid:X} at byte offset {pos} runs past its parent")
        yield eid, data, stop, unknown
        if unknown and eid == CLUSTER:
            return  # cannot skip an unknown-size cluster; rely on SeekHead
        pos = stop if not unknown else data


def _tags(reader: Reader, start: int, end: int) -> list[Entry]:
    entries: list[Entry] = []

    def simple(s: int, e: int, depth: int = 0) -> None:
        if depth > 16:
            raise Corrupt(f"SimpleTag nested too deeply at byte offset {s}")
        name = value = None
        for eid, ds, de, _ in _elements(reader, s, e):
            if eid == TAGNAME:
                name = reader.read(ds, de - ds, "TagName").decode("utf-8", "replace")
            elif eid == TAGSTRING:
                value = reader.read(ds, de - ds, "TagString").decode("utf-8", "replace")
            elif eid == SIMPLETAG:
                simple(ds, de, depth + 1)
        if name is not None and value is not None:
            entries.append(Entry(name, value, f"WebM SimpleTag {name!r}"))

    for eid, ds, de, _ in _elements(reader, start, end):
        if eid == TAG:
            for cid, cs, ce, _ in _elements(reader, ds, de):
                if cid == SIMPLETAG:
                    simple(cs, ce)
    return entries


def read_matroska(reader: Reader) -> list[Entry]:
    """Scan the Segment's children, seeking over clusters; follow ``SeekHead`` to ``Tags``."""
    entries: list[Entry] = []
    elements = list(_elements(reader, 0, reader.size))
    if not elements or elements[0][0] != EBML:
        raise Corrupt("no EBML header at byte offset 0")
    for eid, seg_start, seg_end, _ in elements:
        if eid != SEGMENT:
            continue
        seen: set[int] = set()
        targets: list[int] = []
        for cid, cs, ce, _ in _elements(reader, seg_start, seg_end):
            if cid == SEEKHEAD:
                for sid, ss, se, _ in _elements(reader, cs, ce):
                    if sid != SEEK:
                        continue
                    fields = {
                        f: reader.read(fs, fe - fs, "Seek")
                        for f, fs, fe, _ in _elements(reader, ss, se)
                    }
                    seek_id = int.from_bytes(fields.get(SEEK_ID, b""), "big")
                    if seek_id == TAGS and SEEK_POS in fields:
                        targets.append(seg_start + int.from_bytes(fields[SEEK_POS], "big"))
            elif cid == TAGS:
                seen.add(cs)
                entries += _tags(reader, cs, ce)
        for target in targets:
            for tid, ts, te, _ in _elements(reader, target, seg_end):
                if tid == TAGS and ts not in seen:
                    seen.add(ts)
                    entries += _tags(reader, ts, te)
                break
    return entries
