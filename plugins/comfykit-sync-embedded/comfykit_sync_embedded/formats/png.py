"""PNG / APNG: ``tEXt``, ``zTXt``, ``iTXt`` and ComfyUI's private ``comf`` chunks (spec §3-4)."""

from __future__ import annotations

import struct
import zlib

from .._io import Corrupt, Reader, inflate
from . import Entry

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt", b"comf")


def _split(body: bytes, what: str, offset: int) -> tuple[bytes, bytes]:
    key, sep, rest = body.partition(b"\0")
    if not sep:
        raise Corrupt(f"{what} chunk at byte offset {offset} has no keyword terminator")
    return key, rest


def _text(ctype: bytes, body: bytes, cap: int, offset: int) -> tuple[str, str]:
    what = ctype.decode("latin-1")
    key, rest = _split(body, what, offset)
    where = f"{what} chunk at byte offset {offset}"
    if ctype in (b"tEXt", b"comf"):
        return key.decode("latin-1"), rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            raise Corrupt(f"{where} has an unknown compression method")
        return key.decode("latin-1"), inflate(rest[1:], cap, where).decode("latin-1")
    if len(rest) < 2:
        raise Corrupt(f"{where} is too short")
    flag, method, rest = rest[0], rest[1], rest[2:]
    _lang, sep1, rest = rest.partition(b"\0")
    _tkey, sep2, text = rest.partition(b"\0")
    if not (sep1 and sep2) or flag not in (0, 1) or (flag and method != 0):
        raise Corrupt(f"{where} has an invalid header")
    raw = inflate(text, cap, where) if flag else text
    try:
        return key.decode("latin-1"), raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Corrupt(f"{where} is not valid UTF-8 ({exc})") from None


def read_png(reader: Reader) -> list[Entry]:
    """Walk all chunks (seeking over image data); text may sit before or after ``IDAT``."""
    if reader.read(0, 8, "signature") != SIGNATURE:
        raise Corrupt("bad PNG signature at byte offset 0")
    entries: list[Entry] = []
    pos = 8
    while pos < reader.size:
        length, ctype = struct.unpack(">I4s", reader.read(pos, 8, "chunk header"))
        if not ctype.isalpha():
            raise Corrupt(f"invalid chunk type {ctype!r} at byte offset {pos}")
        end = pos + 12 + length
        if end > reader.size:
            raise Corrupt(
                f"truncated: {ctype.decode('latin-1')} chunk at byte offset {pos} declares "
                f"{length} bytes, but the file ends at {reader.size}"
            )
        if ctype in _TEXT_TYPES:
            body = reader.read(pos + 8, length, f"{ctype.decode()} chunk")
            (crc,) = struct.unpack(">I", reader.read(pos + 8 + length, 4, "chunk CRC"))
            if zlib.crc32(ctype + body) != crc:
                raise Corrupt(f"{ctype.decode()} chunk at byte offset {pos} has a bad CRC")
            key, value = _text(ctype, body, reader.cap, pos)
            entries.append(Entry(key, value, f"PNG {ctype.decode()} {key!r}"))
        if ctype == b"IEND":
            break
        pos = end
    return entries
