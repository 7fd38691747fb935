"""One HTTP/1.1 client connection: a request sent whole, its reply read whole (RFC 9112).

For the kit's small calls to its own server (``_direct``), where ``http.client``'s generality
(headers written one by one, parsed with the ``email`` package) costs more CPU than the
exchange itself. A request goes out in one ``sendall``; the reply is read with large reads:
status line, header fields, and a body delimited by ``Content-Length``, the chunked transfer
coding, or the end of the connection. Interim (1xx) replies are skipped.
"""

from __future__ import annotations

import re
import select
import socket

#: the most bytes of a reply's status line and header fields
MAX_HEAD = 65536
#: bytes asked of the socket per read
READ_SIZE = 65536
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_BODILESS = frozenset({204, 304})


class ProtocolError(Exception):
    """The reply is not HTTP/1.x this client can read."""


class Disconnected(ConnectionError):
    """The server closed the connection before its reply was complete; ``partial`` tells
    whether any of the reply had arrived."""

    def __init__(self, message: str, *, partial: bool) -> None:
        super().__init__(message)
        self.partial = partial


class Reply:
    """A whole reply: status, reason, header fields (in order, as sent) and body."""

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        """Every value of the field ``name`` (any case), or ``default`` (as ``email`` does)."""
        name = name.lower()
        values = [value for field, value in self.headers if field.lower() == name]
        return values or default


class Connection:
    """A connected socket and the bytes read past the last reply. One thread at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._received = False  # whether any of the current reply has arrived

    def close(self) -> None:
        self.sock.close()

    def usable(self) -> bool:
        """Whether the idle connection may take a request: open, and nothing to read (the
        server closed it, or sent what nobody asked for)."""
        if self.sock.fileno() < 0 or self._buffer:
            return False
        try:
            if hasattr(select, "poll"):  # any descriptor number (select() stops at 1024)
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return not poller.poll(0)
            return not select.select([self.sock], [], [], 0)[0]
        except (OSError, ValueError):
            return False

    def exchange(self, request: bytes, *, head: bool, timeout: float) -> tuple[Reply, bool]:
        """Send ``request`` (its head and body) and read the reply: (reply, whether the
        connection can take another request). ``head`` says the request was ``HEAD``.

        Raises ``TimeoutError`` when the server is silent for ``timeout`` seconds,
        :class:`Disconnected`, :class:`ProtocolError` and other ``OSError``\\ s.
        """
        self.sock.settimeout(timeout)
        self._received = False
        try:
            self.sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may have answered already, then closed: read that answer
        while True:
            version, status, reason, headers = self._head()
            if status >= 200:
                break
            if status == 101:
                raise ProtocolError("the server switched protocols")
        fields = {name.lower(): value for name, value in headers}  # the last value of each
        if head or status in _BODILESS:
            body, delimited = b"", True
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            body, delimited = self._chunked(), True
        elif "content-length" in fields:
            body, delimited = self._exactly(_length(headers)), True
        else:
            body, delimited = self._to_the_end(), False
        connection = fields.get("connection", "").lower()
        if version == "HTTP/1.0":
            persistent = "keep-alive" in connection
        else:
            persistent = "close" not in connection
        return Reply(status, reason, headers, body), delimited and persistent and not self._buffer

    # -- reading ----------------------------------------------------------------------------
    def _read_more(self) -> None:
        data = self.sock.recv(READ_SIZE)
        if not data:
            if self._received:
                raise Disconnected("the connection closed in the middle of the reply", partial=True)
            raise Disconnected("the server closed the connection without a reply", partial=False)
        self._received = True
        self._buffer += data

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _line(self) -> bytes:
        """The next line (without its end), for the chunked coding's size lines and trailer."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_HEAD:
                raise ProtocolError("a line of the reply is too long")
            self._read_more()
        return self._take(end + 1).rstrip(b"\r\n")

    def _head(self) -> tuple[str, int, str, list[tuple[str, str]]]:
        """(version, status, reason, header fields) of the next reply."""
        while (found := _HEAD_END.search(self._buffer)) is None:
            if len(self._buffer) > MAX_HEAD:
                raise ProtocolError("the reply's header is too long")
            self._read_more()
        lines = self._take(found.end()).decode("iso-8859-1").splitlines()
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            if line[0] in " \t" and headers:  # an obsolete folded continuation
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise ProtocolError(f"not a header field: {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
        return version, int(code), reason.strip(), headers

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._read_more()
        return self._take(size)

    def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"not a chunk size: {size_text[:40]!r}") from None
            if size == 0:
                while self._line():  # the trailer fields, up to the empty line
                    pass
                return b"".join(chunks)
            chunks.append(self._exactly(size))
            if self._line():
                raise ProtocolError("a chunk does not end where its size says")

    def _to_the_end(self) -> bytes:
        try:
            while True:
                self._read_more()
        except Disconnected:
            return self._take(len(self._buffer))


def _length(headers: list[tuple[str, str]]) -> int:
    """The body length the ``Content-Length`` fields agree on."""
    values = {
        value.strip()
        for name, field in headers
        if name.lower() == "content-length"
        for value in field.split(",")
    }
    if len(values) != 1 or not (value := values.pop()).isdigit():
        raise ProtocolError(f"Content-Length is not one length: {sorted(values)!r}")
    return int(value)
