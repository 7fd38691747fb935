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
:meth:`~FakeRunningHub.respond` for any code on any endpoint. Faults are the ones every fake
has (:mod:`comfykit_sync.testing.faults`: :meth:`~FakeRunningHub.fault`,
:meth:`~FakeRunningHub.fail_requests`, ...), plus :meth:`~FakeRunningHub.delay_requests` and
:meth:`~FakeRunningHub.expire_outputs`.

Run it in its own process (prints its URL first, then ``<workflow id> <file>`` per workflow)::

    python -m comfykit_sync.testing.fake_runninghub --api-key KEY [--workflow FILE ...]

The parts live in ``comfykit_sync/testing/_runninghub/``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ._runninghub.api import RunningHubApi
from ._runninghub.cdn import Cdn
from ._runninghub.outputs import OutputPublisher
from ._runninghub.records import OutputFile, RecordedRequest, RequestLog, TaskRecord, TaskScript
from ._runninghub.tasks import Match, Workspace
from ._runninghub.wire import CODE_NAMES, envelope_body
from .background import BackgroundServer, cli_parser
from .faults import FaultInjection

__all__ = [
    "CODE_NAMES",
    "FakeRunningHub",
    "OutputFile",
    "RecordedRequest",
    "TaskRecord",
    "TaskScript",
    "main",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WORKFLOWS = Path(__file__).parent / "workflows"


class FakeRunningHub(FaultInjection, BackgroundServer):
    """A fake RunningHub: the task API on one port, output files on a CDN port.

    ``api_key`` is the one valid key (``key_errors`` maps other keys to the code they get, e.g.
    ``{"free": 801}``; any other key gets 802). ``queue_time``/``run_time`` are the default task
    phases in seconds; ``concurrency`` caps unfinished tasks (421), ``coins`` the tasks that can
    be paid (``task_cost`` each, 812). ``numeric_ids`` sends task and node ids as JSON numbers.
    Every setting may be changed while the server runs.
    """

    name = "RunningHub"
    default_fault_path = "/task/openapi/create"

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
        self._workspace = Workspace()
        self._cdn = Cdn()
        self._api = RunningHubApi(
            self, self._workspace, OutputPublisher(self._cdn), lambda: self.cdn_url
        )
        self._requests = RequestLog()
        self._cdn_requests = RequestLog()
        self._bound: tuple[int, int] | None = None
        self._runners: list[web.AppRunner] = []

    # ------------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        api = web.Application(
            client_max_size=self.max_upload_size + 1024 * 1024, middlewares=[self._middleware]
        )
        self._api.add_routes(api)
        cdn = web.Application(middlewares=[self._cdn_middleware])
        cdn.router.add_get("/files/{name:.+}", self._cdn.serve)
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
        return self._requests.snapshot()

    @property
    def cdn_requests(self) -> list[RecordedRequest]:
        """Every request to the CDN port (the last 10000)."""
        return self._cdn_requests.snapshot()

    @property
    def tasks(self) -> dict[str, TaskRecord]:
        """Snapshot of task id -> record (the records stay live)."""
        return self._workspace.tasks()

    @property
    def uploads(self) -> dict[str, bytes]:
        """Uploaded files by the ``fileName`` the fake gave them."""
        return self._workspace.uploads()

    def add_workflow(self, graph: Mapping[str, Any], workflow_id: str | None = None) -> str:
        """Store an API-format workflow; return its (19-digit) id."""
        return self._workspace.add_workflow(graph, workflow_id)

    def script(self, script: TaskScript, match: Match | None = None) -> None:
        """Apply ``script`` to the next created task (FIFO), or the next one ``match`` accepts.

        ``match`` receives the create request's JSON body.
        """
        self._workspace.add_script(script, match)

    def respond(
        self, path: str, code: int, msg: str | None = None, data: Any = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with a ``code`` envelope (no effect)."""
        self.fault("status", path, times, status=200, body=envelope_body(code, data, msg))

    def delay_requests(self, path: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` take effect at once but are answered late."""
        self.fault("delay", path, times, seconds=seconds)

    def add_cdn_file(self, name: str, content: bytes) -> str:
        """Serve ``content`` from the CDN port; return its URL (e.g. media to upload from)."""
        return self.cdn_url + self._cdn.add(name, content)

    def expire_outputs(self) -> None:
        """Make every output URL expired (the CDN answers 403), as after ~24 h."""
        self._cdn.expire_outputs()

    # ------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self._requests.record(request)
        fault = self.take_fault(request.path)
        if fault is not None:
            return await fault.reply(request, handler)
        return await handler(request)

    @web.middleware
    async def _cdn_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self._cdn_requests.record(request)
        return await handler(request)


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
