"""Fault injection shared by the fake servers (public: a plugin's own fake can use it too).

Every fake in :mod:`comfykit_sync.testing` (and the RunPod plugin's) mixes in
:class:`FaultInjection`, so the same calls break any of them::

    server.fault("reset", "/prompt")                  # the reply to a queued prompt is lost
    server.fault("delay", "/history", seconds=2)      # a reply slower than a read timeout
    server.fault("status", "/queue", times=3, status=503)
    server.fail_requests("/prompt", status=429, retry_after=0)
    server.clear_faults()

A request gets the first pending fault for its path, in the order the faults were added; the
path ``"*"`` matches any request once every fault added before it is used up. A fake builds on
it by calling :meth:`FaultInjection.take_fault` in its aiohttp middleware (after whatever the
real service checks first, e.g. the API key) and answering with :meth:`Fault.reply`; it may
override :meth:`~FaultInjection.fault_path` (how a path given by a test is written) and
:meth:`~FaultInjection.fault_body` (the body of an injected status reply).

Faults of a whole server (connection refused: ``stop()``) and of one job (each fake's script
class) are described with each fake; docs/reliability.md has the table.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import attrs
from aiohttp import web

__all__ = ["ANY_PATH", "FAULT_NAMES", "Body", "Fault", "FaultInjection"]

#: the named faults :meth:`FaultInjection.fault` knows
FAULT_NAMES = ("status", "reset", "delay", "truncated_json")
#: the path of a fault that hits any request (once the faults added before it are used up)
ANY_PATH = "*"

Body = str | bytes | dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_text(status: int) -> str:
    """``"503: Service Unavailable"``, as aiohttp words an error status."""
    try:
        return f"{status}: {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


@attrs.define(kw_only=True)
class Fault:
    """One pending fault: what happens to the next ``remaining`` requests to ``path``.

    Made by :meth:`FaultInjection.fault`; see there for what each ``name`` does.
    """

    name: str
    path: str
    remaining: int
    process: bool
    at: str
    seconds: float
    status: int
    body: Body
    headers: dict[str, str]

    def matches(self, path: str, first: bool) -> bool:
        """Whether this fault applies to a request for ``path`` (``first``: no fault before it)."""
        return self.path == path or (self.path == ANY_PATH and first)

    async def reply(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer ``request`` the broken way (``handler`` is the real endpoint)."""
        response = await handler(request) if self.process else None
        if self.seconds > 0:
            await asyncio.sleep(self.seconds)
        if self.name == "delay":
            return response if response is not None else await handler(request)
        if self.name == "status":
            return self._status_response()
        body = b'{"prompt_id": "' if response is None else _response_bytes(response)
        if self.name == "truncated_json":
            return web.Response(
                status=200, body=body[: len(body) // 2], content_type="application/json"
            )
        _abort(request, body, self.at)
        raise asyncio.CancelledError  # nothing more is written on the aborted connection

    def _status_response(self) -> web.Response:
        if isinstance(self.body, dict):
            return web.json_response(self.body, status=self.status, headers=self.headers)
        if isinstance(self.body, bytes):
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        return web.Response(status=self.status, text=self.body, headers=self.headers)


def _response_bytes(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b"{}"


def _abort(request: web.Request, body: bytes, at: str) -> None:
    """A raw status line and headers promising the whole body, then (``at="body"``) half of
    it, then the connection is aborted."""
    transport = request.transport
    if transport is None:
        return
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {max(len(body), 2)}\r\nConnection: close\r\n\r\n"
    ).encode()
    transport.write(head + (body[: len(body) // 2] if at == "body" else b""))
    transport.abort()


class FaultInjection:
    """Mixin giving a fake server :meth:`fault`, :meth:`fail_requests` and :meth:`clear_faults`.

    ``default_fault_path`` is where a fault strikes when no path is given: the fake's
    submission endpoint.
    """

    default_fault_path: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.__faults: list[Fault] = []  # in the order they were added
        self.__fault_lock = threading.Lock()

    # ------------------------------------------------------------- for a fake to adapt

    def fault_path(self, path: str) -> str:
        """A path given by a test, written as :meth:`take_fault` is asked (``/x`` by default)."""
        return "/" + path.lstrip("/")

    def fault_body(self, status: int) -> Body:
        """The body of an injected ``status`` reply when the test gives none."""
        return status_text(status)

    # ----------------------------------------------------------------- for the tests

    def fault(
        self,
        name: str,
        path: str | None = None,
        times: int = 1,
        *,
        process: bool | None = None,
        at: str = "headers",
        seconds: float | None = None,
        status: int = 503,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: int | None = 1,
    ) -> None:
        """Inject the named fault into the next ``times`` requests to ``path``.

        * ``"status"`` -- answer with HTTP ``status`` and ``body`` (default: the status text;
          a dict is sent as JSON; a 200 with a ``body`` is a malformed reply), plus
          ``headers``; a 429 carries ``Retry-After: retry_after`` unless it is ``None``.
        * ``"reset"`` -- the connection is aborted after the status line and headers
          (``at="headers"``) or half-way through the body (``at="body"``).
        * ``"delay"`` -- the real reply comes ``seconds`` (default 1) late, e.g. beyond a
          client's read timeout.
        * ``"truncated_json"`` -- a 200 ``application/json`` reply cut in half.

        ``process``: whether the request takes effect first (a prompt is queued, a task
        created), so the client cannot tell whether it did; by default it does, except for
        ``"status"``. ``seconds`` also makes any other fault answer that late. ``path``
        defaults to the fake's submission endpoint; ``"*"`` is any path (see the module doc).
        """
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULT_NAMES))}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if at not in ("headers", "body"):
            raise ValueError("at must be 'headers' or 'body'")
        all_headers = dict(headers or {})
        if status == 429 and retry_after is not None:
            all_headers.setdefault("Retry-After", str(retry_after))
        rule = Fault(
            name=name,
            path=self._fault_key(self.default_fault_path if path is None else path),
            remaining=times,
            process=name != "status" if process is None else process,
            at=at,
            seconds=(1.0 if name == "delay" else 0.0) if seconds is None else seconds,
            status=status,
            body=self.fault_body(status) if body is None else body,
            headers=all_headers,
        )
        with self.__fault_lock:
            self.__faults.append(rule)

    def fail_requests(
        self,
        path: str,
        status: int = 503,
        times: int = 1,
        body: Body | None = None,
        *,
        process: bool = False,
        headers: Mapping[str, str] | None = None,
        retry_after: int | None = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``: ``fault("status")``.

        With ``process=True`` the request takes effect first (e.g. the task is created).
        """
        self.fault(
            "status",
            path,
            times,
            process=process,
            status=status,
            body=body,
            headers=headers,
            retry_after=retry_after,
        )

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self.__fault_lock:
            self.__faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        """The faults not used up yet, in the order they apply."""
        with self.__fault_lock:
            return [attrs.evolve(rule) for rule in self.__faults]

    # ------------------------------------------------------------------- for the fake

    def take_fault(self, path: str) -> Fault | None:
        """The fault for a request to ``path`` (counted as used), or ``None``."""
        with self.__fault_lock:
            for index, rule in enumerate(self.__faults):
                if rule.matches(path, index == 0):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self.__faults[index]
                    return rule
        return None

    def _fault_key(self, path: str) -> str:
        return ANY_PATH if path == ANY_PATH else self.fault_path(path)
