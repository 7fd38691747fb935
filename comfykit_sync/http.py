"""The HTTP session for the core and for plugins: deadlines, origin-scoped credentials, errors.

Every request has a ``(connect, read)`` timeout, shortened to what is left of the deadline of the
:func:`request_deadline` block it is sent from (retries included): a job bounds every request it
makes, in its own thread, without passing its deadline down every call. Credentials — a bearer
token, custom headers such as ``X-API-Key``, cookies, and query parameters for WebSocket URLs
such as ``token=`` — are attached by :class:`OriginAuth` only to requests for the configured
server's origin, so they never reach a workflow URL, a media URL or a redirect target on another
host (a download answered with a redirect to a signed URL elsewhere is fetched without them).
Non-2xx replies become typed errors (:func:`error_for_response`). Only idempotent requests are
retried (with backoff); a non-idempotent one is retried only when it provably never reached the
server.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from .config import parse_cookie_text
from .errors import (
    APIError,
    AuthenticationError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:  # requests is imported on first use, not with the package
    import requests

    from ._direct import DirectTransport

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER = 30.0
#: the shortest timeout a request started before its deadline gets (a usable round trip)
MIN_REQUEST_TIMEOUT = 0.2

_deadline: ContextVar[float | None] = ContextVar("comfykit_request_deadline", default=None)


@contextmanager
def request_deadline(deadline: float | None) -> Iterator[None]:
    """Bound every request sent in the block (in this thread) by ``deadline``, retries included.

    ``deadline`` is a ``time.monotonic()`` value (``None``: no bound of its own). Nested blocks
    keep the earlier deadline. A request is not sent once the deadline has passed
    (``RequestTimeout`` with ``sent=False``); one started before it gets a timeout of what is
    left (at least :data:`MIN_REQUEST_TIMEOUT`).
    """
    outer = _deadline.get()
    token = _deadline.set(_earliest(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline_passed() -> bool:
    """Whether the deadline of the enclosing :func:`request_deadline` has passed: a request that
    failed then ran out of the caller's time, which tells nothing about the server."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() >= deadline


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def seconds_left(what: str, default: float, deadline: float | None = None) -> float:
    """``default`` seconds, shortened to what is left before the deadline (``deadline`` or the
    enclosing :func:`request_deadline`); ``RequestTimeout`` when it has passed."""
    deadline = _earliest(deadline, _deadline.get())
    if deadline is None:
        return default
    left = deadline - time.monotonic()
    if left <= 0:
        raise RequestTimeout(f"{what}: the deadline passed before it was sent", sent=False)
    return min(default, max(left, MIN_REQUEST_TIMEOUT))


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port), lower-cased, default ports filled in; ``ws(s)`` is ``http(s)``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme in ("https", "wss") else 80)
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return scheme, (parts.hostname or "").lower(), port


class OriginAuth:
    """Adds credentials to requests for one origin, and to no other.

    ``token`` becomes ``Authorization: Bearer <token>``; ``headers`` (e.g. ``{"X-API-Key": key}``)
    are sent as they are; ``cookies()`` gives the cookies to send; ``ws_query`` (e.g.
    ``{"token": key}``) is added to the query of WebSocket URLs (:meth:`websocket`), never to
    HTTP requests. None of them appears in ``repr``; :meth:`redact` masks them in any text.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        cookies: Callable[[], Mapping[str, str]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        ws_query: Mapping[str, str] | None = None,
    ) -> None:
        self._origin = origin_of(base_url)
        self._token = token
        self._cookies = cookies
        self._headers = dict(headers or {})
        self._ws_query = dict(ws_query or {})

    def __repr__(self) -> str:
        return f"OriginAuth({self._origin[0]}://{self._origin[1]}:{self._origin[2]})"

    @property
    def header_names(self) -> frozenset[str]:
        """The credential headers to drop when a redirect leaves the origin.

        ``Cookie`` is not among them: requests itself rebuilds it for every redirect.
        """
        return frozenset({"Authorization", *self._headers})

    def headers_for(self, url: str) -> dict[str, str]:
        """The credential headers for ``url`` (empty for any other origin)."""
        if origin_of(url) != self._origin:
            return {}
        headers = dict(self._headers)
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        cookies = self._cookies() if self._cookies else {}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return headers

    def websocket(self, url: str) -> tuple[str, dict[str, str]]:
        """(``url`` with the credential query added, the handshake's credential headers).

        Both are secret: log ``url``, never what this returns. Another origin gets ``url``
        unchanged and no headers.
        """
        if origin_of(url) != self._origin or not self._ws_query:
            return url, self.headers_for(url)
        parts = urlsplit(url)
        query = "&".join(filter(None, (parts.query, urlencode(self._ws_query, quote_via=quote))))
        return urlunsplit(parts._replace(query=query)), self.headers_for(url)

    def redact(self, text: str) -> str:
        """``text`` with every credential value replaced by ``***`` (for error messages)."""
        secrets = [self._token, *self._headers.values(), *self._ws_query.values()]
        secrets += [quote(value, safe="") for value in self._ws_query.values()]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self.headers_for(request.url or ""))
        return request


@functools.cache
def _session_class() -> type[requests.Session]:
    import requests

    class OriginSession(requests.Session):
        """A session whose redirects carry credentials only to the origin they belong to."""

        def rebuild_auth(
            self, prepared_request: requests.PreparedRequest, response: requests.Response
        ) -> None:
            if not isinstance(self.auth, OriginAuth):
                return super().rebuild_auth(prepared_request, response)
            for name in self.auth.header_names:
                prepared_request.headers.pop(name, None)
            prepared_request.headers.update(self.auth.headers_for(prepared_request.url or ""))
            return None

    return OriginSession


def remaining_timeout(default: tuple[float, float], deadline: float) -> tuple[float, float]:
    """``default`` (connect, read), shortened so a request never outlives ``deadline`` by much.

    ``deadline`` is a ``time.monotonic()`` value; at least 0.5 s is left for each part.
    """
    left = max(0.5, deadline - time.monotonic())
    return (min(default[0], left), min(default[1], left))


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        import email.utils

        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _body_snippet(response: requests.Response) -> str:
    try:
        text = response.text
    except Exception:  # undecodable body
        return "<unreadable body>"
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def decode_json(response: requests.Response, what: str, server: str = "the server") -> Any:
    """The JSON body of ``response``; ``InvalidResponseError`` naming ``server`` if it is not."""
    try:
        return response.json()
    except ValueError:
        raise InvalidResponseError(
            f"{what}: {server} replied with non-JSON content: {_body_snippet(response)!r}",
            status_code=response.status_code,
            url=response.url,
        ) from None


def error_for_response(response: requests.Response, what: str) -> APIError:
    """The typed error for a non-2xx ``response`` to the request described by ``what``."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = _body_snippet(response)
    detail = body if isinstance(body, str) else json.dumps(body)[:300]
    message = f"{what} failed: HTTP {status} {response.reason or ''}".rstrip()
    if detail:
        message += f": {detail}"
    kwargs: dict[str, Any] = {"status_code": status, "url": response.url, "body": body}
    if status in (401, 403):
        return AuthenticationError(message + " (check api_key / cookies)", **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 429:
        return RateLimitError(message, retry_after=_retry_after(response), **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return APIError(message, **kwargs)


def _never_sent(exc: requests.RequestException) -> bool:
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return isinstance(exc, requests.ConnectionError) and (
        "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text
    )


def refused(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a refused connection: nothing listens there.

    Unlike a timeout or an unreachable network, this proves the server process is not
    running (or not accepting), so whatever it held in memory is gone.
    """
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        exc = pending.pop()
        if not isinstance(exc, BaseException) or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            return True
        pending += [exc.__cause__, exc.__context__, getattr(exc, "reason", None), *exc.args]
    return False


def transport_error(exc: requests.RequestException, what: str) -> TransportError:
    """Wrap a requests exception; ``sent=False`` when the request provably never left."""
    import requests

    url = exc.request.url if exc.request is not None else None
    if isinstance(url, bytes):  # an unprepared Request may hold its URL as bytes
        url = url.decode("utf-8", "replace")
    sent = False if _never_sent(exc) else None
    if isinstance(exc, requests.Timeout):
        kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
        return RequestTimeout(f"{what} timed out ({kind} timeout)", url=url, sent=sent)
    reason = "could not connect" if sent is False else "connection failed"
    return TransportError(f"{what}: {reason}: {type(exc).__name__}", url=url, sent=sent)


def iter_body(
    response: requests.Response, what: str, chunk_size: int = 256 * 1024
) -> Iterator[bytes]:
    """The body of a streamed response in chunks; a broken or stalled stream is a typed error."""
    import requests

    try:
        yield from response.iter_content(chunk_size)
    except requests.RequestException as exc:
        raise transport_error(exc, what) from exc


class BodyStream(io.RawIOBase):
    """A streamed response body as a file object whose read errors are ``TransportError``s."""

    def __init__(self, response: requests.Response, what: str) -> None:
        self._response, self._what = response, what
        response.raw.decode_content = True  # undo a Content-Encoding, as iter_content would

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from urllib3.exceptions import HTTPError

        try:
            data = self._response.raw.read(len(buffer))
        except (HTTPError, OSError) as exc:
            raise TransportError(
                f"{self._what}: the connection broke while reading: {type(exc).__name__}"
            ) from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._response.close()
        super().close()


def _retryable(exc: BaseException, idempotent: bool) -> bool:
    if isinstance(exc, TransportError):
        return idempotent or exc.sent is False
    if isinstance(exc, RateLimitError):
        return True  # a 429 was refused before any work started
    return idempotent and isinstance(exc, ServerError) and exc.status_code in RETRY_STATUSES


def _retry_wait(attempt: int, exc: BaseException, deadline: float | None) -> float:
    """Seconds before retrying after failed ``attempt`` (1, 2, ...): exponential backoff (0.1 s
    doubling, at most 2 s), honouring a 429's Retry-After, never past the deadline."""
    wait: float = min(2.0, 0.1 * 2 ** (attempt - 1))
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        wait = min(exc.retry_after, MAX_RETRY_AFTER)
    if deadline is not None:
        wait = min(wait, max(0.0, deadline - time.monotonic()))
    return wait


#: the arguments of ``HttpClient.request`` that make up the request itself (the others, such as
#: ``stream`` and ``allow_redirects``, say how it is sent)
REQUEST_FIELDS = frozenset({"headers", "params", "data", "json", "files"})


def _prepare(
    sess: requests.Session, method: str, url: str, fields: Mapping[str, Any]
) -> requests.PreparedRequest:
    """The request ``sess.request()`` would send: the session's headers (a ``None`` value drops
    one), cookies and auth, with ``fields`` (``REQUEST_FIELDS``; others are ignored).

    ``Session.request`` builds the same request by merging every per-call setting into the
    session's, and reads the environment's settings again, which costs more than sending it;
    there is nothing to merge here (no per-call cookies, auth or hooks; the environment's
    settings are cached per origin by the client).
    """
    import requests
    from requests.structures import CaseInsensitiveDict

    headers = sess.headers
    extra = fields.get("headers")
    if extra:
        headers = CaseInsensitiveDict(headers)
        headers.update(extra)
        for name in [name for name, value in headers.items() if value is None]:
            del headers[name]
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=method,
        url=url,
        headers=headers,
        files=fields.get("files"),
        data=fields.get("data") or {},
        json=fields.get("json"),
        params=fields.get("params") or {},
        auth=sess.auth,
        cookies=sess.cookies,
    )
    return prepared


class HttpClient:
    """Thread-safe HTTP client: a pool of ``requests.Session`` objects shared by all threads.

    ``base_url`` is the origin that receives the credentials: ``token`` (sent as
    ``Authorization: Bearer``), ``headers`` (e.g. ``{"X-API-Key": key}``), ``cookies`` (a dict,
    ``"k=v; k2=v2"`` or JSON text, or an http(s) URL to fetch them from once) and ``ws_query``
    (query parameters for WebSocket URLs, e.g. ``{"token": key}``); see :class:`OriginAuth`.
    ``timeout`` is the default ``(connect, read)`` pair in seconds.

    A request to the ``http://`` base URL with at most a ``json=`` body is sent on a
    connection of the client's own (:mod:`._direct`: the same request for a fraction of the
    CPU), as long as the origin has no proxy and the server has set no cookie and answered no
    redirect; after either, every request goes through the sessions, which keep the cookies
    and follow the redirects.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        ws_query: Mapping[str, str] | None = None,
        cookies: str | Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._cookie_source = cookies
        self._cookie_cache: Mapping[str, str] | None = None
        self._cookie_lock = threading.Lock()
        self.auth = OriginAuth(
            self.base_url,
            token,
            self._cookies if cookies else None,
            headers=headers,
            ws_query=ws_query,
        )
        self._idle: queue.LifoQueue[requests.Session] = queue.LifoQueue()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._closed = False
        self._env_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._direct: DirectTransport | None = None
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._direct_allowed = parts.scheme == "http"
        self._origin_headers: dict[str, str] | None = None  # the credentials, once computed
        self._server_cookies: Any = None  # a RequestsCookieJar once a direct reply set one

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    def _cookies(self) -> Mapping[str, str]:
        """Configured cookies; a cookie URL is fetched once (without credentials) and cached."""
        if self._cookie_cache is None:
            with self._cookie_lock:
                if self._cookie_cache is None:
                    source = self._cookie_source
                    if isinstance(source, str):
                        source = parse_cookie_text(self._fetch_cookie_text(source), "cookie URL")
                    self._cookie_cache = dict(source or {})
        return self._cookie_cache

    def _fetch_cookie_text(self, url: str) -> str:
        import requests

        try:
            response = requests.get(url, timeout=self._bounded(self.timeout, "fetching cookies"))
        except requests.RequestException as exc:
            raise transport_error(exc, "fetching cookies") from exc
        if response.status_code >= 400:  # the body is not quoted: it may hold cookie values
            raise APIError(
                f"fetching cookies failed: HTTP {response.status_code}",
                status_code=response.status_code,
            )
        return response.text

    def _environment(self, url: str) -> dict[str, Any]:
        """Proxies and CA bundle from the environment, as requests would read them, per origin.

        requests re-reads the whole environment on every request; this computes it once per
        origin (a large share of the per-request CPU cost otherwise).
        """
        key = origin_of(url)
        settings = self._env_cache.get(key)
        if settings is None:
            import requests.utils

            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            settings = {
                "proxies": requests.utils.get_environ_proxies(url),
                "verify": verify or True,
            }
            self._env_cache[key] = settings
        return settings

    @staticmethod
    def _bounded(
        timeout: tuple[float, float], what: str, deadline: float | None = None
    ) -> tuple[float, float]:
        """``timeout`` shortened to what is left before the deadline (see :func:`seconds_left`)."""
        return (seconds_left(what, timeout[0], deadline), seconds_left(what, timeout[1], deadline))

    def url(self, path: str) -> str:
        """Absolute URL of a server path (``/prompt``) under the base URL."""
        return self.base_url + path

    def websocket_url(self, path: str = "/ws", params: Mapping[str, str] | None = None) -> str:
        """The ``ws(s)://`` URL of ``path`` under the base URL, with ``params`` as its query.

        It holds no credentials, so it is safe to log; connect to
        ``self.auth.websocket(url)`` (the URL with ``ws_query`` added, and the headers).
        """
        parts = urlsplit(self.base_url + path)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode(params or {}, quote_via=quote)
        return urlunsplit((scheme, parts.netloc, parts.path, query, ""))

    @contextmanager
    def session(self) -> Iterator[requests.Session]:
        """Borrow a session from the pool for the duration of the block."""
        if self._closed:
            raise TransportError("the client is closed")
        try:
            sess = self._idle.get_nowait()
        except queue.Empty:
            sess = _session_class()()
            sess.auth = self.auth
            sess.trust_env = False  # environment settings come from _environment(), cached
            with self._lock:
                if self._server_cookies is not None:
                    sess.cookies.update(self._server_cookies)
                self._sessions.append(sess)
        try:
            yield sess
        finally:
            if self._closed:
                sess.close()
            else:
                self._idle.put(sess)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str | None = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
        timeout: tuple[float, float] | None = None,
        attempts: int = MAX_ATTEMPTS,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request and return the 2xx response, or raise a typed error.

        ``what`` describes the request in error messages; ``deadline`` (``time.monotonic``)
        bounds every attempt and the retries, as does the enclosing :func:`request_deadline`;
        a streamed body (a file object) disables retries.
        """
        method = method.upper()
        if url.startswith("/"):
            url = self.url(url)
        what = what or f"{method} {urlsplit(url).path}"
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if hasattr(kwargs.get("data"), "read"):
            attempts = 1
        deadline = _earliest(deadline, _deadline.get())
        timeout = timeout or self.timeout
        attempt = 1
        while True:
            try:
                return self._send(method, url, what, timeout, deadline, kwargs)
            except Exception as exc:
                if attempt >= attempts or not _retryable(exc, idempotent):
                    raise
                pause = _retry_wait(attempt, exc, deadline)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise  # the next attempt would start at or after the deadline
                log.debug("retrying %s after %r", what, exc)
            time.sleep(pause)
            attempt += 1

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        timeout: tuple[float, float],
        deadline: float | None,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        import requests

        timeout = self._bounded(timeout, what, deadline)
        try:
            if self._goes_direct(url, kwargs):
                response = self._send_direct(method, url, timeout, kwargs)
            else:
                response = self._send_session(method, url, timeout, kwargs)
        except requests.RequestException as exc:
            raise transport_error(exc, what) from exc
        if response.status_code >= 400:
            error = error_for_response(response, what)
            response.close()
            raise error
        return response

    def _send_session(
        self, method: str, url: str, timeout: tuple[float, float], kwargs: dict[str, Any]
    ) -> requests.Response:
        options = {k: v for k, v in kwargs.items() if k not in REQUEST_FIELDS}
        with self.session() as sess:
            prepared = _prepare(sess, method, url, kwargs)
            response = sess.send(prepared, timeout=timeout, **self._environment(url), **options)
            if self._direct_allowed and len(sess.cookies):  # cookies only sessions send back
                self._direct_allowed = False
        return response

    def _goes_direct(self, url: str, kwargs: Mapping[str, Any]) -> bool:
        """Whether the request can be sent on a connection of our own (see the class doc)."""
        if not self._direct_allowed or not kwargs.keys() <= {"json"}:
            return False
        base = self.base_url
        if not url.startswith(base) or url[len(base) : len(base) + 1] not in ("/", "?", ""):
            return False
        if self._origin_headers is None:  # first time: a proxy, or the credentials to send
            if self._environment(url)["proxies"]:
                self._direct_allowed = False
                return False
            self._origin_headers = self.auth.headers_for(url)
        return True

    def _send_direct(
        self, method: str, url: str, timeout: tuple[float, float], kwargs: Mapping[str, Any]
    ) -> requests.Response:
        """Send on a connection of our own; a redirect is followed through a session."""
        if self._closed:
            raise TransportError("the client is closed")
        direct = self._direct
        if direct is None:
            from ._direct import DirectTransport

            with self._lock:
                direct = self._direct = self._direct or DirectTransport(self._origin)
        response = direct.send(
            method,
            url,
            headers=self._origin_headers or {},
            json_body=kwargs.get("json"),
            timeout=timeout,
        )
        if "Set-Cookie" in response.headers:
            self._keep_cookies(method, url, response)
        if response.is_redirect:
            self._direct_allowed = False
            return self._follow_redirects(method, url, timeout, kwargs, response)
        return response

    def _follow_redirects(
        self,
        method: str,
        url: str,
        timeout: tuple[float, float],
        kwargs: Mapping[str, Any],
        response: requests.Response,
    ) -> requests.Response:
        """Follow the redirects of a direct reply as ``Session.send`` would."""
        with self.session() as sess:
            response.request = prepared = _prepare(sess, method, url, kwargs)
            history = [response]
            history += sess.resolve_redirects(
                response, prepared, timeout=timeout, **self._environment(url)
            )
        final = history.pop()
        final.history = history
        return final

    def _keep_cookies(self, method: str, url: str, response: requests.Response) -> None:
        """Store the cookies a direct reply set in every session (and the ones to come), as
        the session that sent it would have; from now on, requests go through the sessions."""
        import requests
        from requests.cookies import MockRequest, MockResponse, RequestsCookieJar

        jar = RequestsCookieJar()
        request = MockRequest(requests.Request(method, url).prepare())
        jar.extract_cookies(MockResponse(response.raw), request)  # type: ignore[arg-type]
        with self._lock:
            self._direct_allowed = False
            if self._server_cookies is None:
                self._server_cookies = RequestsCookieJar()
            self._server_cookies.update(jar)
            for sess in self._sessions:
                sess.cookies.update(jar)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON reply (``InvalidResponseError`` if it is not)."""
        response = self.request(method, url, **kwargs)
        what = kwargs.get("what") or f"{method.upper()} {urlsplit(response.url).path}"
        return decode_json(response, what)

    def close(self) -> None:
        """Close every pooled session; idempotent."""
        self._closed = True
        with self._lock:
            sessions, self._sessions = self._sessions, []
            direct, self._direct = self._direct, None
        for sess in sessions:
            sess.close()
        if direct is not None:
            direct.close()
