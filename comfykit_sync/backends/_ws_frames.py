"""WebSocket frames from the server, parsed from large reads (RFC 6455 §5).

websocket-client reads each frame with three system calls (header, length, payload) and builds
several objects per frame; a ComfyUI server sends dozens of small frames per job (progress for
every step), so the kit's reader thread parses them itself, many per read, and keeps
websocket-client for the handshake and for sending. Messages above ``limit`` bytes are refused
before their payload is read.
"""

from __future__ import annotations

from collections.abc import Callable

import websocket
from websocket._abnf import ABNF

TEXT, BINARY, CONTINUATION = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT
CLOSE, PING, PONG = ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING, ABNF.OPCODE_PONG
_DATA = frozenset({TEXT, BINARY, CONTINUATION})
_CONTROL = frozenset({CLOSE, PING, PONG})
#: bytes asked of the socket per read (a read holds many events)
READ_CHUNK = 65536
#: the longest payload of a control frame
MAX_CONTROL = 125


class FrameTooLarge(websocket.WebSocketProtocolException):
    """A message exceeded ``ws_max_frame_bytes``; the connection is dropped."""


class FrameReader:
    """Whole messages and control frames, in order, from ``recv(n)`` (at most ``n`` bytes,
    websocket-client's exceptions for timeouts and closed sockets).

    Not thread-safe: one reader thread owns it.
    """

    def __init__(self, recv: Callable[[int], bytes], limit: int) -> None:
        self._recv, self._limit = recv, limit
        self._buffer = bytearray()
        self._pos = 0
        self._checked = -1  # the position of the frame whose header was checked
        self._wanted = 0  # the bytes the frame being read needs, once known
        self._parts: list[bytes] = []  # the frames so far of a fragmented message
        self._opcode = 0  # the opcode of that message (0: none in progress)
        self._size = 0  # its bytes so far
        self._error: websocket.WebSocketProtocolException | None = None

    def read(self) -> list[tuple[int, bytes]]:
        """The messages (``TEXT``/``BINARY``, fragments joined) and control frames (``CLOSE``,
        ``PING``, ``PONG``) complete in the data read so far, as ``(opcode, payload)``; reads
        (once per call, as much as has arrived) until there is at least one.

        Raises ``WebSocketProtocolException`` for a frame the protocol forbids,
        :class:`FrameTooLarge` for a message above the limit, and what ``recv`` raises.
        """
        if self._error is not None:
            raise self._error
        items: list[tuple[int, bytes]] = []
        while True:
            try:
                frame = self._frame()
            except websocket.WebSocketProtocolException as exc:
                if not items:
                    raise
                self._error = exc  # raised by the next call, after what came before it
                return items
            if frame is None:
                if items:
                    return items
                self._fill()
                continue
            fin, opcode, payload = frame
            if opcode in _CONTROL or (fin and not self._opcode):
                items.append((opcode, payload))  # the usual case: a whole message in one frame
                continue
            if opcode == CONTINUATION:
                self._parts.append(payload)
            else:
                self._opcode, self._parts = opcode, [payload]
            if fin:
                items.append((self._opcode, b"".join(self._parts)))
                self._opcode, self._parts = 0, []

    def _frame(self) -> tuple[bool, int, bytes] | None:
        """The next frame if all of it has been read, else ``None`` (its header is checked as
        soon as it has arrived, so an oversized message fails before its payload is read)."""
        buffer, pos = self._buffer, self._pos
        available = len(buffer) - pos
        if available < 2:
            return None
        first, second = buffer[pos], buffer[pos + 1]
        fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
        head = 2
        if length >= 126:
            head = 4 if length == 126 else 10
            if available < head:
                return None
            length = int.from_bytes(buffer[pos + 2 : pos + head], "big")
        masked = second & 0x80
        if self._checked != pos:
            self._check(first, opcode, fin, length)
            self._checked = pos
        end = head + (4 if masked else 0) + length
        if available < end:
            self._wanted = end
            return None
        payload = bytes(buffer[pos + end - length : pos + end])
        if masked:  # servers must not mask, websocket-client accepts it: so do we
            payload = ABNF.mask(bytes(buffer[pos + head : pos + head + 4]), payload)
        self._pos = pos + end
        self._checked = -1
        return fin, opcode, payload

    def _check(self, first: int, opcode: int, fin: bool, length: int) -> None:
        """Refuse what the protocol forbids (as websocket-client does) and oversized
        messages, before their payload is read."""
        protocol_error = websocket.WebSocketProtocolException
        if first & 0x70:
            raise protocol_error("rsv is not implemented, yet")
        if opcode in _CONTROL:
            if not fin or length > MAX_CONTROL:
                raise protocol_error(f"invalid control frame (opcode {opcode})")
            return
        if opcode not in _DATA:
            raise protocol_error(f"Invalid opcode {opcode!r}")
        if (opcode == CONTINUATION) != bool(self._opcode):
            raise protocol_error("Illegal frame")  # a continuation out of place
        self._size = length if opcode != CONTINUATION else self._size + length
        if self._limit and self._size > self._limit:
            raise FrameTooLarge(
                f"a message of {self._size} bytes exceeds ws_max_frame_bytes={self._limit}"
            )

    def _fill(self) -> None:
        """Read once: whatever has arrived, at least what the frame being read still lacks."""
        if self._pos:
            del self._buffer[: self._pos]
            if self._checked >= 0:
                self._checked -= self._pos
            self._pos = 0
        self._buffer += self._recv(max(READ_CHUNK, self._wanted - len(self._buffer)))
        self._wanted = 0
