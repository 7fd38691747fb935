"""A streaming ``multipart/form-data`` body: files are read in chunks, never whole.

``requests`` builds multipart bodies in memory; :class:`MultipartStream` instead exposes a
file-like ``read()`` with a known length, so requests sends a ``Content-Length`` and urllib3
streams the body chunk by chunk.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import IO


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartStream:
    """Text ``fields`` followed by one file part named ``file_field``."""

    def __init__(
        self,
        fields: Mapping[str, str],
        *,
        file_field: str,
        filename: str,
        fileobj: IO[bytes],
        size: int,
        content_type: str = "application/octet-stream",
    ) -> None:
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
            f"\r\n\r\n{value}\r\n".encode()
            for name, value in fields.items()
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._parts: list[bytes | IO[bytes]] = [head, fileobj, tail]
        self._length = len(head) + size + len(tail)
        self._index = 0
        self._offset = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (``-1``: the rest of the current part)."""
        size = 64 * 1024 if size is None or size < 0 else size
        while self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, bytes):
                chunk = part[self._offset : self._offset + size]
                self._offset += len(chunk)
            else:
                chunk = part.read(size)
            if chunk:
                return chunk
            self._index += 1
            self._offset = 0
        return b""
