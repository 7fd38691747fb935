"""A fake RunPod Serverless endpoint running worker-comfyui, for tests (runpod-protocol.md §15).

Two ports on 127.0.0.1 in a background thread: the API (:attr:`FakeRunPod.api_url`, use it as
``RUNPOD_API_URL``) with ``/v2/{endpoint}/run|runsync|status|cancel|retry|purge-queue|health``,
and a "bucket" (:attr:`FakeRunPod.bucket_url`) serving ``s3_url`` outputs, so a test can prove
the API key never leaves the API host. Jobs go ``IN_QUEUE`` → ``IN_PROGRESS`` → terminal on the
clock (``queue_time``, ``run_time``, or a :class:`JobScript` per job)::

    with FakeRunPod(api_key="rp-key", endpoint_id="ep1", run_time=0.1) as runpod:
        runpod.script(JobScript(error="Workflow validation failed: ..."))
        ...
        runpod.jobs[job_id].images   # decoded input files
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from comfykit_sync.testing import BackgroundServer
from comfykit_sync.testing.faults import Body, FaultInjection

__all__ = ["FakeRunPod", "FakeRunPodControls", "JobRecord", "JobScript", "RecordedRequest"]

MAX_RUN_BYTES = 10 * 1024 * 1024
MAX_RUNSYNC_BYTES = 20 * 1024 * 1024
OUTPUT_CLASSES = {
    "SaveImage": ".png",
    "SaveAnimatedWEBP": ".webp",
    "SaveVideo": ".mp4",
    "SaveWEBM": ".webm",
}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4//8/AwAI/AL+p5qgoAAAAABJRU5ErkJggg=="
)


@attrs.frozen(kw_only=True)
class JobScript:
    """Scripted behaviour of one submitted job (every field optional).

    ``queue_time``/``run_time`` override the server's; ``error`` ends the job ``FAILED`` with
    that ``error`` (a dict is sent JSON-encoded, like an SDK exception record) and optional
    ``details`` in its output; ``final`` forces another terminal state (``TIMED_OUT``);
    ``output`` replaces the generated worker output (``None`` key → ``COMPLETED`` without
    ``output`` when ``drop_output``); ``progress`` is shown as output while ``IN_PROGRESS``.
    """

    queue_time: float | None = None
    run_time: float | None = None
    error: str | dict[str, Any] | None = None
    details: tuple[str, ...] = ()
    final: str | None = None
    output: dict[str, Any] | None = None
    drop_output: bool = False
    progress: Any = None


@attrs.frozen
class RecordedRequest:
    """One request seen by the API or the bucket port."""

    port: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = attrs.field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define(kw_only=True)
class JobRecord:
    """A job the fake accepted; :meth:`state` follows the clock."""

    job_id: str
    request: dict[str, Any] = attrs.field(repr=False)
    images: dict[str, bytes] = attrs.field(repr=False)
    created_at: float
    queue_time: float
    run_time: float
    script: JobScript
    worker_id: str = "fakeworker01"
    cancelled_at: float | None = None
    finished_at: float | None = None

    def state(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "CANCELLED"
        elapsed = now - self.created_at
        if elapsed < self.queue_time:
            return "IN_QUEUE"
        if elapsed < self.queue_time + self.run_time:
            return "IN_PROGRESS"
        if self.script.final:
            return self.script.final
        return "FAILED" if self.script.error is not None or _invalid(self.request) else "COMPLETED"


def _invalid(body: Mapping[str, Any]) -> str | None:
    """worker-comfyui's input validation message (spec §10.3), or None."""
    data = body.get("input")
    if data is None:
        return "Please provide input"
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return "Invalid JSON format in input"
    if not isinstance(data, Mapping) or "workflow" not in data:
        return "Missing 'workflow' parameter"
    images = data.get("images")
    if images is not None and (
        not isinstance(images, list)
        or not all(isinstance(i, Mapping) and "name" in i and "image" in i for i in images)
    ):
        return "'images' must be a list of objects with 'name' and 'image' keys"
    return None


class FakeRunPod(FaultInjection, BackgroundServer):
    """A fake RunPod endpoint ``endpoint_id`` accepting ``api_key`` (Bearer or bare).

    ``output_mode`` is ``"base64"`` or ``"s3_url"``; ``retention`` seconds after the end a job
    is forgotten (404). Faults are those of every fake (``fault()``, ``fail_requests()``, ...:
    :mod:`comfykit_sync.testing.faults`) on a route (``run``, ``status``, ...), injected after
    the endpoint and key checks.
    """

    name = "RunPod"
    default_fault_path = "run"

    def __init__(
        self,
        api_key: str = "rp-test-key",
        endpoint_id: str = "fake-endpoint",
        *,
        queue_time: float = 0.0,
        run_time: float = 0.05,
        output_mode: str = "base64",
        retention: float = 1800.0,
    ) -> None:
        super().__init__()
        self.api_key, self.endpoint_id = api_key, endpoint_id
        self.queue_time, self.run_time = queue_time, run_time
        self.output_mode, self.retention = output_mode, retention
        self.jobs: dict[str, JobRecord] = {}
        self.requests: deque[RecordedRequest] = deque(maxlen=10000)
        self.files: dict[str, bytes] = {}
        self._scripts: deque[JobScript] = deque()
        self._counter = itertools.count(1)
        self._runners: list[web.AppRunner] = []
        self.api_url = self.bucket_url = ""

    # -- test controls ----------------------------------------------------------------------
    def script(self, *scripts: JobScript) -> None:
        """Use these scripts for the next submitted jobs, in order."""
        self._scripts.extend(scripts)

    def fault_path(self, path: str) -> str:
        """Faults name a route: ``run``, ``status``, ``cancel``, ... (``/run`` too)."""
        return path.strip("/")

    def fault_body(self, status: int) -> Body:
        return {"error": "injected fault"}

    def paths(self, suffix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.port == "api" and r.path.endswith(suffix)]

    # -- server -----------------------------------------------------------------------------
    async def startup(self) -> None:
        api = web.Application(middlewares=[self._record("api")], client_max_size=64 * 1024 * 1024)
        base = "/v2/{endpoint}"
        api.router.add_post(base + "/run", self._run)
        api.router.add_post(base + "/runsync", self._runsync)
        api.router.add_get(base + "/status/{job}", self._status)
        api.router.add_post(base + "/cancel/{job}", self._cancel)
        api.router.add_post(base + "/retry/{job}", self._retry)
        api.router.add_post(base + "/purge-queue", self._purge)
        api.router.add_get(base + "/health", self._health)
        bucket = web.Application(middlewares=[self._record("bucket")])
        bucket.router.add_get("/{key:.+}", self._file)
        for app, attr, prefix in ((api, "api_url", "/v2"), (bucket, "bucket_url", "")):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            setattr(self, attr, f"http://127.0.0.1:{port}{prefix}")
            self._runners.append(runner)

    async def shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def _record(self, port: str) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(
                RecordedRequest(port, request.method, request.path, dict(request.headers), body)
            )
            if port == "bucket":
                return await handler(request)
            if request.match_info.get("endpoint") != self.endpoint_id:
                return web.json_response({"error": "endpoint not found"}, status=404)
            auth = request.headers.get("Authorization", "")
            if auth.removeprefix("Bearer ").strip() != self.api_key:
                return web.json_response({"error": "Unauthorized"}, status=401)
            fault = self.take_fault(request.path.split("/")[3])
            if fault is not None:
                return await fault.reply(request, handler)
            return await handler(request)

        return middleware

    def _create(self, body: Any, prefix: str = "") -> JobRecord | web.Response:
        if not isinstance(body, Mapping) or "input" not in body:
            return web.json_response({"error": "request body must have an 'input'"}, status=400)
        script = self._scripts.popleft() if self._scripts else JobScript()
        job_id = f"{prefix}{uuid.uuid4()}-u{next(self._counter)}"
        images: dict[str, bytes] = {}
        data = body.get("input")
        for entry in (data.get("images") or []) if isinstance(data, Mapping) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("image"), str):
                images[str(entry.get("name"))] = base64.b64decode(entry["image"].split(",")[-1])
        job = JobRecord(
            job_id=job_id,
            request=dict(body),
            images=images,
            created_at=time.monotonic(),
            queue_time=self.queue_time if script.queue_time is None else script.queue_time,
            run_time=self.run_time if script.run_time is None else script.run_time,
            script=script,
        )
        self.jobs[job_id] = job
        return job

    async def _body(self, request: web.Request, limit: int) -> Any:
        raw = await request.read()
        if len(raw) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(raw))
        try:
            return json.loads(raw)
        except ValueError:
            raise web.HTTPBadRequest(text='{"error": "invalid JSON"}') from None

    async def _run(self, request: web.Request) -> web.Response:
        job = self._create(await self._body(request, MAX_RUN_BYTES))
        if isinstance(job, web.Response):
            return job
        return web.json_response({"id": job.job_id, "status": "IN_QUEUE"})

    async def _runsync(self, request: web.Request) -> web.Response:
        job = self._create(await self._body(request, MAX_RUNSYNC_BYTES), prefix="sync-")
        if isinstance(job, web.Response):
            return job
        wait = float(request.query.get("wait", 90000)) / 1000
        end = time.monotonic() + wait
        while time.monotonic() < end and job.state(time.monotonic()) in ("IN_QUEUE", "IN_PROGRESS"):
            await asyncio.sleep(0.01)
        return web.json_response(self.job_object(job))

    def _job(self, request: web.Request) -> JobRecord:
        job = self.jobs.get(request.match_info["job"])
        now = time.monotonic()
        if job is None or (job.finished_at is not None and now - job.finished_at > self.retention):
            raise web.HTTPNotFound(
                text='{"error": "job not found"}', content_type="application/json"
            )
        return job

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.job_object(self._job(request)))

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job.state(time.monotonic()) in ("IN_QUEUE", "IN_PROGRESS"):
            job.cancelled_at = time.monotonic()
        return web.json_response({"id": job.job_id, "status": job.state(time.monotonic())})

    async def _retry(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job.state(time.monotonic()) not in ("FAILED", "TIMED_OUT"):
            return web.json_response({"error": "job cannot be retried"}, status=400)
        job.created_at, job.finished_at = time.monotonic(), None
        job.script = JobScript()
        return web.json_response({"id": job.job_id, "status": "IN_QUEUE"})

    async def _purge(self, request: web.Request) -> web.Response:
        now, removed = time.monotonic(), 0
        for job in self.jobs.values():
            if job.state(now) == "IN_QUEUE":
                job.cancelled_at, removed = now, removed + 1
        return web.json_response({"removed": removed, "status": "completed"})

    async def _health(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        states = [job.state(now) for job in self.jobs.values()]
        return web.json_response(
            {
                "jobs": {
                    "completed": states.count("COMPLETED"),
                    "failed": states.count("FAILED"),
                    "inProgress": states.count("IN_PROGRESS"),
                    "inQueue": states.count("IN_QUEUE"),
                    "retried": 0,
                },
                "workers": {"idle": 1, "running": states.count("IN_PROGRESS")},
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        content = self.files.get(request.match_info["key"])
        if content is None:
            raise web.HTTPNotFound()
        return web.Response(body=content, content_type="image/png")

    # -- the worker -------------------------------------------------------------------------
    def job_object(self, job: JobRecord) -> dict[str, Any]:
        """The ``/status`` body of ``job`` now (spec §4)."""
        now = time.monotonic()
        state = job.state(now)
        obj: dict[str, Any] = {"id": job.job_id, "status": state}
        if state == "IN_QUEUE":
            return obj
        obj["delayTime"] = int(job.queue_time * 1000)
        obj["workerId"] = job.worker_id
        if state == "IN_PROGRESS":
            if job.script.progress is not None:
                obj["output"] = job.script.progress
            return obj
        if job.finished_at is None:
            job.finished_at = now
        obj["executionTime"] = int(job.run_time * 1000)
        if state == "FAILED":
            error = job.script.error if job.script.error is not None else _invalid(job.request)
            obj["error"] = json.dumps(error) if isinstance(error, dict) else error
            if job.script.details:
                obj["output"] = {"details": list(job.script.details)}
        elif state == "COMPLETED" and not job.script.drop_output:
            obj["output"] = (
                job.script.output if job.script.output is not None else self._output(job)
            )
        return obj

    def _output(self, job: JobRecord) -> dict[str, Any]:
        """worker-comfyui 5.x output for the job's workflow: one file per save node."""
        workflow = job.request["input"]["workflow"]
        images: list[dict[str, Any]] = []
        for node in workflow.values():
            ext = OUTPUT_CLASSES.get(node.get("class_type"))
            if ext is None:
                continue
            prefix = str(node.get("inputs", {}).get("filename_prefix", "ComfyUI")).rsplit("/", 1)[
                -1
            ]
            filename = f"{prefix}_00001_{ext}"
            if self.output_mode == "s3_url":
                key = f"{job.job_id}/{uuid.uuid4().hex[:8]}{ext}"
                self.files[key] = PNG
                images.append(
                    {
                        "filename": filename,
                        "type": "s3_url",
                        "data": f"{self.bucket_url}/{key}?X-Amz-Signature=fake",
                    }
                )
            else:
                images.append(
                    {"filename": filename, "type": "base64", "data": base64.b64encode(PNG).decode()}
                )
        return {"images": images} if images else {"status": "success_no_images", "images": []}


class FakeRunPodControls:
    """The conformance suite's handle on a :class:`FakeRunPod`."""

    def __init__(self, server: FakeRunPod) -> None:
        self.server = server

    def set_duration(self, seconds: float) -> None:
        """Later jobs run for ``seconds``."""
        self.server.run_time = seconds

    def fail_next(self, message: str) -> None:
        """The next job fails with ``message`` as its ``error``."""
        self.server.script(JobScript(error=message))
