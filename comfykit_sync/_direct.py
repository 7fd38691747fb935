"""Small requests to the kit's own server, sent on kept-alive ``http.client`` connections.

A busy kit mostly sends small JSON calls to one origin (submit, queue, history). Through a
``requests.Session`` each costs the client about three times the CPU of sending it (merging
settings, preparing, cookie jars, hooks, urllib3's pool and response objects).
:class:`DirectTransport` sends such a call itself: the session's default headers (but no
compression) plus the caller's, a connect and a read timeout, no retries, and failures raised
as the exceptions requests raises for them. It returns a :class:`requests.Response` with its
body read. :class:`~comfykit_sync._http.HttpClient` decides which requests may take this way;
any that needs more of requests (a proxy, a redirect, a cookie the server set, a streamed body,
TLS) goes through a session as before.
"""

from __future__ import annotations

import errno
import http.client
import json
import select
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

#: idle connections kept (one per thread that talks at the same time, plus the watcher)
POOL_SIZE = 256


class DirectTransport:
    """Kept-alive connections to one ``http://host:port`` ``origin``. Thread-safe."""

    def __init__(self, origin: str) -> None:
        from requests.utils import default_headers

        parts = urlsplit(origin)
        self._origin, self._host, self._port = origin, parts.hostname or "", parts.port or 80
        # what a requests.Session sends, but uncompressed: nothing to decode on loopback
        self._headers = {**default_headers(), "Accept-Encoding": "identity"}
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

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

        ``headers`` are added to the session's defaults; ``json_body`` (unless ``None``) is sent
        as JSON, as requests' ``json=`` would.
        """
        import requests

        all_headers = {**self._headers, **headers}
        body = None
        if json_body is not None:
            try:
                body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            except (ValueError, TypeError) as exc:
                raise requests.exceptions.InvalidJSONError(exc) from exc
            all_headers.setdefault("Content-Type", "application/json")
        conn = self._connection(timeout[0])
        target = url[len(self._origin) :] or "/"
        try:
            reply, data = _exchange(conn, method, target, body, all_headers, timeout[1])
        except BaseException:
            conn.close()
            raise
        if reply.will_close:
            conn.close()
        else:
            with self._lock:
                kept = not self._closed and len(self._idle) < POOL_SIZE
                if kept:
                    self._idle.append(conn)
            if not kept:
                conn.close()
        return _response(url, reply, data)

    def _connection(self, connect_timeout: float) -> http.client.HTTPConnection:
        """An idle connection the server has not closed, else a new one (connected, or a
        connection error as requests raises it: nothing was sent)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if not _dropped(conn):
                return conn
            conn.close()
        import requests
        from urllib3.exceptions import NewConnectionError

        conn = http.client.HTTPConnection(self._host, self._port, timeout=connect_timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise requests.ConnectTimeout(exc) from exc
        except OSError as exc:  # refused, unreachable, unknown host: as urllib3 reports it
            conn.close()
            message = f"Failed to establish a new connection: {exc}"
            failure = NewConnectionError(conn, message)  # type: ignore[arg-type]
            raise requests.ConnectionError(failure) from exc
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def close(self) -> None:
        """Close the idle connections, and the others as their requests end."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether a kept connection is unusable: closed, or readable while idle (the server closed
    it, or sent what nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # any descriptor number (select() stops at 1024)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    target: str,
    body: bytes | None,
    headers: Mapping[str, str],
    read_timeout: float,
) -> tuple[http.client.HTTPResponse, bytes]:
    """Send the request and read the reply and its body, failing as requests would."""
    import requests

    assert conn.sock is not None
    conn.sock.settimeout(read_timeout)
    try:
        conn.request(method, target, body, dict(headers))
    except OSError as exc:
        # the server may have answered already (and closed): read that answer, as urllib3 does
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.ECONNRESET:
            raise requests.ConnectionError(exc) from exc
    except http.client.HTTPException as exc:
        raise requests.ConnectionError(exc) from exc
    try:
        reply = conn.getresponse()
        data = reply.read()
    except TimeoutError as exc:
        raise requests.ReadTimeout(exc) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise requests.ConnectionError(exc) from exc
    return reply, data


def _response(url: str, reply: http.client.HTTPResponse, data: bytes) -> requests.Response:
    """``reply`` and its body as the :class:`requests.Response` a session would return
    (repeated headers joined with ``", "``; ``raw`` is the read ``http.client`` reply)."""
    import requests
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in reply.msg.raw_items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    response = requests.Response()
    response.status_code = reply.status
    response.headers = headers
    response.encoding = get_encoding_from_headers(headers)
    response.reason = reply.reason
    response.url = url
    response.raw = reply
    response._content = data
    response._content_consumed = True
    return response
