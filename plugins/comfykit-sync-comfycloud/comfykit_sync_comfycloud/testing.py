"""A fake Comfy Cloud for tests: the cloud's API in front of the bundled fake ComfyUI.

Two ports on 127.0.0.1 in a background thread (``comfykit_sync.testing.BackgroundServer``):

* the API (:attr:`FakeComfyCloud.api_url`, use it as ``COMFY_CLOUD_URL``): ``POST /api/prompt``,
  ``GET /api/job/{id}/status``, ``GET /api/jobs/{id}``, ``GET|POST /api/queue``,
  ``POST /api/interrupt``, ``POST /api/upload/image``, ``GET /api/view`` and the ``/ws``
  socket. Every route wants the ``X-API-Key`` header (the socket: a ``token=`` query) and
  answers 401 without it. The cloud mints its own job ids (a client ``prompt_id`` is ignored),
  ``/api/interrupt`` stops every running job of the account, ``/api/view`` answers 302 with a
  signed URL on the storage port, and the socket carries every message of the account,
  whatever the ``clientId``.
* the storage (:attr:`FakeComfyCloud.storage_url`): serves the signed URLs, refuses a request
  with an ``Authorization`` header (like a bucket given two credentials) and records the rest,
  so a test can prove the API key never reaches it.

The work is done by a :class:`~comfykit_sync.testing.FakeComfyUI` (:attr:`FakeComfyCloud.comfyui`)
that the fake drives over its HTTP API: scripts, durations and failures are set there::

    with FakeComfyCloud(api_key="cc-key") as cloud:
        cloud.comfyui.script(Script(error_node="3", error_message="out of memory"))
"""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs
from aiohttp import web

from comfykit_sync.testing import BackgroundServer, FakeComfyUI, Script
from comfykit_sync.testing.faults import Body, FaultInjection

__all__ = ["CloudRequest", "FakeComfyCloud", "FakeComfyCloudControls"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: fake ComfyUI prompt status -> (status endpoint state, jobs API state)
STATES = {
    "pending": ("queued_waiting", "pending"),
    "running": ("executing", "in_progress"),
    "success": ("success", "completed"),
    "error": ("error", "failed"),
    "interrupted": ("cancelled", "cancelled"),
    "deleted": ("cancelled", "cancelled"),
    "lost": ("lost", "failed"),
}


@attrs.frozen
class CloudRequest:
    """One request seen by the API (``port="api"``) or the storage (``port="storage"``)."""

    port: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@attrs.define
class _Signed:
    filename: str
    subfolder: str
    type: str
    expires: float


def _route(path: str) -> str:
    """The route of a request path: ``/api/prompt`` -> ``prompt``, ``/api/job/<id>/status`` ->
    ``status``, ``/api/jobs/<id>`` -> ``job``, ``/ws`` -> ``ws``."""
    route = path.strip("/").removeprefix("api/").split("/")[0]
    if route in ("job", "jobs"):
        return "status" if path.endswith("/status") else "job"
    return route


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


class FakeComfyCloud(FaultInjection, BackgroundServer):
    """A fake Comfy Cloud account with API key ``api_key``.

    ``duration`` and ``workers`` go to the fake ComfyUI behind it; ``credits`` (``None``:
    unlimited) counts the jobs the account can still pay for (0: ``POST /api/prompt`` answers
    402); signed URLs expire after ``url_ttl`` seconds. Faults are those of every fake
    (``fault()``, ``fail_requests()``, ...: :mod:`comfykit_sync.testing.faults`) on a route
    (``prompt``, ``status``, ``job``, ``queue``, ``interrupt``, ``upload``, ``view``, ``ws``),
    injected after the key check.
    """

    name = "ComfyCloud"
    default_fault_path = "prompt"

    def __init__(
        self,
        api_key: str = "cc-test-key",
        *,
        duration: float = 0.05,
        workers: int = 1,
        credits: int | None = None,
        url_ttl: float = 60.0,
    ) -> None:
        super().__init__()
        self.api_key, self.credits, self.url_ttl = api_key, credits, url_ttl
        self.comfyui = FakeComfyUI(workers=workers, duration=duration)
        self.client_id = f"cloud-{uuid.uuid4().hex}"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: deque[CloudRequest] = deque(maxlen=10000)
        self._signed: dict[str, _Signed] = {}
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._relay_task: asyncio.Task[None] | None = None
        self.api_url = self.storage_url = ""

    # -- test controls ----------------------------------------------------------------------
    def fault_path(self, path: str) -> str:
        """Faults name a route: ``prompt``, ``status``, ``job``, ... (``/api/prompt`` too)."""
        return _route(path)

    def fault_body(self, status: int) -> Body:
        return {"code": "fault", "message": f"injected HTTP {status}"}

    def paths(self, port: str = "api") -> list[str]:
        """The paths requested on ``port``, in order."""
        return [r.path for r in self.requests if r.port == port]

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeComfyCloud:
        self.comfyui.start()
        try:
            return super().start()
        except BaseException:
            self.comfyui.stop()
            raise

    def stop(self) -> None:
        super().stop()
        self.comfyui.stop()

    async def startup(self) -> None:
        self._session = aiohttp.ClientSession(
            self.comfyui.url, timeout=aiohttp.ClientTimeout(total=30)
        )
        api = web.Application(
            middlewares=[self._record("api"), self._guard], client_max_size=64 * 1024 * 1024
        )
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "/api/prompt", self._prompt),
            ("GET", "/api/job/{job}/status", self._status),
            ("GET", "/api/jobs/{job}", self._job),
            ("GET", "/api/queue", self._get_queue),
            ("POST", "/api/queue", self._post_queue),
            ("POST", "/api/interrupt", self._interrupt),
            ("POST", "/api/upload/image", self._upload),
            ("GET", "/api/view", self._view),
            ("GET", "/ws", self._websocket),
        ]
        for method, path, handler in routes:
            api.router.add_route(method, path, handler)
        storage = web.Application(middlewares=[self._record("storage")])
        storage.router.add_get("/bucket/{token}/{name}", self._storage)
        self.api_url = await self._listen(api)
        self.storage_url = await self._listen(storage)
        self._relay_task = asyncio.ensure_future(self._relay())

    async def _listen(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def shutdown(self) -> None:
        if self._relay_task is not None:
            self._relay_task.cancel()
        for client in list(self._sockets):
            await client.close()
        for runner in self._runners:
            await runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- middleware -------------------------------------------------------------------------
    def _record(self, port: str) -> Any:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.requests.append(
                CloudRequest(
                    port, request.method, request.path, dict(request.query), dict(request.headers)
                )
            )
            return await handler(request)

        return record

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The API key check, then any fault scripted for the route."""
        if request.path == "/ws":
            if request.query.get("token") != self.api_key:
                return _error(401, "unauthorized", "missing or invalid token")
        elif request.headers.get("X-API-Key") != self.api_key:
            return _error(401, "unauthorized", "Invalid or missing API key")
        fault = self.take_fault(_route(request.path))
        if fault is not None:
            return await fault.reply(request, handler)
        return await handler(request)

    # -- the ComfyUI behind it ---------------------------------------------------------------
    async def _comfyui(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.request(method, path, **kwargs) as response:
            body = await response.read()
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, body

    def _state(self, job_id: str) -> str:
        record = self.comfyui.prompts.get(job_id)
        return record.status if record is not None else "pending"

    async def _history(self, job_id: str) -> Mapping[str, Any]:
        status, reply = await self._comfyui("GET", f"/history/{job_id}")
        entry = reply.get(job_id) if status == 200 and isinstance(reply, dict) else None
        return entry if isinstance(entry, dict) else {}

    # -- routes -----------------------------------------------------------------------------
    async def _prompt(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"type": "invalid_json"}}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), dict):
            return web.json_response(
                {"error": {"type": "no_prompt", "message": "No prompt provided"}}, status=400
            )
        if self.credits is not None and self.credits <= 0:
            return web.json_response(
                {"error": {"type": "insufficient_credits", "message": "Insufficient credits"}},
                status=402,
            )
        job_id = str(uuid.uuid4())  # the cloud's own id: a client prompt_id is ignored
        forwarded = {
            "prompt": body["prompt"],
            "prompt_id": job_id,
            "client_id": self.client_id,
            "extra_data": body.get("extra_data") or {},
        }
        status, reply = await self._comfyui("POST", "/prompt", json=forwarded)
        if status == 200:
            if self.credits is not None:
                self.credits -= 1
            now = time.time()
            self.jobs[job_id] = {"request": body, "created": now, "updated": now}
        return web.json_response(reply, status=status)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job"]
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "not_found", f"job {job_id} not found")
        state = self._state(job_id)
        message = None
        if state == "error":
            failure = _execution_error(await self._history(job_id))
            message = failure.get("exception_message") if failure else "execution failed"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job["created"]))
        return web.json_response(
            {
                "id": job_id,
                "status": STATES[state][0],
                "created_at": stamp,
                "updated_at": stamp,
                "last_state_update": stamp,
                "assigned_inference": None,
                "error_message": message,
            }
        )

    async def _job(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job"]
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "not_found", f"job {job_id} not found")
        state = STATES[self._state(job_id)][1]
        detail: dict[str, Any] = {
            "id": job_id,
            "status": state,
            "create_time": int(job["created"]),
            "update_time": int(time.time()),
            "workflow": {"prompt": job["request"]["prompt"]},
        }
        if state in ("completed", "failed", "cancelled"):
            entry = await self._history(job_id)
            outputs = entry.get("outputs") or {}
            detail.update(
                outputs=outputs,
                outputs_count=sum(len(v) for o in outputs.values() for v in o.values()),
                execution_status=entry.get("status") or {},
                execution_meta=entry.get("meta") or {},
            )
            failure = _execution_error(entry)
            if failure:
                detail["execution_error"] = failure
        return web.json_response(detail)

    async def _get_queue(self, request: web.Request) -> web.StreamResponse:
        status, reply = await self._comfyui("GET", "/queue")
        return web.json_response(reply, status=status)

    async def _post_queue(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            wanted = [str(i) for i in body.get("delete") or []]
        except (ValueError, AttributeError, TypeError):
            return _error(400, "bad_request", "expected {delete: [...]} or {clear: true}")
        pending = [i for i in wanted if self._state(i) == "pending" and i in self.jobs]
        if pending:
            await self._comfyui("POST", "/queue", json={"delete": pending})
        return web.json_response({"deleted": pending, "cleared": False})

    async def _interrupt(self, request: web.Request) -> web.StreamResponse:
        await self._comfyui("POST", "/interrupt", json={})  # every running job of the account
        return web.Response()

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "")}
        status, reply = await self._comfyui("POST", "/upload/image", data=data, headers=headers)
        if status != 200:
            return _error(400, "bad_request", f"upload failed with HTTP {status}")
        return web.json_response(reply)

    async def _view(self, request: web.Request) -> web.StreamResponse:
        filename = request.query.get("filename")
        if not filename:
            return _error(400, "bad_request", "filename is required")
        token = secrets.token_urlsafe(16)
        self._signed[token] = _Signed(
            filename,
            request.query.get("subfolder", ""),
            request.query.get("type", "output"),
            time.monotonic() + self.url_ttl,
        )
        expires = int(time.time() + self.url_ttl)
        location = (
            f"{self.storage_url}/bucket/{token}/{quote(filename)}"
            f"?X-Goog-Expires={expires}&X-Goog-Signature={token}"
        )
        raise web.HTTPFound(location)

    async def _storage(self, request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            return web.Response(status=400, text="only one auth mechanism allowed")
        token = request.match_info["token"]
        signed = self._signed.get(token)
        if signed is None or request.query.get("X-Goog-Signature") != token:
            return web.Response(status=403, text="SignatureDoesNotMatch")
        if time.monotonic() > signed.expires:
            return web.Response(status=400, text="ExpiredToken")
        query = {"filename": signed.filename, "subfolder": signed.subfolder, "type": signed.type}
        status, body = await self._comfyui("GET", "/view", params=query)
        if status != 200:
            return web.Response(status=404, text="NoSuchKey")
        kind = mimetypes.guess_type(signed.filename)[0] or "application/octet-stream"
        return web.Response(body=body, content_type=kind)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        """Every message of the account, whatever the ``clientId`` (see :meth:`_relay`)."""
        client = web.WebSocketResponse()
        await client.prepare(request)
        self._sockets.add(client)
        try:
            async for _ in client:  # what clients send is not used
                pass
        finally:
            self._sockets.discard(client)
        return client

    async def _relay(self) -> None:
        """Copy the account's messages from the ComfyUI behind to every open socket."""
        assert self._session is not None
        async with self._session.ws_connect("/ws", params={"clientId": self.client_id}) as inner:
            async for message in inner:
                if message.type is aiohttp.WSMsgType.TEXT:
                    for client in list(self._sockets):
                        if not client.closed:
                            await client.send_str(message.data)


def _execution_error(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``execution_error`` message of a history entry, as the jobs API reports it."""
    for name, data in (entry.get("status") or {}).get("messages") or []:
        if name == "execution_error" and data.get("exception_type") != "ExecutionBlocked":
            return {
                "node_id": str(data.get("node_id")),
                "node_type": data.get("node_type"),
                "exception_message": data.get("exception_message", ""),
                "exception_type": data.get("exception_type", "Exception"),
                "traceback": list(data.get("traceback") or []),
                "current_inputs": data.get("current_inputs") or {},
                "current_outputs": data.get("current_outputs") or {},
            }
    return None


class FakeComfyCloudControls:
    """``set_duration`` / ``fail_next`` for the core's ``BackendConformance`` suite."""

    def __init__(self, cloud: FakeComfyCloud) -> None:
        self.cloud = cloud

    def set_duration(self, seconds: float) -> None:
        self.cloud.comfyui.duration = seconds

    def fail_next(self, message: str) -> None:
        self.cloud.comfyui.script(Script(error_node="3", error_message=message))
