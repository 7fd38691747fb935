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
        self._parts: list[bytes] = []  # the frames so far of a fragmented message
        self._opcode = 0  # the opcode of that message (0: none in progress)
        self._size = 0  # its bytes so far

    def next(self) -> tuple[int, bytes]:
        """The next message (``TEXT``/``BINARY``, fragments joined) or control frame
        (``CLOSE``, ``PING``, ``PONG``) as ``(opcode, payload)``.

        Raises ``WebSocketProtocolException`` for a frame the protocol forbids,
        :class:`FrameTooLarge` for a message above the limit, and what ``recv`` raises.
        """
        while True:
            fin, opcode, payload = self._frame()
            if opcode in _CONTROL:
                return opcode, payload
            if fin and not self._opcode and opcode != CONTINUATION:
                return opcode, payload  # the usual case: a whole message in one frame
            if opcode == CONTINUATION:
                self._parts.append(payload)
            else:
                self._opcode, self._parts = opcode, [payload]
            if fin:
                opcode, self._opcode = self._opcode, 0
                message, self._parts = b"".join(self._parts), []
                return opcode, message

    def _frame(self) -> tuple[bool, int, bytes]:
        buffer = self._buffer
        if len(buffer) - self._pos < 2:
            self._fill(2)
            buffer = self._buffer
        pos = self._pos
        first, second = buffer[pos], buffer[pos + 1]
        fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
        head = 2
        if length >= 126:
            head = 4 if length == 126 else 10
            if len(buffer) - pos < head:
                self._fill(head)
                buffer, pos = self._buffer, self._pos
            length = int.from_bytes(buffer[pos + 2 : pos + head], "big")
        masked = second & 0x80
        self._check(first, opcode, bool(fin), length)
        end = head + (4 if masked else 0) + length
        if len(buffer) - pos < end:
            self._fill(end)
            buffer, pos = self._buffer, self._pos
        payload = bytes(buffer[pos + end - length : pos + end])
        if masked:  # servers must not mask, websocket-client accepts it: so do we
            payload = ABNF.mask(bytes(buffer[pos + head : pos + head + 4]), payload)
        self._pos = pos + end
        if self._pos == len(buffer):
            self._buffer, self._pos = bytearray(), 0
        return bool(fin), opcode, payload

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

    def _fill(self, needed: int) -> None:
        """Read until ``needed`` bytes are buffered past the current position."""
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        while len(self._buffer) < needed:
            self._buffer += self._recv(max(READ_CHUNK, needed - len(self._buffer)))
