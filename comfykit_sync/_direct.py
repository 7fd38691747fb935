"""Small requests to the kit's own server, sent on kept-alive connections of our own.

A busy kit mostly sends small JSON calls to one origin (submit, queue, history). Through a
``requests.Session`` each costs the client several times the CPU of sending it (merging
settings, preparing, cookie jars, hooks, urllib3's pool and response objects, ``http.client``'s
header handling). :class:`DirectTransport` sends such a call itself (``_http11``): the
session's default headers (but no compression) and the credentials, a connect and a read
timeout, no retries, and failures raised as the exceptions requests raises for them. It returns
a :class:`requests.Response` with its body read. :class:`~comfykit_sync.http.HttpClient`
decides which requests may take this way; any that needs more of requests (a proxy, a redirect,
a cookie the server set, a streamed body, TLS) goes through a session as before.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._http11 import Connection, ProtocolError, Reply

if TYPE_CHECKING:
    import requests

#: idle connections kept (one per thread that talks at the same time, plus the watcher)
POOL_SIZE = 256
#: what a header field name may hold (RFC 9110 token); values may not hold line breaks
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class DirectTransport:
    """Kept-alive connections to one ``http://host:port`` ``origin``. Thread-safe."""

    def __init__(self, origin: str) -> None:
        from requests.utils import default_headers

        parts = urlsplit(origin)
        self._origin, self._host, self._port = origin, parts.hostname or "", parts.port or 80
        # what a requests.Session sends, but uncompressed: nothing to decode on loopback
        self._defaults = {**default_headers(), "Accept-Encoding": "identity"}
        self._host_field = f"Host: {parts.netloc.rpartition('@')[2]}\r\n"
        self._fields: tuple[Mapping[str, str], bytes] | None = None  # (headers, their bytes)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"DirectTransport({self._origin})"

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        """Send one request to ``url`` (under the origin) and read the whole reply; raise what
        requests raises for the same failure.

        ``headers`` (the same mapping every time: it is encoded once) are added to the
        session's defaults; ``json_body`` (unless ``None``) is sent as JSON, as requests'
        ``json=`` would.
        """
        import requests

        target = url[len(self._origin) :] or "/"
        if not target.isascii() or any(c in target for c in " \r\n\t"):
            raise requests.exceptions.InvalidURL(f"invalid characters in the URL {url!r}")
        body = b""
        if json_body is not None:
            try:
                body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            except (ValueError, TypeError) as exc:
                raise requests.exceptions.InvalidJSONError(exc) from exc
        head = f"{method} {target} HTTP/1.1\r\n{self._host_field}".encode()
        head += self._encoded(headers)
        if json_body is not None:
            head += b"Content-Type: application/json\r\n"
        if body or method in _BODY_METHODS:
            head += b"Content-Length: %d\r\n" % len(body)
        request = head + b"\r\n" + body
        conn = self._connection(timeout[0])
        try:
            reply, reusable = conn.exchange(request, head=method == "HEAD", timeout=timeout[1])
        except TimeoutError as exc:
            conn.close()
            raise requests.ReadTimeout(exc) from exc
        except (OSError, ProtocolError) as exc:  # reset, closed early (Disconnected), garbled
            conn.close()
            raise requests.ConnectionError(exc) from exc
        except BaseException:
            conn.close()
            raise
        self._release(conn, reusable)
        return _response(url, reply)

    def _encoded(self, headers: Mapping[str, str]) -> bytes:
        """The default and given header fields, checked and encoded (once per mapping)."""
        import requests

        cached = self._fields
        if cached is not None and cached[0] is headers:
            return cached[1]
        lines = []
        for name, value in {**self._defaults, **headers}.items():
            if not _TOKEN.fullmatch(name) or any(c in value for c in "\r\n\0"):
                raise requests.exceptions.InvalidHeader(f"invalid header field {name!r}")
            lines.append(f"{name}: {value}\r\n")
        try:
            encoded = "".join(lines).encode("iso-8859-1")
        except UnicodeEncodeError as exc:
            message = f"a header value is not Latin-1: {exc}"
            raise requests.exceptions.InvalidHeader(message) from exc
        self._fields = (headers, encoded)
        return encoded

    def _connection(self, connect_timeout: float) -> Connection:
        """An idle connection the server has not closed, else a new one (connected, or a
        connection error as requests raises it: nothing was sent)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if conn.usable():
                return conn
            conn.close()
        import requests
        from urllib3.exceptions import NewConnectionError

        try:
            sock = socket.create_connection((self._host, self._port), timeout=connect_timeout)
        except TimeoutError as exc:
            raise requests.ConnectTimeout(exc) from exc
        except OSError as exc:  # refused, unreachable, unknown host: as urllib3 reports it
            message = f"Failed to establish a new connection: {exc}"
            failure = NewConnectionError(self, message)  # type: ignore[arg-type]
            raise requests.ConnectionError(failure) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Connection(sock)

    def _release(self, conn: Connection, reusable: bool) -> None:
        with self._lock:
            kept = reusable and not self._closed and len(self._idle) < POOL_SIZE
            if kept:
                self._idle.append(conn)
        if not kept:
            conn.close()

    def close(self) -> None:
        """Close the idle connections, and the others as their requests end."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _response(url: str, reply: Reply) -> requests.Response:
    """``reply`` as the :class:`requests.Response` a session would return (repeated fields
    joined with ``", "``; ``raw`` is the :class:`~._http11.Reply`)."""
    import requests
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in reply.headers:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    response = requests.Response()
    response.status_code = reply.status
    response.headers = headers
    response.encoding = get_encoding_from_headers(headers)
    response.reason = reply.reason
    response.url = url
    response.raw = reply
    response._content = reply.body
    response._content_consumed = True
    return response
