"""Backend ``runpod``: run workflows on a RunPod Serverless endpoint built from worker-comfyui.

The kit parses the DSL and binds parameters as for a local ComfyUI; this backend sends the bound
API graph as ``input.workflow`` to ``/run`` with uploaded media inline as base64
``input.images``, polls ``/status/{id}`` (``PollingBackend``) and turns the worker's result into
output items (see :mod:`.outputs`). RunPod states map to events and outcomes: ``IN_QUEUE`` →
``Queued``, ``IN_PROGRESS`` (or any status not named here) → ``Started``, ``COMPLETED`` → items,
``FAILED`` → ``ExecutionError`` with the worker's text, ``CANCELLED`` → interrupted (cancelled
when we asked), ``TIMED_OUT`` → ``ExecutionTimeout(deadline="server")``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfykit_sync import (
    ExecutionError,
    ExecutionInterrupted,
    ExecutionTimeout,
    NotFoundError,
    ParameterError,
    PromptLostError,
    UploadTooLargeError,
)
from comfykit_sync.backend import (
    Backend,
    BackendContext,
    HttpClient,
    Polled,
    PollingBackend,
    PreparedJob,
    RunOutcome,
    Setting,
    Submission,
    UploadSource,
    hookimpl,
)

from .api import QUEUED_STATES, TERMINAL_STATES, JobStatus, RunPodAPI, encode_request
from .outputs import (
    build_items,
    default_output_dir,
    details_text,
    dropped_outputs,
    failure_text,
    mark_prefixes,
)
from .settings import SETTINGS, RunPodSettings
from .uploads import PendingUploads

log = logging.getLogger(__name__)

#: shortest pause between status polls (a cloud API)
MIN_POLL_INTERVAL = 0.5
#: RunPod's request size limit for /run (spec §3)
MAX_REQUEST_BYTES = 10 * 1024 * 1024


class RunPodBackend(PollingBackend):
    """Runs API-format workflows on one RunPod Serverless endpoint (worker-comfyui ≥ 2.0)."""

    name = "runpod"
    capabilities = frozenset({"upload", "cancel", "reattach"})
    label = "RunPod job"
    queued_statuses = QUEUED_STATES
    completed_statuses = frozenset({"COMPLETED"})
    failed_statuses = TERMINAL_STATES - {"COMPLETED"}
    min_poll_interval = MIN_POLL_INTERVAL

    def __init__(self, context: BackendContext, settings: RunPodSettings | None = None) -> None:
        super().__init__(context)
        self.settings = settings or RunPodSettings.from_settings(context.config.settings)
        self.http = HttpClient(
            self.settings.endpoint_url,
            token=self.settings.api_key,
            timeout=context.config.request_timeout,
        )
        self.api = RunPodAPI(self.http)
        self.uploads = PendingUploads(self.settings.max_upload_bytes)
        self._output_dir: Path | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RunPodBackend({self.http.base_url!r})"

    @property
    def default_timeout(self) -> float:
        return self.settings.timeout or self.context.config.timeout

    @property
    def output_dir(self) -> Path:
        """Where base64 outputs are written (created on first use)."""
        with self._lock:
            if self._output_dir is None:
                self._output_dir = default_output_dir(self.settings.output_dir)
            return self._output_dir

    # -- submission -------------------------------------------------------------------------
    def upload(self, source: UploadSource) -> str:
        return self.uploads.add(source, self.http)

    def submit(self, job: PreparedJob) -> Submission:
        names = [v for v in job.values.values() if isinstance(v, str)]
        images = self.uploads.take(names)
        payload: dict[str, Any] = {
            "workflow": mark_prefixes(
                job.graph, hashlib.sha256(job.prompt_id.encode()).hexdigest()[:8]
            )
        }
        if images:
            payload["images"] = images
        if self.context.config.comfy_org_api_key:
            payload["comfy_org_api_key"] = self.context.config.comfy_org_api_key
        try:
            body = encode_request({"input": payload})
        except ValueError as exc:
            raise ParameterError(f"the workflow holds a value JSON cannot carry: {exc}") from exc
        if len(body) > MAX_REQUEST_BYTES:
            raise UploadTooLargeError(
                f"the RunPod request would be {len(body) / 1e6:.1f} MB (workflow plus base64 "
                f"media); /run accepts {MAX_REQUEST_BYTES / 1e6:.1f} MB"
            )
        deadline = time.monotonic() + self.context.config.request_timeout[1] * 2
        status = self.api.run(body, deadline=deadline)
        log.debug("queued RunPod job %s (%d bytes)", status.job_id, len(body))
        return Submission(status.job_id, warnings=dropped_outputs(job.graph, job.spec))

    # -- state ------------------------------------------------------------------------------
    def poll(self, prompt_id: str, *, timeout: tuple[float, float] | None) -> Polled:
        status = self.api.status(prompt_id, timeout=timeout)
        return Polled(status.status, status)

    def lost(self, prompt_id: str) -> PromptLostError:
        return PromptLostError(
            f"RunPod no longer knows job {prompt_id} (unknown id, or its result expired "
            "30 minutes after it finished)",
            prompt_id=prompt_id,
        )

    def outcome(
        self, prompt_id: str, polled: Polled, *, timeout: tuple[float, float] | None
    ) -> RunOutcome:
        """The outcome of a job in a terminal state."""
        status: JobStatus = polled.reply
        job_id, raw = status.job_id, status.raw
        meta = {k: raw[k] for k in ("status", "delayTime", "executionTime", "workerId") if k in raw}
        if status.status == "COMPLETED":
            items, output, failure = build_items(job_id, raw.get("output"), self.output_dir)
            return RunOutcome(job_id, {**meta, "output": output}, items=items, error=failure)
        meta["output"] = raw.get("output")
        if status.status == "CANCELLED":
            error: ExecutionError = ExecutionInterrupted(
                f"RunPod job {job_id} was cancelled", prompt_id=job_id
            )
        elif status.status == "TIMED_OUT":
            error = ExecutionTimeout(
                f"RunPod job {job_id} timed out on RunPod (its TTL expired in the queue or it "
                "ran past the endpoint's execution timeout)",
                prompt_id=job_id,
                deadline="server",
            )
        else:
            text = failure_text(raw.get("error")) or "RunPod gave no error text"
            details = details_text(raw.get("output"))
            if details:
                text += f": {details}"
            error = ExecutionError(f"RunPod job {job_id} failed: {text}", prompt_id=job_id)
        return RunOutcome(job_id, meta, error=error)

    def cancel(self, prompt_id: str) -> bool:
        try:
            if self.api.status(prompt_id).terminal:
                return False
        except NotFoundError:
            return False
        self.api.cancel(prompt_id)
        return True

    def health(self) -> dict[str, Any]:
        """The endpoint's ``/health`` counters (jobs and workers)."""
        return dict(self.api.health())

    def close(self) -> None:
        self.http.close()


@hookimpl
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(RunPodBackend)


@hookimpl
def comfykit_register_settings(register: Callable[[Setting], None]) -> None:
    for setting in SETTINGS:
        register(setting)
