"""Small requests to the kit's own server, sent on urllib3 directly.

A busy kit mostly sends small JSON calls to one origin (submit, queue, history). Through a
``requests.Session`` each costs the client about twice the CPU of sending it: merging settings,
preparing the request, cookie jars, hooks and wrapping the response. :class:`DirectTransport`
sends such a call on a shared urllib3 pool the way requests' ``HTTPAdapter`` would (same
headers, credentials, retries of the connection only, and the same exceptions), and returns a
:class:`requests.Response` with its body read. :class:`~comfykit_sync._http.HttpClient` decides
which requests may take this way; any that needs more of requests (a proxy, a redirect, a
cookie the server set, a streamed body, TLS) goes through a session as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests
    import urllib3

#: connections kept per host (one per thread that talks at the same time, plus the watcher)
POOL_SIZE = 256


class DirectTransport:
    """A urllib3 connection pool to one ``http://host:port`` ``origin``, for requests that need
    nothing but sending. Thread-safe."""

    def __init__(self, origin: str) -> None:
        import urllib3
        from requests.utils import default_headers

        self._origin = origin
        self._headers = dict(default_headers())  # what a requests.Session sends
        self._retries = urllib3.Retry(0, read=False)  # requests' default: no retries
        self._pool = urllib3.connection_from_url(origin, maxsize=POOL_SIZE, block=False)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        """Send one request to ``url`` (under the origin); raise what requests raises for the
        same failure.

        ``headers`` are added to the session's defaults; ``json_body`` (unless ``None``) is sent
        as JSON, as requests' ``json=`` would.
        """
        import urllib3
        from requests.exceptions import InvalidJSONError

        all_headers = {**self._headers, **headers}
        body = None
        if json_body is not None:
            try:
                body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            except (ValueError, TypeError) as exc:
                raise InvalidJSONError(exc) from exc
            all_headers.setdefault("Content-Type", "application/json")
        try:
            reply = self._pool.urlopen(
                method,
                url[len(self._origin) :] or "/",
                body=body,
                headers=all_headers,
                redirect=False,
                retries=self._retries,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = as_requests_error(exc)
            if error is exc:
                raise
            raise error from exc
        return _response(url, reply)

    def close(self) -> None:
        self._pool.close()


def _response(url: str, reply: urllib3.BaseHTTPResponse) -> requests.Response:
    """``reply`` (body already read) as the :class:`requests.Response` requests would build."""
    import requests
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    response = requests.Response()
    response.status_code = reply.status
    response.headers = CaseInsensitiveDict(reply.headers)
    response.encoding = get_encoding_from_headers(response.headers)
    response.reason = reply.reason or ""
    response.url = url
    response.raw = reply
    response._content = reply.data
    response._content_consumed = True
    return response


def as_requests_error(exc: Exception) -> Exception:
    """The exception requests' ``HTTPAdapter.send`` raises for this urllib3 failure (others are
    returned unchanged), so that both ways of sending fail alike."""
    import requests
    from urllib3.exceptions import (
        ClosedPoolError,
        ConnectTimeoutError,
        InvalidHeader,
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ProxyError,
        ReadTimeoutError,
        ResponseError,
        SSLError,
    )

    if isinstance(exc, (ProtocolError, OSError, ClosedPoolError)):
        return requests.ConnectionError(exc)
    if isinstance(exc, MaxRetryError):
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return requests.ConnectTimeout(exc)
        if isinstance(reason, ResponseError):
            return requests.exceptions.RetryError(exc)
        if isinstance(reason, ProxyError):
            return requests.exceptions.ProxyError(exc)
        if isinstance(reason, SSLError):
            return requests.exceptions.SSLError(exc)
        return requests.ConnectionError(exc)
    if isinstance(exc, ProxyError):
        return requests.exceptions.ProxyError(exc)
    if isinstance(exc, SSLError):
        return requests.exceptions.SSLError(exc)
    if isinstance(exc, ReadTimeoutError):
        return requests.ReadTimeout(exc)
    if isinstance(exc, InvalidHeader):
        return requests.exceptions.InvalidHeader(exc)
    return exc
