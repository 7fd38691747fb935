"""WebP: RIFF ``EXIF`` chunk, IFD0 ASCII entries ``<key>:<json>`` (spec §5)."""

from __future__ import annotations

import struct

from .._io import Corrupt, Reader, sub
from . import Entry


def parse_exif(chunk: bytes, base: int) -> list[Entry]:
    """ASCII entries of IFD0, split at the first colon; ``II`` or ``MM``, optional prefix."""
    tiff = chunk[6:] if chunk.startswith(b"Exif\0\0") else chunk
    base += len(chunk) - len(tiff)
    if len(tiff) < 8 or tiff[:4] not in (b"MM\0*", b"II*\0"):
        raise Corrupt(f"EXIF chunk at byte offset {base} has no valid TIFF header")
    end = ">" if tiff[:2] == b"MM" else "<"
    (ifd,) = struct.unpack(end + "I", tiff[4:8])
    (count,) = struct.unpack(end + "H", sub(tiff, ifd, 2, "EXIF IFD0", base))
    entries: list[Entry] = []
    for i in range(count):
        raw_entry = sub(tiff, ifd + 2 + 12 * i, 12, "EXIF IFD entry", base)
        tag, typ, n, ref = struct.unpack(end + "HHII", raw_entry)
        if typ != 2:
            continue
        raw = sub(tiff, ref, n, f"EXIF tag 0x{tag:04X}", base) if n > 4 else raw_entry[8 : 8 + n]
        key, sep, value = raw.rstrip(b"\0").decode("utf-8", "replace").partition(":")
        if sep:
            entries.append(Entry(key, value, f"WebP EXIF 0x{tag:04X}"))
    return entries


def read_webp(reader: Reader) -> list[Entry]:
    """Walk the RIFF chunks with seeks and parse every ``EXIF`` chunk."""
    head = reader.read(0, 12, "RIFF header")
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise Corrupt("bad WebP header at byte offset 0")
    entries: list[Entry] = []
    pos = 12
    while pos + 8 <= reader.size:
        fourcc, size = struct.unpack("<4sI", reader.read(pos, 8, "RIFF chunk header"))
        if pos + 8 + size > reader.size:
            raise Corrupt(
                f"truncated: {fourcc!r} chunk at byte offset {pos} declares {size} bytes, "
                f"but the file ends at {reader.size}"
            )
        if fourcc == b"EXIF":
            entries += parse_exif(reader.read(pos + 8, size, "EXIF chunk"), pos + 8)
        pos += 8 + size + (size & 1)
    return entries
