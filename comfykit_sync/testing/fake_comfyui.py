"""A protocol-faithful fake ComfyUI server for tests and benchmarks.

HTTP and the ``/ws`` WebSocket share one port (every route also under
``/api``); the asyncio loop runs in a background daemon thread::

    with FakeComfyUI(duration=0.2) as server:
        server.script(Script(error_node="3"))
        requests.post(server.url + "/prompt", json={"prompt": graph})

Servers of a pool differ: ``missing_nodes`` leaves custom nodes out, ``checkpoints`` sets
the model files its checkpoint loader lists, and ``version`` plays ComfyUI 0.3.64 (the
default) or a newer server with the ``/api/jobs`` routes::

    FakeComfyUI(version="0.38.1", missing_nodes=["VHS_VideoCombine"], checkpoints=["a.ckpt"])

Run it in its own process (prints its URL as the first stdout line)::

    python -m comfykit_sync.testing.fake_comfyui --port 0 --workers 1 --duration 0.5
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from . import _files, _jobs, _media
from ._folders import Folders
from ._nodes import server_catalogue
from ._queue import PromptQueue
from ._records import PromptRecord, RequestRecord, Script
from ._validation import validate_prompt
from ._ws import Hub
from .background import SHUTDOWN_TIMEOUT, BackgroundServer, cli_parser
from .faults import FaultInjection, status_text

__all__ = ["FakeComfyUI", "PromptRecord", "RequestRecord", "Script", "main"]

COMFYUI_VERSION = "0.3.64"
#: the first version whose fake has the ``/api/jobs`` routes (``--version`` / ``version=``)
JOBS_API_VERSION = (0, 38)
MAX_REQUESTS = 10000

Match = Callable[[dict[str, Any]], bool]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _server_error() -> web.Response:
    """What aiohttp answers when a handler raises (e.g. on a body that is not JSON)."""
    return web.Response(
        status=500, text="500 Internal Server Error\n\nServer got itself in trouble"
    )


async def _json_body(request: web.Request) -> Any:
    """The JSON body; ValueError when it is not JSON (the caller answers 500)."""
    return json.loads(await request.text())


def _api_path(path: str) -> str:
    """``/api/prompt`` -> ``/prompt``."""
    return path[4:] if path.startswith("/api/") else path


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise ValueError(f"version must look like 0.3.64, got {version!r}") from None


def _canonical_uuid(value: object) -> bool:
    """ComfyUI's ``validate_job_id``: a string in canonical lowercase hyphenated UUID form."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FakeComfyUI(FaultInjection, BackgroundServer):
    """A fake ComfyUI server: real HTTP + WebSocket on 127.0.0.1, fake nodes.

    ``workers`` prompts run at once (real ComfyUI: 1); ``duration`` seconds is
    the default execution time of a prompt (settable at any time);
    ``cache`` enables ComfyUI's node output cache; ``previews`` sends binary
    preview frames during sampler steps; ``max_upload_size`` (bytes) caps
    request bodies (413). ``host``/``port`` choose the bind address (port 0:
    any free port, read back in :attr:`port`).

    ``version`` is the ComfyUI version played: from 0.38 on, the server has the
    ``/api/jobs`` routes (list, one job, cancel), more ``/features`` and refuses a
    client ``prompt_id`` that is not a canonical UUID. ``missing_nodes`` are
    node classes this server lacks; ``checkpoints`` the files its
    ``CheckpointLoaderSimple`` lists (default: the catalogue's).

    Faults: :meth:`fault`, :meth:`fail_requests` and :meth:`clear_faults` (shared by every
    fake, see :mod:`comfykit_sync.testing.faults`; paths with or without ``/api``); connection
    refused is :meth:`stop` (or any closed port); a server that accepts connections and never
    answers is :meth:`freeze`; a restart is :meth:`forget_all`; a WebSocket drop, late history,
    huge frames and odd output keys are :class:`Script` fields.
    """

    name = "ComfyUI"
    default_fault_path = "/prompt"

    def __init__(
        self,
        workers: int = 1,
        duration: float = 0.0,
        cache: bool = True,
        max_upload_size: int = 100 * 1024 * 1024,
        previews: bool = False,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = COMFYUI_VERSION,
        missing_nodes: Collection[str] = (),
        checkpoints: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.version = version
        self._jobs_api = _version_tuple(version) >= JOBS_API_VERSION
        self._catalogue = server_catalogue(missing_nodes, checkpoints)
        self.max_upload_size = max_upload_size
        self.host = host
        self._requested_port = port
        root = Path(tempfile.mkdtemp(prefix="fake-comfyui-")).resolve()
        self._cleanup_root = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        self._folders = Folders(root)
        (self._folders.input / "example.png").write_bytes(_media.png(64, 64, (200, 120, 40)))
        self._hub = Hub()
        self._queue = PromptQueue(
            self._folders,
            self._hub,
            workers=workers,
            duration=duration,
            cache=cache,
            previews=previews,
        )
        self._lock = threading.Lock()
        self._scripts: list[tuple[Script, Match | None]] = []
        self._prompts: dict[str, PromptRecord] = {}
        self._requests: deque[RequestRecord] = deque(maxlen=MAX_REQUESTS)
        self._port: int | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Stop serving: cancel jobs, close sockets, remove the temp dir. Idempotent."""
        super().stop()
        self._cleanup_root()

    async def startup(self) -> None:
        app = web.Application(client_max_size=self.max_upload_size, middlewares=[self._middleware])
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def shutdown(self) -> None:
        await self._queue.close()
        self._hub.abort_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---------------------------------------------------------------- public API

    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8188``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL, e.g. ``ws://127.0.0.1:8188/ws``."""
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def duration(self) -> float:
        """Default execution time of a prompt in seconds (settable at any time)."""
        return self._queue.duration

    @duration.setter
    def duration(self, seconds: float) -> None:
        self._queue.duration = seconds

    @property
    def input_dir(self) -> Path:
        return self._folders.input

    @property
    def output_dir(self) -> Path:
        return self._folders.output

    @property
    def temp_dir(self) -> Path:
        return self._folders.temp

    @property
    def prompts(self) -> dict[str, PromptRecord]:
        """Snapshot of prompt id -> record (the records themselves stay live)."""
        with self._lock:
            return dict(self._prompts)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every HTTP request and WebSocket handshake seen (the last 10000)."""
        with self._lock:
            return list(self._requests)

    def script(self, script: Script, match: Match | None = None) -> None:
        """Apply ``script`` to the next queued prompt (FIFO), or the next one ``match`` accepts.

        A script waits for a prompt that passes validation, except one with
        ``submit_status``, which answers the very next matching submission.
        """
        with self._lock:
            self._scripts.append((script, match))

    def fault_path(self, path: str) -> str:
        """``prompt``, ``/prompt`` and ``/api/prompt`` all name ``/prompt``."""
        return _api_path(super().fault_path(path))

    def forget_all(self) -> None:
        """Simulate a restart: queue, history, cache and sockets are gone; jobs become "lost"."""
        self.run_coroutine(self._queue.forget(), SHUTDOWN_TIMEOUT)

    # ------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record the request, apply scripted failures and ComfyUI's origin check."""
        record = RequestRecord(
            request.method, request.path, dict(request.query), dict(request.headers)
        )
        with self._lock:
            self._requests.append(record)
        fault = self.take_fault(_api_path(request.path))
        if fault is not None:
            return await fault.reply(request, handler)
        if self._origin_mismatch(request):
            return web.Response(status=403)
        return await handler(request)

    @staticmethod
    def _origin_mismatch(request: web.Request) -> bool:
        """ComfyUI's ``origin_only_middleware``: loopback Host must match Origin."""
        host_header = request.headers.get("Host", "").lower()
        origin_header = request.headers.get("Origin", "")
        if not host_header or not origin_header:
            return False
        origin = urllib.parse.urlparse(origin_header)
        host = urllib.parse.urlsplit("//" + host_header)
        host_domain: str | None = host_header
        origin_domain: str | None = origin.netloc.lower()
        if origin.port is None:
            host_domain = host.hostname
        if host.port is None:
            origin_domain = origin.hostname
        return bool(
            _is_loopback(host.hostname)
            and host_domain
            and origin_domain
            and host_domain != origin_domain
        )

    def _add_routes(self, app: web.Application) -> None:
        api: list[tuple[str, str, Handler]] = [
            ("GET", "/ws", self._websocket),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/prompt", self._get_prompt),
            ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue),
            ("POST", "/interrupt", self._post_interrupt),
            ("GET", "/history", self._get_history),
            ("GET", "/history/{prompt_id}", self._get_history_item),
            ("POST", "/history", self._post_history),
            ("POST", "/upload/image", self._upload_image),
            ("GET", "/view", self._view),
            ("GET", "/object_info", self._object_info),
            ("GET", "/object_info/{node_class}", self._object_info_node),
            ("GET", "/system_stats", self._system_stats),
            ("GET", "/features", self._features),
            ("POST", "/free", self._post_free),
        ]
        for method, path, handler in api:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/api" + path, handler)
        if self._jobs_api:
            app.router.add_get("/api/jobs", self._get_jobs)
            app.router.add_get("/api/jobs/{job_id}", self._get_job)
            app.router.add_post("/api/jobs/cancel", self._cancel_jobs)
            app.router.add_post("/api/jobs/{job_id}/cancel", self._cancel_job)
        app.router.add_post("/_fake/config", self._fake_config)
        app.router.add_post("/_fake/script", self._fake_script)
        app.router.add_get("/_fake/prompts/{prompt_id}", self._fake_prompt)
        app.router.add_post("/_fake/forget", self._fake_forget)

    # ---------------------------------------------------------------- WebSocket

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        sid = request.query.get("clientId", "") or uuid.uuid4().hex
        connection = self._hub.connect(sid, ws, request.transport)
        try:
            status = {"status": self._queue.info(), "sid": sid}
            self._hub.send(sid, {"type": "status", "data": status})
            for job in self._queue.running():
                if job.client_id == sid and job.last_node is not None:
                    self._hub.send(sid, {"type": "executing", "data": {"node": job.last_node}})
            first = True
            async for message in ws:
                if message.type is not web.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    continue
                if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                    flags = data.get("data")
                    connection.flags = flags if isinstance(flags, dict) else {}
                    self._hub.send(sid, {"type": "feature_flags", "data": self._server_features()})
                first = False
        finally:
            self._hub.disconnect(connection)
        return ws

    def _server_features(self) -> dict[str, Any]:
        features: dict[str, Any] = {
            "supports_preview_metadata": True,
            "max_upload_size": self.max_upload_size,
        }
        if self._jobs_api:
            features |= {
                "supports_model_type_tags": True,
                "node_replacements": True,
                "assets": False,
                "extension": {"manager": {"supports_v4": True}},
            }
        return features

    # ------------------------------------------------------------------- prompts

    def _find_script(self, graph: dict[str, Any]) -> tuple[Script, Match | None] | None:
        with self._lock:
            entries = list(self._scripts)
        return next((e for e in entries if e[1] is None or e[1](graph)), None)

    def _consume_script(self, entry: tuple[Script, Match | None]) -> None:
        with self._lock:
            self._scripts = [e for e in self._scripts if e is not entry]

    def _count_rejected(self, prompt_id: str | None) -> None:
        """Count a refused ``POST /prompt`` carrying a client-chosen ``prompt_id``."""
        if prompt_id is None:
            return
        with self._lock:
            record = self._prompts.get(prompt_id)
            if record is not None:
                record.submit_count += 1
            else:
                self._prompts[prompt_id] = PromptRecord(
                    prompt_id=prompt_id,
                    graph={},
                    client_id=None,
                    extra_data={},
                    submitted_at=time.time(),
                    status="rejected",
                )

    def _record_accepted(
        self, prompt_id: str, graph: dict[str, Any], extra_data: dict[str, Any], number: float
    ) -> PromptRecord:
        """Create or (for a reused id) update the record of a queued prompt."""
        with self._lock:
            record = self._prompts.get(prompt_id)
            if record is None:
                record = PromptRecord(
                    prompt_id=prompt_id,
                    graph=graph,
                    client_id=None,
                    extra_data=extra_data,
                    submitted_at=time.time(),
                    submit_count=0,
                )
                self._prompts[prompt_id] = record
            record.submit_count += 1
            record.graph = graph
            record.client_id = extra_data.get("client_id")
            record.extra_data = extra_data
            record.number = number
            record.submitted_at = time.time()
            record.started_at = record.finished_at = None
            record.status = "pending"
            return record

    async def _post_prompt(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            explicit = float(body["number"]) if "number" in body else None
        except (ValueError, TypeError):
            return _server_error()
        number = self._queue.next_number(bool(body.get("front"))) if explicit is None else explicit
        if "prompt" not in body:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        client_prompt_id = body.get("prompt_id")
        checked_id = self._jobs_api and client_prompt_id is not None
        if checked_id and not _canonical_uuid(client_prompt_id):
            error = {
                "type": "invalid_prompt_id",
                "message": "prompt_id must be a valid UUID",
                "details": "prompt_id must be a UUID string in canonical lowercase hyphenated "
                "form; omit it to let the server generate one",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt_id = str(client_prompt_id) if client_prompt_id is not None else str(uuid.uuid4())
        counted_id = prompt_id if client_prompt_id is not None else None
        graph = body["prompt"]
        extra_data = body.get("extra_data", {})
        if not isinstance(extra_data, dict):
            return _server_error()
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        scripted = self._find_script(graph) if isinstance(graph, dict) else None
        if scripted is not None and scripted[0].submit_status is not None:
            self._consume_script(scripted)
            self._count_rejected(counted_id)
            status = scripted[0].submit_status
            return web.Response(status=status, text=status_text(status))
        try:
            validation = validate_prompt(
                graph, self._folders, body.get("partial_execution_targets"), self._catalogue
            )
        except TypeError:
            return _server_error()
        if validation.error is not None:
            self._count_rejected(counted_id)
            payload = {"error": validation.error, "node_errors": validation.node_errors}
            return web.json_response(payload, status=400)
        if scripted is not None:
            self._consume_script(scripted)
        if self._jobs_api:
            extra_data["create_time"] = int(time.time() * 1000)
        self._queue.put(
            number=number,
            prompt_id=prompt_id,
            graph=graph,
            extra_data=extra_data,
            outputs=validation.outputs,
            script=scripted[0] if scripted else Script(),
            record=self._record_accepted(prompt_id, graph, extra_data, number),
        )
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": validation.node_errors}
        )

    async def _get_prompt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._queue.info())

    async def _get_queue(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "queue_running": [job.queue_item() for job in self._queue.running()],
                "queue_pending": [job.queue_item() for job in self._queue.pending()],
            }
        )

    async def _post_queue(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _json_body(request)
            if body.get("clear"):
                self._queue.clear()
            for prompt_id in body.get("delete", []):
                self._queue.delete(prompt_id)
        except (ValueError, TypeError, AttributeError):
            return _server_error()
        return web.Response()

    async def _post_interrupt(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _json_body(request)
        except ValueError:
            body = {}
        self._queue.interrupt(body.get("prompt_id") if isinstance(body, dict) else None)
        return web.Response()

    async def _get_history(self, request: web.Request) -> web.StreamResponse:
        try:
            max_items = int(request.query["max_items"]) if "max_items" in request.query else None
            offset = int(request.query["offset"]) if "offset" in request.query else -1
        except ValueError:
            return _server_error()
        return web.json_response(self._queue.history_page(max_items, offset))

    async def _get_history_item(self, request: web.Request) -> web.StreamResponse:
        prompt_id = request.match_info["prompt_id"]
        entry = self._queue.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def _post_history(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _json_body(request)
            if body.get("clear"):
                self._queue.history.clear()
            for prompt_id in body.get("delete", []):
                self._queue.history.pop(prompt_id, None)
        except (ValueError, TypeError, AttributeError):
            return _server_error()
        return web.Response()

    # ------------------------------------------------------------ files and info

    async def _upload_image(self, request: web.Request) -> web.StreamResponse:
        return await _files.upload(request, self._folders, self.max_upload_size)

    async def _view(self, request: web.Request) -> web.StreamResponse:
        return _files.view(request, self._folders)

    async def _object_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {name: node.object_info(self._folders) for name, node in self._catalogue.items()}
        )

    async def _object_info_node(self, request: web.Request) -> web.StreamResponse:
        node = self._catalogue.get(request.match_info["node_class"])
        return web.json_response({node.name: node.object_info(self._folders)} if node else {})

    async def _system_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "system": {
                    "os": sys.platform,
                    "ram_total": 17179869184,
                    "ram_free": 8589934592,
                    "comfyui_version": self.version,
                    "required_frontend_version": "1.27.10",
                    "python_version": sys.version,
                    "pytorch_version": "2.8.0+cpu",
                    "embedded_python": False,
                    "argv": ["main.py"],
                },
                "devices": [
                    {
                        "name": "cpu",
                        "type": "cpu",
                        "index": None,
                        "vram_total": 17179869184,
                        "vram_free": 8589934592,
                        "torch_vram_total": 17179869184,
                        "torch_vram_free": 8589934592,
                    }
                ],
            }
        )

    async def _features(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._server_features())

    async def _post_free(self, request: web.Request) -> web.StreamResponse:
        try:
            await _json_body(request)
        except ValueError:
            return _server_error()
        return web.Response()

    # ------------------------------------------------------ jobs (newer servers)

    def _queue_items(self) -> tuple[list[list[Any]], list[list[Any]]]:
        return (
            [job.queue_item() for job in self._queue.running()],
            [job.queue_item() for job in self._queue.pending()],
        )

    async def _get_jobs(self, request: web.Request) -> web.StreamResponse:
        status, body = _jobs.listing(request.query, *self._queue_items(), self._queue.history)
        return web.json_response(body, status=status)

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        job = _jobs.find(request.match_info["job_id"], *self._queue_items(), self._queue.history)
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    def _cancel(self, prompt_id: str) -> bool:
        """Interrupt if running, dequeue if pending; False for a finished or unknown id."""
        if any(job.prompt_id == prompt_id for job in self._queue.running()):
            self._queue.interrupt(prompt_id)
            return True
        if any(job.prompt_id == prompt_id for job in self._queue.pending()):
            self._queue.delete(prompt_id)
            return True
        return False

    async def _cancel_job(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"cancelled": self._cancel(request.match_info["job_id"])})

    async def _cancel_jobs(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _json_body(request)
        except ValueError:
            return web.json_response({"error": "Request body must be valid JSON"}, status=400)
        job_ids = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(job_ids, list):
            return web.json_response({"error": "job_ids must be a list"}, status=400)
        invalid = [j if isinstance(j, str) else repr(j) for j in job_ids if not _canonical_uuid(j)]
        if invalid:
            return web.json_response(
                {"error": "job_ids contains invalid id(s)", "invalid_ids": invalid}, status=400
            )
        cancelled = [self._cancel(job_id) for job_id in job_ids]
        return web.json_response({"cancelled": any(cancelled)})

    # ------------------------------------------------------------ control API

    async def _fake_config(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await _json_body(request)
            self.duration = float(body["duration"])
        except (ValueError, TypeError, KeyError) as ex:
            return web.json_response(
                {"error": f"expected {{'duration': seconds}}: {ex}"}, status=400
            )
        return web.json_response({"duration": self.duration})

    async def _fake_script(self, request: web.Request) -> web.StreamResponse:
        try:
            script = Script(**await _json_body(request))
        except (ValueError, TypeError) as ex:
            return web.json_response({"error": f"invalid script: {ex}"}, status=400)
        self.script(script)
        return web.json_response(attrs.asdict(script))

    async def _fake_prompt(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            record = self._prompts.get(request.match_info["prompt_id"])
        if record is None:
            return web.json_response({"error": "unknown prompt id"}, status=404)
        return web.json_response(record.to_json())

    async def _fake_forget(self, request: web.Request) -> web.StreamResponse:
        await self._queue.forget()
        return web.Response()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM/SIGINT; the URL is the first stdout line."""
    parser = cli_parser("comfykit_sync.testing.fake_comfyui", "Run a fake ComfyUI server.")
    parser.add_argument("--workers", type=int, default=1, help="prompts executed at once")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds per prompt")
    parser.add_argument("--previews", action="store_true", help="send sampler preview frames")
    parser.add_argument("--no-cache", action="store_true", help="disable the node output cache")
    parser.add_argument(
        "--max-upload-mb", type=int, default=100, help="largest accepted upload body, in MB"
    )
    parser.add_argument("--version", default=COMFYUI_VERSION, help="ComfyUI version to play")
    parser.add_argument(
        "--missing-node", action="append", default=[], help="a node class this server lacks"
    )
    parser.add_argument("--checkpoints", help="comma-separated checkpoint files it lists")
    args = parser.parse_args(argv)
    server = FakeComfyUI(
        workers=args.workers,
        duration=args.duration,
        cache=not args.no_cache,
        previews=args.previews,
        max_upload_size=args.max_upload_mb * 1024 * 1024,
        host=args.host,
        port=args.port,
        version=args.version,
        missing_nodes=args.missing_node,
        checkpoints=args.checkpoints.split(",") if args.checkpoints else None,
    )
    server.serve_until_signalled(lambda: print(server.url, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
