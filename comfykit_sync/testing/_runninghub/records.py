"""Plain value types of the fake RunningHub: scripts, tasks, output files and requests seen."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs
from aiohttp import web

MAX_REQUESTS = 10000


@attrs.frozen
class OutputFile:
    """One output file of a task: ``content`` is served by the CDN, ``file_type`` reported."""

    node_id: str = attrs.field(converter=str)
    file_type: str
    content: bytes | str
    name: str | None = None


def _output_files(files: Iterable[OutputFile] | None) -> tuple[OutputFile, ...] | None:
    return None if files is None else tuple(files)


@attrs.frozen(kw_only=True)
class TaskScript:
    """Scripted behaviour for one created task (every field optional).

    * ``queue_time``/``run_time`` -- seconds queued / running (default: the server's).
    * ``failed_reason`` -- the task ends ``FAILED`` with this ``failedReason`` (a dict such as
      ``{"node_id", "node_name", "exception_type", "exception_message", "traceback"}``, or a
      string).
    * ``outputs`` -- replaces the generated output files.
    * ``node_errors`` -- reported in the create reply's ``promptTips``.
    * ``status_text`` -- reported by ``/status`` instead of QUEUED/RUNNING (e.g. ``""``).
    """

    queue_time: float | None = None
    run_time: float | None = None
    failed_reason: dict[str, Any] | str | None = None
    outputs: tuple[OutputFile, ...] | None = attrs.field(default=None, converter=_output_files)
    node_errors: dict[str, Any] | None = None
    status_text: str | None = None


@attrs.define(kw_only=True)
class TaskRecord:
    """A task the fake created; ``state()`` follows the clock, ``cancelled`` by ``/cancel``."""

    task_id: str
    workflow_id: str
    node_info_list: list[dict[str, Any]]
    instance_type: str | None
    webhook_url: str | None
    created_at: float
    queue_time: float
    run_time: float
    script: TaskScript
    outputs: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    cancelled: bool = False

    def state(self, now: float | None = None) -> str:
        if self.cancelled:
            return "FAILED"
        elapsed = (time.monotonic() if now is None else now) - self.created_at
        if elapsed < self.queue_time:
            return "QUEUED"
        if elapsed < self.queue_time + self.run_time:
            return "RUNNING"
        return "FAILED" if self.script.failed_reason is not None else "SUCCESS"

    def unfinished(self, now: float) -> bool:
        """Queued or running at ``now`` (what counts against the concurrency limit)."""
        return self.state(now) in ("QUEUED", "RUNNING")


@attrs.frozen
class RecordedRequest:
    """One HTTP request seen by the API or the CDN port, with its raw body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        """The body decoded as JSON; integers stay strings of digits (as sent on the wire)."""
        return json.loads(self.body, parse_int=str)


class RequestLog:
    """The last :data:`MAX_REQUESTS` requests of one port (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RecordedRequest] = deque(maxlen=MAX_REQUESTS)

    async def record(self, request: web.Request) -> None:
        """Read the body (aiohttp keeps it for the handler) and remember the request."""
        body = await request.read()
        entry = RecordedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)
