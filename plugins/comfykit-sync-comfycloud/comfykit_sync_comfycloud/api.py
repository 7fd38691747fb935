"""Typed calls to Comfy Cloud's ComfyUI-compatible API.

Every request goes through one ``HttpClient`` whose base URL is the cloud's and whose
``X-API-Key`` header carries the key, so the key only ever reaches that origin: ``/api/view``
answers with a redirect to a signed URL on a storage host, which is fetched without it.
``POST /api/prompt`` starts a billed job on every call and takes no client-chosen id, so it is
retried only when the request provably never left (or was refused with 429); after an
ambiguous failure the error is reported instead of risking a second job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from comfykit_sync import InvalidResponseError
from comfykit_sync.backend import HttpClient, MultipartStream, UploadSource, decode_json, open_media

SERVER = "Comfy Cloud"
#: job states, in both vocabularies Comfy Cloud has used (status endpoint and jobs API)
PENDING_STATES = frozenset({"submitted", "queued_waiting", "waiting_to_dispatch", "pending"})
SUCCEEDED_STATES = frozenset({"success", "completed"})
FAILED_STATES = frozenset({"error", "non_retryable_error", "failed"})
CANCELLED_STATES = frozenset({"cancelled"})
LOST_STATES = frozenset({"lost"})
TERMINAL_STATES = SUCCEEDED_STATES | FAILED_STATES | CANCELLED_STATES | LOST_STATES


@attrs.frozen
class JobStatus:
    """A reply of ``GET /api/job/{id}/status``; any state not listed above is in flight."""

    job_id: str
    status: str
    error_message: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATES


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidResponseError(f"{what}: {SERVER} replied with {type(data).__name__}")
    return data


def _path_id(job_id: str) -> str:
    return quote(job_id, safe="")


class CloudAPI:
    """The Comfy Cloud endpoints the backend uses."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def submit(self, body: Mapping[str, Any], *, deadline: float) -> Mapping[str, Any]:
        """``POST /api/prompt`` once: ``{prompt_id, number, node_errors}``."""
        what = "submitting the workflow to Comfy Cloud"
        response = self.http.request(
            "POST", "/api/prompt", json=body, what=what, idempotent=False, deadline=deadline
        )
        reply = _object(decode_json(response, what, SERVER), what)
        if not isinstance(reply.get("prompt_id"), str) or not reply["prompt_id"]:
            raise InvalidResponseError(f"{what}: {SERVER} replied without a prompt_id")
        return reply

    def status(self, job_id: str, *, timeout: tuple[float, float] | None = None) -> JobStatus:
        """``GET /api/job/{id}/status`` (``NotFoundError`` for an unknown job)."""
        what = f"reading the status of Comfy Cloud job {job_id}"
        response = self.http.request(
            "GET", f"/api/job/{_path_id(job_id)}/status", what=what, timeout=timeout
        )
        data = _object(decode_json(response, what, SERVER), what)
        if not isinstance(data.get("status"), str):
            raise InvalidResponseError(f"{what}: {SERVER} replied without a status")
        message = data.get("error_message")
        return JobStatus(job_id, data["status"].lower(), message if message else None)

    def job(self, job_id: str, *, timeout: tuple[float, float] | None = None) -> Mapping[str, Any]:
        """``GET /api/jobs/{id}``: the job with its outputs, error and workflow."""
        what = f"reading Comfy Cloud job {job_id}"
        response = self.http.request(
            "GET", f"/api/jobs/{_path_id(job_id)}", what=what, timeout=timeout
        )
        return _object(decode_json(response, what, SERVER), what)

    def queue(self) -> tuple[list[str], list[str]]:
        """(running ids, pending ids) of this account (``GET /api/queue``)."""
        data = _object(self.http.json("GET", "/api/queue", what="reading the queue"), "queue")

        def ids(key: str) -> list[str]:
            items = data.get(key) or []
            return [str(i[1]) for i in items if isinstance(i, (list, tuple)) and len(i) > 1]

        return ids("queue_running"), ids("queue_pending")

    def delete_pending(self, job_id: str) -> bool:
        """``POST /api/queue {"delete": [id]}``; True if the job was pending and is gone."""
        reply = self.http.json(
            "POST",
            "/api/queue",
            json={"delete": [job_id]},
            what=f"removing job {job_id} from the queue",
            idempotent=True,
        )
        deleted = reply.get("deleted") if isinstance(reply, Mapping) else None
        return isinstance(deleted, list) and job_id in deleted

    def interrupt(self) -> None:
        """``POST /api/interrupt``: interrupts every running job of the account."""
        self.http.request(
            "POST", "/api/interrupt", json={}, what="interrupting the running job", idempotent=True
        )

    def upload(self, source: UploadSource) -> str:
        """Stream a file to ``/api/upload/image``; return the value for the node input."""
        with open_media(source, self.http) as media:
            body = MultipartStream(
                {"type": "input", "overwrite": "false"},
                file_field="image",
                filename=media.filename,
                fileobj=media.fileobj,
                size=media.size,
                content_type=media.content_type,
            )
            what = f"uploading {media.filename!r} to Comfy Cloud"
            reply = self.http.json(
                "POST",
                "/api/upload/image",
                data=body,
                headers={"Content-Type": body.content_type},
                what=what,
            )
        if not isinstance(reply, Mapping) or not reply.get("name"):
            raise InvalidResponseError(f"{what}: {SERVER} replied without a file name")
        name = str(reply["name"])
        return f"{reply['subfolder']}/{name}" if reply.get("subfolder") else name

    def view_url(self, record: Mapping[str, Any]) -> str:
        """The ``/api/view`` URL of a file record (it redirects to a signed URL)."""
        query = urlencode(
            {
                "filename": str(record.get("filename", "")),
                "subfolder": str(record.get("subfolder") or ""),
                "type": str(record.get("type") or "output"),
            }
        )
        return self.http.url(f"/api/view?{query}")
