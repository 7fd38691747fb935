"""A protocol-faithful fake RunningHub OpenAPI for tests (spec: runninghub-protocol.md).

Two ports on 127.0.0.1, served by one asyncio loop in a background daemon thread: the API
(:attr:`FakeRunningHub.url`) and a CDN for output files and test media
(:attr:`FakeRunningHub.cdn_url`), so a test can prove that the API key never reaches the CDN.
Tasks go QUEUED → RUNNING → SUCCESS | FAILED on the clock (``queue_time``, ``run_time``)::

    with FakeRunningHub(api_key="rh-key", run_time=0.1) as hub:
        workflow_id = hub.add_workflow(graph)
        hub.script(TaskScript(failed_reason={"node_id": "3", "exception_message": "OOM"}))
        ...
        hub.tasks[task_id].node_info_list

Every documented error code can be produced: realistic triggers (unknown key → 802, unknown
workflow → 380, bad ``nodeInfoList`` → 803, unknown task → 807, upload over the limit → 809,
``concurrency`` reached → 421, ``coins`` exhausted → 812, ``key_errors`` for per-key codes) and
:meth:`~FakeRunningHub.respond` for any code on any endpoint. Faults: :meth:`fail_requests`
(HTTP errors, non-JSON or malformed envelopes, optionally after the request took effect) and
:meth:`delay_requests` (replies slower than a read timeout).

Run it in its own process (prints its URL first, then ``<workflow id> <file>`` per workflow)::

    python -m comfykit_sync.testing.fake_runninghub --api-key KEY [--workflow FILE ...]
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.message import Message
from http import HTTPStatus
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from . import _media
from .background import BackgroundServer, cli_parser

__all__ = ["FakeRunningHub", "OutputFile", "RecordedRequest", "TaskRecord", "TaskScript", "main"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Match = Callable[[dict[str, Any]], bool]

MAX_REQUESTS = 10000
FIRST_WORKFLOW_ID = 1953270871002394625
FIRST_TASK_ID = 1960011122233344455
WORKFLOWS = Path(__file__).parent / "workflows"

#: symbolic names RunningHub puts in ``msg`` (spec §3)
CODE_NAMES: Mapping[int, str] = {
    0: "success",
    301: "PARAMS_INVALID",
    380: "WORKFLOW_NOT_EXISTS",
    381: "WEBAPP_NOT_EXISTS",
    401: "API_KEY_INVALID",
    415: "TASK_INSTANCE_MAXED",
    421: "TASK_QUEUE_MAXED",
    423: "TASK_NOT_FOUNED",
    433: "VALIDATE_PROMPT_FAILED",
    500: "UNKNOWN_ERROR",
    801: "APIKEY_UNSUPPORTED_FREE_USER",
    802: "APIKEY_UNAUTHORIZED",
    803: "APIKEY_INVALID_NODE_INFO",
    804: "APIKEY_TASK_IS_RUNNING",
    805: "APIKEY_TASK_STATUS_ERROR",
    806: "APIKEY_USER_NOT_FOUND",
    807: "APIKEY_TASK_NOT_FOUND",
    808: "APIKEY_UPLOAD_FAILED",
    809: "APIKEY_FILE_SIZE_EXCEEDED",
    811: "CORPAPIKEY_INVALID",
    812: "CORPAPIKEY_INSUFFICIENT_FUNDS",
    813: "APIKEY_TASK_IS_QUEUED",
    814: "PERSONAL_QUEUE_COUNT_LIMIT",
    901: "WEBAPP_NOT_EXISTS",
}

#: output node classes and the file type they produce by default
OUTPUT_TYPES: Mapping[str, str] = {
    "SaveImage": "png",
    "PreviewImage": "png",
    "SaveVideo": "mp4",
    "VHS_VideoCombine": "mp4",
    "SaveAudio": "flac",
    "PreviewAny": "txt",
}
NODE_INFO_KEYS = frozenset({"nodeId", "fieldName", "fieldValue"})


@attrs.frozen
class OutputFile:
    """One output file of a task: ``content`` is served by the CDN, ``file_type`` reported."""

    node_id: str = attrs.field(converter=str)
    file_type: str
    content: bytes | str
    name: str | None = None


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
    outputs: tuple[OutputFile, ...] | None = attrs.field(
        default=None, converter=lambda v: None if v is None else tuple(v)
    )
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


@attrs.define
class _Rule:
    path: str
    remaining: int
    respond: Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _envelope(code: int = 0, data: Any = None, msg: str | None = None) -> web.Response:
    name = CODE_NAMES.get(code, "") if msg is None else msg
    return web.json_response({"code": code, "msg": name, "data": data})


def _error(code: int) -> web.Response:
    return _envelope(code)


def _multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a ``multipart/form-data`` body: name -> (filename, bytes)."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        return {}
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            disposition[key.strip()] = value.strip()
        name = disposition.get_param("name", header="Content-Disposition")
        if isinstance(name, str):
            filename = disposition.get_param("filename", header="Content-Disposition")
            fields[name] = (filename if isinstance(filename, str) else None, data[:-2])
    return fields


def _text_output(graph: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """What a text output node shows: its literal input, or the first text of the linked node."""
    value = next(iter((node.get("inputs") or {}).values()), "")
    if isinstance(value, list) and len(value) == 2:
        source = graph.get(str(value[0])) or {}
        texts = [v for v in (source.get("inputs") or {}).values() if isinstance(v, str)]
        return texts[0] if texts else ""
    return str(value)


class FakeRunningHub(BackgroundServer):
    """A fake RunningHub: the task API on one port, output files on a CDN port.

    ``api_key`` is the one valid key (``key_errors`` maps other keys to the code they get, e.g.
    ``{"free": 801}``; any other key gets 802). ``queue_time``/``run_time`` are the default task
    phases in seconds; ``concurrency`` caps unfinished tasks (421), ``coins`` the tasks that can
    be paid (``task_cost`` each, 812). ``numeric_ids`` sends task and node ids as JSON numbers.
    """

    name = "RunningHub"

    def __init__(
        self,
        api_key: str = "rh-test-key",
        *,
        queue_time: float = 0.0,
        run_time: float = 0.05,
        max_upload_size: int = 30 * 1024 * 1024,
        concurrency: int | None = None,
        coins: int | None = None,
        task_cost: int = 1,
        key_errors: Mapping[str, int] | None = None,
        numeric_ids: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        cdn_port: int = 0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.queue_time, self.run_time = queue_time, run_time
        self.max_upload_size = max_upload_size
        self.concurrency, self.coins, self.task_cost = concurrency, coins, task_cost
        self.key_errors = dict(key_errors or {})
        self.numeric_ids = numeric_ids
        self.host = host
        self._ports = (port, cdn_port)
        self._lock = threading.Lock()
        self._workflows: dict[str, dict[str, Any]] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._uploads: dict[str, bytes] = {}
        self._cdn_files: dict[str, tuple[bytes, float | None]] = {}
        self._scripts: list[tuple[TaskScript, Match | None]] = []
        self._rules: list[_Rule] = []
        self._requests: deque[RecordedRequest] = deque(maxlen=MAX_REQUESTS)
        self._cdn_requests: deque[RecordedRequest] = deque(maxlen=MAX_REQUESTS)
        self._workflow_ids = itertools.count(FIRST_WORKFLOW_ID)
        self._task_ids = itertools.count(FIRST_TASK_ID)
        self._file_numbers = itertools.count(1)
        self._bound: tuple[int, int] | None = None
        self._runners: list[web.AppRunner] = []

    # ------------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        api = web.Application(
            client_max_size=self.max_upload_size + 1024 * 1024, middlewares=[self._middleware]
        )
        for path, handler in (
            ("/api/openapi/getJsonApiFormat", self._get_workflow),
            ("/task/openapi/create", self._create),
            ("/task/openapi/status", self._status),
            ("/task/openapi/outputs", self._outputs),
            ("/task/openapi/cancel", self._cancel),
            ("/task/openapi/upload", self._upload),
        ):
            api.router.add_post(path, handler)
        cdn = web.Application(middlewares=[self._cdn_middleware])
        cdn.router.add_get("/files/{name:.+}", self._cdn_file)
        ports = []
        for app, port in zip((api, cdn), self._ports, strict=True):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            self._runners.append(runner)
            await web.TCPSite(runner, self.host, port).start()
            ports.append(runner.addresses[0][1])
        self._bound = (ports[0], ports[1])

    async def shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    # ---------------------------------------------------------------- public API

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self._port(0)}"

    @property
    def cdn_url(self) -> str:
        """Base URL of the CDN port (output files, test media)."""
        return f"http://{self.host}:{self._port(1)}"

    def _port(self, index: int) -> int:
        if self._bound is None:
            raise RuntimeError("the server is not started")
        return self._bound[index]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request to the API port (the last 10000)."""
        with self._lock:
            return list(self._requests)

    @property
    def cdn_requests(self) -> list[RecordedRequest]:
        """Every request to the CDN port (the last 10000)."""
        with self._lock:
            return list(self._cdn_requests)

    @property
    def tasks(self) -> dict[str, TaskRecord]:
        """Snapshot of task id -> record (the records stay live)."""
        with self._lock:
            return dict(self._tasks)

    @property
    def uploads(self) -> dict[str, bytes]:
        """Uploaded files by the ``fileName`` the fake gave them."""
        with self._lock:
            return dict(self._uploads)

    def add_workflow(self, graph: Mapping[str, Any], workflow_id: str | None = None) -> str:
        """Store an API-format workflow; return its (19-digit) id."""
        workflow_id = workflow_id or str(next(self._workflow_ids))
        with self._lock:
            self._workflows[workflow_id] = json.loads(json.dumps(graph))
        return workflow_id

    def script(self, script: TaskScript, match: Match | None = None) -> None:
        """Apply ``script`` to the next created task (FIFO), or the next one ``match`` accepts.

        ``match`` receives the create request's JSON body.
        """
        with self._lock:
            self._scripts.append((script, match))

    def respond(
        self, path: str, code: int, msg: str | None = None, data: Any = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with a ``code`` envelope (no effect)."""

        async def reply(request: web.Request, handler: Handler) -> web.StreamResponse:
            return _envelope(code, data, msg)

        self._add_rule(path, times, reply)

    def fail_requests(
        self,
        path: str,
        status: int = 503,
        times: int = 1,
        body: str | bytes | dict[str, Any] | None = None,
        *,
        process: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with HTTP ``status`` and ``body``.

        A 200 with a ``body`` is a malformed reply (non-JSON text, an object without the
        envelope); a 307 with a ``Location`` in ``headers`` a redirect. ``process=True`` lets
        the request take effect first (e.g. the task is created), so the client cannot tell
        whether it did.
        """

        async def reply(request: web.Request, handler: Handler) -> web.StreamResponse:
            if process:
                await handler(request)
            if isinstance(body, dict):
                return web.json_response(body, status=status, headers=headers)
            content = body if body is not None else f"{status}: {HTTPStatus(status).phrase}"
            if isinstance(content, str):
                content = content.encode()
            return web.Response(status=status, body=content, headers=headers)

        self._add_rule(path, times, reply)

    def delay_requests(self, path: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` take effect at once but are answered late."""

        async def reply(request: web.Request, handler: Handler) -> web.StreamResponse:
            response = await handler(request)
            await asyncio.sleep(seconds)
            return response

        self._add_rule(path, times, reply)

    def add_cdn_file(self, name: str, content: bytes) -> str:
        """Serve ``content`` from the CDN port; return its URL (e.g. media to upload from)."""
        with self._lock:
            self._cdn_files[name] = (content, None)
        return f"{self.cdn_url}/files/{name}"

    def expire_outputs(self) -> None:
        """Make every output URL expired (the CDN answers 403), as after ~24 h."""
        with self._lock:
            for name, (content, expires) in self._cdn_files.items():
                if expires is not None:
                    self._cdn_files[name] = (content, 0.0)

    def _add_rule(
        self,
        path: str,
        times: int,
        respond: Callable[[web.Request, Handler], Awaitable[web.StreamResponse]],
    ) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._rules.append(_Rule("/" + path.lstrip("/"), times, respond))

    # ------------------------------------------------------------ HTTP plumbing

    async def _record(self, request: web.Request, into: deque[RecordedRequest]) -> None:
        body = await request.read()
        record = RecordedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        with self._lock:
            into.append(record)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self._record(request, self._requests)
        with self._lock:
            rule = next((r for r in self._rules if r.path == request.path), None)
            if rule is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
        if rule is not None:
            return await rule.respond(request, handler)
        return await handler(request)

    @web.middleware
    async def _cdn_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self._record(request, self._cdn_requests)
        return await handler(request)

    async def _json(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _refused(self, key: Any) -> web.Response | None:
        """The error envelope for a key that may not use the API, else ``None``."""
        if isinstance(key, str) and key in self.key_errors:
            return _error(self.key_errors[key])
        return None if key == self.api_key else _error(802)

    def _id(self, value: str) -> str | int:
        return int(value) if self.numeric_ids and value.isdigit() else value

    # ------------------------------------------------------------------ endpoints

    async def _get_workflow(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if body is None:
            return _error(301)
        refused = self._refused(body.get("apiKey"))
        if refused is not None:
            return refused
        with self._lock:
            graph = self._workflows.get(str(body.get("workflowId")))
        if graph is None:
            return _error(380)
        return _envelope(data={"prompt": json.dumps(graph)})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        if body is None or "workflowId" not in body:
            return _error(301)
        refused = self._refused(body.get("apiKey"))
        if refused is not None:
            return refused
        workflow_id = str(body["workflowId"])
        with self._lock:
            graph = self._workflows.get(workflow_id)
        if graph is None:
            return _error(380)
        node_info = body.get("nodeInfoList", [])
        graph = self._overridden(graph, node_info)
        if graph is None:
            return _error(803)
        with self._lock:
            now = time.monotonic()
            busy = sum(1 for t in self._tasks.values() if t.state(now) in ("QUEUED", "RUNNING"))
            if self.concurrency is not None and busy >= self.concurrency:
                return _error(421)
            if self.coins is not None:
                if self.coins < self.task_cost:
                    return _error(812)
                self.coins -= self.task_cost
            entry = next((e for e in self._scripts if e[1] is None or e[1](body)), None)
            if entry is not None:
                self._scripts.remove(entry)
            script = entry[0] if entry else TaskScript()
            task = TaskRecord(
                task_id=str(next(self._task_ids)),
                workflow_id=workflow_id,
                node_info_list=node_info,
                instance_type=body.get("instanceType"),
                webhook_url=body.get("webhookUrl"),
                created_at=now,
                queue_time=self.queue_time if script.queue_time is None else script.queue_time,
                run_time=self.run_time if script.run_time is None else script.run_time,
                script=script,
            )
            self._tasks[task.task_id] = task
        task.outputs = self._make_outputs(task, graph)
        tips = {
            "result": True,
            "error": None,
            "outputs_to_execute": [n for n, v in graph.items() if v["class_type"] in OUTPUT_TYPES],
            "node_errors": script.node_errors or {},
        }
        return _envelope(
            data={
                "taskId": self._id(task.task_id),
                "taskStatus": task.state(),
                "clientId": uuid.uuid4().hex,
                "netWssUrl": None,
                "promptTips": json.dumps(tips),
            }
        )

    @staticmethod
    def _overridden(graph: dict[str, Any], node_info: Any) -> dict[str, Any] | None:
        """The graph with ``nodeInfoList`` applied, or ``None`` when it does not match (803)."""
        if not isinstance(node_info, list):
            return None
        graph = json.loads(json.dumps(graph))
        for entry in node_info:
            if not isinstance(entry, dict) or set(entry) != NODE_INFO_KEYS:
                return None  # RunningHub refuses extra keys
            inputs = (graph.get(str(entry["nodeId"])) or {}).get("inputs")
            if not isinstance(inputs, dict) or entry["fieldName"] not in inputs:
                return None
            inputs[entry["fieldName"]] = entry["fieldValue"]
        return graph

    def _make_outputs(self, task: TaskRecord, graph: dict[str, Any]) -> list[dict[str, Any]]:
        """The outputs reply items; their files go to the CDN, expiring after a day."""
        files = task.script.outputs
        if files is None:
            files = tuple(
                self._default_output(graph, n) for n in graph if self._is_output(graph, n)
            )
        items = []
        for file in files:
            number = next(self._file_numbers)
            name = file.name or f"ComfyUI_{number:05d}_.{file.file_type}"
            content = file.content.encode() if isinstance(file.content, str) else file.content
            path = f"{uuid.uuid4().hex[:12]}/output/{name}"
            with self._lock:
                self._cdn_files[path] = (content, time.time() + 86400)
            items.append(
                {
                    "fileUrl": f"{self.cdn_url}/files/{path}?Expires={int(time.time()) + 86400}",
                    "fileType": file.file_type,
                    "taskCostTime": str(round(task.queue_time + task.run_time)),
                    "nodeId": self._id(file.node_id),
                    "consumeCoins": str(self.task_cost),
                    "consumeMoney": None,
                    "thirdPartyConsumeMoney": None,
                }
            )
        return items

    @staticmethod
    def _is_output(graph: dict[str, Any], node_id: str) -> bool:
        return graph[node_id].get("class_type") in OUTPUT_TYPES

    @staticmethod
    def _default_output(graph: dict[str, Any], node_id: str) -> OutputFile:
        node = graph[node_id]
        file_type = OUTPUT_TYPES[node["class_type"]]
        content = {
            "png": lambda: _media.png(8, 8, (30, 144, 255)),
            "mp4": _media.mp4,
            "flac": _media.flac,
            "txt": lambda: _text_output(graph, node).encode(),
        }[file_type]()
        return OutputFile(node_id, file_type, content)

    def _task(self, body: dict[str, Any] | None) -> TaskRecord | web.Response:
        if body is None or "taskId" not in body:
            return _error(301)
        refused = self._refused(body.get("apiKey"))
        if refused is not None:
            return refused
        with self._lock:
            task = self._tasks.get(str(body["taskId"]))
        return task if task is not None else _error(807)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        task = self._task(await self._json(request))
        if not isinstance(task, TaskRecord):
            return task
        state = task.state()
        if state in ("QUEUED", "RUNNING") and task.script.status_text is not None:
            return _envelope(data=task.script.status_text)
        return _envelope(data=state)

    async def _outputs(self, request: web.Request) -> web.StreamResponse:
        task = self._task(await self._json(request))
        if not isinstance(task, TaskRecord):
            return task
        state = task.state()
        if state == "QUEUED":
            return _error(813)
        if state == "RUNNING":
            return _error(804)
        if state == "FAILED":
            reason = "task cancelled by the user" if task.cancelled else task.script.failed_reason
            return _envelope(805, {"failedReason": reason})
        return _envelope(data=task.outputs)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        task = self._task(await self._json(request))
        if not isinstance(task, TaskRecord):
            return task
        if task.state() in ("QUEUED", "RUNNING"):
            task.cancelled = True
        return _envelope()

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        form = _multipart(await request.read(), request.headers.get("Content-Type", ""))
        refused = self._refused(form.get("apiKey", (None, b""))[1].decode("utf-8", "replace"))
        if refused is not None:
            return refused
        filename, content = form.get("file", (None, b""))
        if not filename:
            return _error(301)
        if len(content) > self.max_upload_size:
            return _error(809)
        suffix = Path(filename).suffix.lower()
        name = f"api/{hashlib.sha256(content).hexdigest()}{suffix}"
        with self._lock:
            self._uploads[name] = content
        return _envelope(data={"fileName": name, "fileType": "input"})

    async def _cdn_file(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            found = self._cdn_files.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="NoSuchKey")
        content, expires = found
        if expires is not None and expires < time.time():
            return web.Response(status=403, text="AccessDenied: Request has expired")
        return web.Response(body=content, content_type="application/octet-stream")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM/SIGINT; the URL is the first stdout line."""
    parser = cli_parser(
        "comfykit_sync.testing.fake_runninghub",
        "Run a fake RunningHub API (and its output CDN on a second port).",
    )
    parser.add_argument("--api-key", default="rh-test-key", help="the one valid API key")
    parser.add_argument("--queue-time", type=float, default=0.0, help="seconds a task is queued")
    parser.add_argument("--run-time", type=float, default=1.0, help="seconds a task runs")
    parser.add_argument(
        "--workflow",
        action="append",
        type=Path,
        help="API-format workflow file to serve (repeatable; default: the bundled examples)",
    )
    args = parser.parse_args(argv)
    server = FakeRunningHub(
        args.api_key,
        queue_time=args.queue_time,
        run_time=args.run_time,
        host=args.host,
        port=args.port,
    )

    def announce() -> None:
        print(server.url, flush=True)
        for path in args.workflow or sorted(WORKFLOWS.glob("*.json")):
            print(server.add_workflow(json.loads(path.read_text())), path, flush=True)

    server.serve_until_signalled(announce)
    return 0


if __name__ == "__main__":
    sys.exit(main())
