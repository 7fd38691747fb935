"""Typed calls to a RunPod Serverless endpoint (runpod-protocol.md §2, §5).

All HTTP goes through the core ``HttpClient`` whose base URL is ``{api_url}/{endpoint_id}`` and
whose bearer token is the API key, so the key is only ever sent to that origin. ``/run`` creates
a new GPU job on every call (no idempotency key): it is retried only when the request provably
never reached RunPod or RunPod refused it with 429; ``/status``, ``/health`` and ``/cancel`` are
safe to repeat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs

from comfykit_sync import InvalidResponseError
from comfykit_sync.backend import HttpClient, decode_json

#: one terminal set, including CANCELLED (spec §2: the SDK's FINAL_STATES forgets it)
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
QUEUED_STATES = frozenset({"IN_QUEUE"})
SERVER = "RunPod"


@attrs.frozen
class JobStatus:
    """A job object from ``/status`` (spec §4); ``raw`` is the whole reply."""

    job_id: str
    status: str
    raw: Mapping[str, Any] = attrs.field(repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES


def _job_status(data: Any, what: str, url: str) -> JobStatus:
    if not isinstance(data, Mapping) or not isinstance(data.get("status"), str):
        raise InvalidResponseError(
            f"{what}: {SERVER} replied without a status: {data!r}"[:400], url=url
        )
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise InvalidResponseError(f"{what}: {SERVER} replied without a job id", url=url)
    return JobStatus(job_id, data["status"].upper(), data)


class RunPodAPI:
    """The endpoint operations the backend needs."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def run(self, body: bytes, *, deadline: float | None = None) -> JobStatus:
        """``POST /run``: queue a job; ``body`` is the serialized request (spec §3)."""
        what = "submitting the job to RunPod (/run)"
        response = self.http.request(
            "POST",
            "/run",
            what=what,
            idempotent=False,  # a retry after an ambiguous failure could start a second GPU job
            deadline=deadline,
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        return _job_status(decode_json(response, what, SERVER), what, response.url)

    def status(self, job_id: str, *, timeout: tuple[float, float] | None = None) -> JobStatus:
        """``GET /status/{id}``; ``NotFoundError`` for an unknown or expired job."""
        what = f"reading the status of RunPod job {job_id}"
        response = self.http.request(
            "GET", f"/status/{quote(job_id, safe='')}", what=what, timeout=timeout
        )
        return _job_status(decode_json(response, what, SERVER), what, response.url)

    def cancel(self, job_id: str) -> Mapping[str, Any]:
        """``POST /cancel/{id}`` (safe to repeat)."""
        what = f"cancelling RunPod job {job_id}"
        response = self.http.request(
            "POST", f"/cancel/{quote(job_id, safe='')}", what=what, idempotent=True
        )
        data = decode_json(response, what, SERVER)
        return data if isinstance(data, Mapping) else {}

    def health(self) -> Mapping[str, Any]:
        """``GET /health``: job and worker counters."""
        data = self.http.json("GET", "/health", what="reading RunPod endpoint health")
        return data if isinstance(data, Mapping) else {}


def encode_request(payload: Mapping[str, Any]) -> bytes:
    """Serialize a request body as strict JSON (``ValueError`` for NaN/Infinity)."""
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
