"""Typed client of the RunningHub OpenAPI (spec: runninghub-protocol.md).

Every call is a ``POST`` with the API key in the body (``apiKey``), answered by an envelope
``{"code", "msg", "data"}``; ``code != 0`` becomes a typed error from :data:`ERRORS`. The key
travels only to the RunningHub host: redirects are not followed (a 307 would resend the body
elsewhere) and request bodies are dropped from the exceptions this module raises.

Retries (``retry_count`` more attempts, exponential backoff): reads on transport errors, 5xx
and the transient codes; task creation only when the request provably never reached the server
or RunningHub answered that it created nothing (415/421) — never after an ambiguous failure,
which could create a second, billed task. Permanent business errors are never retried.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import tenacity

from ..config import Config
from ..errors import (
    APIError,
    AuthenticationError,
    ComfyKitError,
    ConfigurationError,
    InsufficientBalanceError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    UploadTooLargeError,
    WorkflowValidationError,
)
from ..http import HttpClient, decode_json, iter_body
from ..media_source import open_media
from ..multipart import MultipartStream
from ..params import UploadSource

log = logging.getLogger(__name__)

#: RunningHub's per-file upload limit (code 809)
MAX_UPLOAD_BYTES = 30 * 1024 * 1024
#: first retry delay in seconds; doubled per attempt up to BACKOFF_MAX
BACKOFF = 0.25
BACKOFF_MAX = 4.0
#: largest text output downloaded, in bytes
TEXT_LIMIT = 4 * 1024 * 1024

#: outputs-endpoint codes that are states, not errors
TASK_RUNNING, TASK_FAILED, TASK_QUEUED = 804, 805, 813
#: codes after which RunningHub has provably created nothing and asks us to come back later
BUSY_CODES = frozenset({415, 421})

#: code -> (error class, what it means for the caller)
ERRORS: Mapping[int, tuple[type[APIError], str]] = {
    301: (WorkflowValidationError, "invalid or missing request parameters"),
    380: (NotFoundError, "the workflow does not exist or this API key cannot access it"),
    381: (NotFoundError, "the AI app does not exist"),
    901: (NotFoundError, "the AI app does not exist"),
    401: (AuthenticationError, "the API key is invalid (check runninghub_api_key)"),
    415: (RateLimitError, "no dedicated instance is free; try again later"),
    421: (RateLimitError, "the API key's concurrent task limit is reached; try again later"),
    423: (NotFoundError, "the task does not exist"),
    433: (WorkflowValidationError, "ComfyUI on RunningHub rejected the workflow"),
    500: (ServerError, "RunningHub failed with an unknown server error"),
    801: (AuthenticationError, "free accounts cannot use API keys; upgrade the account"),
    802: (AuthenticationError, "the API key is unauthorized or expired (check runninghub_api_key)"),
    803: (
        WorkflowValidationError,
        "the parameter values do not match the workflow's nodes and inputs",
    ),
    806: (AuthenticationError, "no RunningHub user owns this API key"),
    807: (NotFoundError, "the task does not exist"),
    808: (ServerError, "RunningHub could not store the upload"),
    809: (UploadTooLargeError, "the file is over RunningHub's 30 MB upload limit"),
    811: (AuthenticationError, "the enterprise API key is invalid"),
    812: (InsufficientBalanceError, "the account balance is exhausted; top it up"),
    814: (RateLimitError, "the personal queue is full (1000 tasks); try again later"),
}


def require_api_key(config: Config) -> str:
    """The RunningHub API key, or a ``ConfigurationError`` saying how to set it."""
    if not config.runninghub_api_key:
        raise ConfigurationError(
            "RunningHub workflows need an API key: pass runninghub_api_key=... or set "
            "RUNNINGHUB_API_KEY (the ComfyUI api_key is never used for RunningHub)"
        )
    return config.runninghub_api_key


def id_text(value: Any) -> str | None:
    """An id from a reply as a string: strings and JSON integers (exact), nothing else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def error_code(exc: BaseException) -> int | None:
    """The RunningHub ``code`` of an error from this module (``None``: not a business error)."""
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, Mapping) else None
    return code if isinstance(code, int) else None


@attrs.frozen
class Envelope:
    """A decoded reply: RunningHub's ``code``, ``msg`` and payload."""

    code: int
    msg: str
    data: Any = attrs.field(repr=False)


@attrs.frozen
class CreatedTask:
    """A created task: its id, first status and ComfyUI's ``node_errors`` from ``promptTips``."""

    task_id: str
    status: str | None
    node_errors: Mapping[str, Any]


def _decode(response: Any, what: str) -> Envelope:
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "?")
        raise InvalidResponseError(
            f"{what}: RunningHub answered HTTP {response.status_code} redirecting to {location}; "
            "not followed, since the API key travels in the request body",
            status_code=response.status_code,
            url=response.url,
        )
    body = decode_json(response, what, "RunningHub")
    code = body.get("code") if isinstance(body, Mapping) else None
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        raise InvalidResponseError(
            f"{what}: RunningHub replied without its {{code, msg, data}} envelope: "
            f"{json.dumps(body)[:200]}",
            status_code=response.status_code,
            url=response.url,
            body=body,
        )
    msg = body.get("msg")
    return Envelope(code, msg if isinstance(msg, str) else "", body.get("data"))


def error_for(envelope: Envelope, what: str, url: str | None) -> APIError:
    """The typed error for a business error envelope."""
    cls, meaning = ERRORS.get(envelope.code, (APIError, "RunningHub refused the request"))
    label = f"code {envelope.code}" + (f" {envelope.msg[:500]}" if envelope.msg else "")
    body = {"code": envelope.code, "msg": envelope.msg, "data": envelope.data}
    return cls(f"{what} failed: {meaning} ({label})", status_code=200, url=url, body=body)


def _retryable(exc: BaseException, *, create: bool) -> bool:
    if isinstance(exc, TransportError):
        return exc.sent is False or not create
    if isinstance(exc, RateLimitError):
        code = error_code(exc)
        return code is None or code in BUSY_CODES  # HTTP 429 or "busy": nothing was created
    return isinstance(exc, ServerError) and not create  # HTTP 5xx, codes 500 and 808


def _forget_request_bodies(exc: BaseException | None) -> None:
    """Drop request bodies (they hold the API key) from the requests exceptions in the chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = getattr(exc, "response", None)
        for request in (getattr(exc, "request", None), getattr(response, "request", None)):
            if request is not None and hasattr(request, "body"):
                request.body = None
        exc = exc.__cause__ or exc.__context__


class RunningHubAPI:
    """The RunningHub endpoints ComfyKit uses, over an ``HttpClient`` without credentials."""

    def __init__(self, http: HttpClient, api_key: str, *, retry_count: int) -> None:
        self.http = http
        self._api_key = api_key
        self.retry_count = retry_count

    def __repr__(self) -> str:
        return f"RunningHubAPI({self.http.base_url!r})"

    def call(
        self,
        path: str,
        fields: Mapping[str, Any] | None = None,
        *,
        what: str,
        create: bool = False,
        accept: frozenset[int] = frozenset(),
        timeout: tuple[float, float] | None = None,
        deadline: float | None = None,
        upload: MultipartStream | None = None,
    ) -> Envelope:
        """POST ``fields`` (plus the key) to ``path``; the envelope if ``code`` is 0 or accepted."""

        def once() -> Envelope:
            kwargs: dict[str, Any] = (
                {"data": upload, "headers": {"Content-Type": upload.content_type}}
                if upload is not None
                else {"json": {"apiKey": self._api_key, **(fields or {})}}
            )
            response = self.http.request(
                "POST",
                path,
                what=what,
                attempts=1,
                timeout=timeout,
                allow_redirects=False,
                **kwargs,
            )
            with response:
                envelope = _decode(response, what)
            if envelope.code != 0 and envelope.code not in accept:
                raise error_for(envelope, what, response.url)
            return envelope

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(1 if upload is not None else self.retry_count + 1),
            wait=_Backoff(deadline),
            retry=tenacity.retry_if_exception(lambda e: _retryable(e, create=create)),
            reraise=True,
            before_sleep=lambda rs: log.debug(
                "retrying %s after %s",
                what,
                type(rs.outcome.exception() if rs.outcome else None).__name__,
            ),
        )
        try:
            return retrying(once)
        except ComfyKitError as exc:
            _forget_request_bodies(exc)
            raise

    # -- workflows and tasks ---------------------------------------------------------------
    def workflow_json(self, workflow_id: str) -> str:
        """The API-format JSON text of a stored workflow (``getJsonApiFormat``)."""
        what = f"fetching RunningHub workflow {workflow_id}"
        data = self.call(
            "/api/openapi/getJsonApiFormat", {"workflowId": workflow_id}, what=what
        ).data
        prompt = data.get("prompt") if isinstance(data, Mapping) else None
        if isinstance(prompt, Mapping):  # tolerate an already-decoded object
            prompt = json.dumps(prompt)
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidResponseError(f"{what}: the reply holds no workflow JSON (data.prompt)")
        return prompt

    def create(
        self,
        workflow_id: str,
        node_info: Sequence[Mapping[str, Any]],
        *,
        instance_type: str | None,
        webhook_url: str | None,
        deadline: float | None,
    ) -> CreatedTask:
        """Create a task (``/task/openapi/create``); never repeated after an ambiguous failure."""
        fields: dict[str, Any] = {"workflowId": workflow_id}
        if node_info:
            fields["nodeInfoList"] = list(node_info)
        if instance_type:
            fields["instanceType"] = instance_type
        if webhook_url:
            fields["webhookUrl"] = webhook_url
        what = f"creating a task of RunningHub workflow {workflow_id}"
        envelope = self.call(
            "/task/openapi/create", fields, what=what, create=True, deadline=deadline
        )
        data = envelope.data if isinstance(envelope.data, Mapping) else {}
        task_id = id_text(data.get("taskId"))
        if task_id is None:
            raise InvalidResponseError(
                f"{what}: the reply holds no taskId: {json.dumps(envelope.data)[:200]}"
            )
        status = data.get("taskStatus")
        return CreatedTask(task_id, status if isinstance(status, str) else None, _node_errors(data))

    def status(self, task_id: str, *, timeout: tuple[float, float] | None = None) -> str:
        """The task's state: ``QUEUED``, ``RUNNING``, ``SUCCESS``, ``FAILED`` or anything else."""
        envelope = self.call(
            "/task/openapi/status",
            {"taskId": task_id},
            what=f"reading the status of RunningHub task {task_id}",
            timeout=timeout,
        )
        data = envelope.data
        return data.strip().upper() if isinstance(data, str) else ""

    def outputs(self, task_id: str, *, timeout: tuple[float, float] | None = None) -> Envelope:
        """The outputs reply: code 0 (finished), 804/813 (running/queued) or 805 (failed)."""
        return self.call(
            "/task/openapi/outputs",
            {"taskId": task_id},
            what=f"reading the outputs of RunningHub task {task_id}",
            accept=frozenset({TASK_RUNNING, TASK_FAILED, TASK_QUEUED}),
            timeout=timeout,
        )

    def cancel(self, task_id: str) -> bool:
        """Cancel the task; False when RunningHub does not know it."""
        try:
            self.call(
                "/task/openapi/cancel",
                {"taskId": task_id},
                what=f"cancelling RunningHub task {task_id}",
            )
        except NotFoundError:
            return False
        return True

    # -- files -----------------------------------------------------------------------------
    def upload(self, source: UploadSource) -> str:
        """Stream a file to ``/task/openapi/upload``; return the ``fileName`` RunningHub gives."""
        with open_media(source, self.http, max_bytes=MAX_UPLOAD_BYTES) as media:
            what = f"uploading {media.filename!r} to RunningHub"
            if media.size > MAX_UPLOAD_BYTES:
                raise UploadTooLargeError(
                    f"{what}: the file is {media.size} bytes, over RunningHub's 30 MB limit; "
                    "host it publicly and pass its URL as the loader node's value instead"
                )
            body = MultipartStream(
                {"apiKey": self._api_key},
                file_field="file",
                filename=media.filename,
                fileobj=media.fileobj,
                size=media.size,
                content_type=media.content_type,
            )
            data = self.call("/task/openapi/upload", what=what, upload=body).data
        data = data if isinstance(data, Mapping) else {}
        name = data.get("fileName") or data.get("url")
        if not isinstance(name, str) or not name:
            raise InvalidResponseError(f"{what}: the reply holds no fileName")
        if not data.get("fileName"):
            log.warning("%s: no fileName in the reply, using its url", what)
        return name

    def download_text(self, url: str, *, timeout: tuple[float, float] | None = None) -> str:
        """The content of a text output file (a CDN URL: no credentials are attached)."""
        response = self.http.request(
            "GET", url, what="downloading a RunningHub text output", stream=True, timeout=timeout
        )
        data = bytearray()
        with response:
            for chunk in iter_body(response, "downloading a RunningHub text output", 64 * 1024):
                data += chunk
                if len(data) > TEXT_LIMIT:
                    raise InvalidResponseError(f"the text output at {url} is over 4 MiB")
        return data.decode("utf-8", errors="replace").strip()


class _Backoff(tenacity.wait.wait_base):
    """Exponential backoff from ``BACKOFF`` seconds, never past the deadline."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.backoff = tenacity.wait_exponential(multiplier=BACKOFF, max=BACKOFF_MAX)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        wait = self.backoff(retry_state)
        if self.deadline is not None:
            wait = min(wait, max(0.0, self.deadline - time.monotonic()))
        return wait


def _node_errors(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node_errors`` of the create reply's ``promptTips`` (a JSON string, or an object)."""
    tips = data.get("promptTips")
    if isinstance(tips, str):
        try:
            tips = json.loads(tips)
        except ValueError:
            log.debug("ignoring undecodable promptTips")
            return {}
    errors = tips.get("node_errors") if isinstance(tips, Mapping) else None
    return errors if isinstance(errors, Mapping) else {}
