"""Bounded, seek-based reading of a file: nothing is read whole just to find metadata."""

from __future__ import annotations

import zlib
from typing import BinaryIO


class Corrupt(Exception):
    """The container structure is invalid or truncated (message names the byte offset)."""


class TooLarge(Exception):
    """A metadata value or block is over the configured size cap."""


class Reader:
    """Random access to a binary file with bounds checks and a per-read size cap."""

    def __init__(self, fh: BinaryIO, size: int, cap: int) -> None:
        self.fh = fh
        self.size = size
        self.cap = cap

    def read(self, offset: int, length: int, what: str = "data") -> bytes:
        """Read exactly ``length`` bytes at ``offset`` or raise ``Corrupt``/``TooLarge``."""
        if length < 0 or offset < 0:
            raise Corrupt(f"invalid {what} length {length} at byte offset {offset}")
        if length > self.cap:
            raise TooLarge(
                f"{what} at byte offset {offset} is {length} bytes, over the {self.cap} byte limit"
            )
        if offset + length > self.size:
            raise Corrupt(
                f"truncated: {what} at byte offset {offset} needs {length} bytes, "
                f"but the file ends at {self.size}"
            )
        self.fh.seek(offset)
        data = self.fh.read(length)
        if len(data) != length:
            raise Corrupt(f"truncated: short read of {what} at byte offset {offset}")
        return data


def inflate(data: bytes, cap: int, what: str) -> bytes:
    """zlib-decompress ``data`` without ever producing more than ``cap`` bytes."""
    obj = zlib.decompressobj()
    try:
        out = obj.decompress(data, cap + 1)
    except zlib.error as exc:
        raise Corrupt(f"{what}: compressed data is invalid ({exc})") from None
    if len(out) > cap or obj.unconsumed_tail:
        raise TooLarge(f"{what} decompresses to more than the {cap} byte limit")
    if not obj.eof:
        raise Corrupt(f"{what}: compressed data is truncated")
    return out


def sub(data: bytes, start: int, length: int, what: str, base: int = 0) -> bytes:
    """Slice ``data[start:start+length]`` or raise ``Corrupt`` naming the offset."""
    if start < 0 or length < 0 or start + length > len(data):
        raise Corrupt(f"{what} at byte offset {base + start} runs past the end of its block")
    return data[start : start + length]
