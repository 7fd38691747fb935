"""A raw HTTP/1.1 server for tests of the client's own connections: it answers each request
with the next scripted reply, byte for byte, and records what it received."""

from __future__ import annotations

import socket
import threading

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class RawServer:
    """Answers requests on kept-alive connections with ``replies`` in order (then ``OK``); a
    reply given as ``(bytes, True)`` closes its connection after it."""

    def __init__(self, *replies: bytes | tuple[bytes, bool]) -> None:
        self.replies = [r if isinstance(r, tuple) else (r, False) for r in replies]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.requests: list[bytes] = []  # each request's head and body
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as incoming:
            while True:
                head = b""
                try:
                    while (line := incoming.readline()) not in (b"\r\n", b""):
                        head += line
                except OSError:  # the client reset the connection
                    return
                if not head:
                    return
                length = 0
                for field in head.split(b"\r\n")[1:]:
                    name, _, value = field.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                with self._lock:
                    self.requests.append(head + b"\r\n" + incoming.read(length))
                    reply, close = self.replies.pop(0) if self.replies else (OK, False)
                try:
                    conn.sendall(reply)
                    if close:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                except OSError:  # the client has gone already
                    return

    def drop_connections(self) -> None:
        """Close every connection, as a server does with idle ones."""
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # the client reads the end of the stream
            except OSError:  # closed already
                pass

    def stop(self) -> None:
        self.listener.close()
        self.drop_connections()
