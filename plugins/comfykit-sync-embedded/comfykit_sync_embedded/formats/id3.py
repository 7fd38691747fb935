"""MP3: ID3v2.3/2.4 ``TXXX`` frames at the start of the file (spec §7)."""

from __future__ import annotations

from .._io import Corrupt, Reader, sub
from . import Entry

_ENCODINGS = {
    0: ("latin-1", b"\0"),
    1: ("utf-16", b"\0\0"),
    2: ("utf-16-be", b"\0\0"),
    3: ("utf-8", b"\0"),
}


class Unsupported(Exception):
    """A valid tag this small reader does not handle (e.g. unsynchronisation)."""


def _syncsafe(data: bytes) -> int:
    if any(b & 0x80 for b in data):
        raise Corrupt("invalid syncsafe integer in the ID3 tag")
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _split_terminated(body: bytes, term: bytes) -> tuple[bytes, bytes]:
    step = len(term)
    for i in range(0, len(body) - step + 1, step):
        if body[i : i + step] == term:
            return body[:i], body[i + step :]
    raise Corrupt("TXXX frame description is not terminated")


def _txxx(body: bytes) -> tuple[str, str]:
    if not body or body[0] not in _ENCODINGS:
        raise Corrupt("TXXX frame has an unknown text encoding")
    codec, term = _ENCODINGS[body[0]]
    desc, value = _split_terminated(body[1:], term)
    if codec == "utf-16" and value and not value.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Per ID3 the value has its own BOM; fall back to the description's byte order.
        codec = "utf-16-le" if desc.startswith(b"\xff\xfe") else "utf-16-be"
    try:
        key, text = desc.decode(codec), value.decode(codec)
    except UnicodeDecodeError as exc:
        raise Corrupt(f"TXXX frame text cannot be decoded ({exc})") from None
    return key, text.rstrip("\0")


def read_mp3(reader: Reader) -> list[Entry]:
    """Parse the leading ID3v2 tag; an MP3 without one carries no ComfyUI metadata."""
    if reader.size < 10:
        return []
    header = reader.read(0, 10, "ID3 header")
    if header[:3] != b"ID3":
        return []
    version, flags = header[3], header[5]
    if version not in (3, 4):
        raise Unsupported(f"ID3v2.{version} tags are not supported (only 2.3 and 2.4)")
    if flags & 0xC0:
        raise Unsupported("ID3 tags with unsynchronisation or an extended header are not supported")
    tag = reader.read(10, _syncsafe(header[6:10]), "ID3 tag")
    entries: list[Entry] = []
    pos = 0
    while pos + 10 <= len(tag) and tag[pos] != 0:
        frame_id = tag[pos : pos + 4]
        raw_size = tag[pos + 4 : pos + 8]
        size = _syncsafe(raw_size) if version == 4 else int.from_bytes(raw_size, "big")
        body = sub(tag, pos + 10, size, f"ID3 frame {frame_id!r}", 10)
        if frame_id == b"TXXX":
            key, value = _txxx(body)
            entries.append(Entry(key, value, f"MP3 ID3 TXXX {key!r}"))
        pos += 10 + size
    return entries
