"""Backend ``runninghub``: run stored RunningHub workflows in the cloud (runninghub-protocol.md).

The kit binds parameters on the workflow's API JSON exactly as for a local ComfyUI (same DSL,
same parameter errors). This backend sends only the difference: every (node, input) whose value
the parameters or the seed randomisation changed becomes one ``nodeInfoList`` entry, so caller
values, fanned-out parameters, uploads and random seeds all travel the same way.

Waiting polls ``/task/openapi/status`` (``polling``, backoff; an unknown or empty status is
waited on like any other unfinished one); a finished task's ``/task/openapi/outputs`` gives the
files, or for a failed task the ``failedReason`` (node, exception, message) of the error.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import posixpath
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import (
    APIError,
    ConfigurationError,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionTimeout,
    NotFoundError,
    ParameterError,
    TransportError,
    WorkflowValidationError,
)
from ..events import EventCallback, Queued, Started
from ..hookspecs import hookimpl
from ..http import HttpClient, remaining_timeout
from ..models import OutputItem
from ..params import UploadSource, WorkflowSpec, _is_link
from ..polling import poll_job
from .base import Backend, BackendContext, JobState, PreparedJob, RunOutcome, Submission
from .comfyui import describe_node, reported_failure, validation_error
from .runninghub_api import (
    TASK_FAILED,
    TASK_QUEUED,
    TASK_RUNNING,
    CreatedTask,
    RunningHubAPI,
    error_code,
    id_text,
    require_api_key,
)

log = logging.getLogger(__name__)

#: shortest pause between status polls (a cloud API: no 20 ms polling)
MIN_POLL_INTERVAL = 0.5
#: how many cancelled task ids are remembered (to report their end as a cancellation)
CANCELLED_MEMORY = 1024
FINAL_STATES = frozenset({"SUCCESS", "FAILED"})
TEXT_TYPES = frozenset({"txt", "text", "json", "xml"})
_MISSING = object()


def node_info_list(job: PreparedJob) -> list[dict[str, Any]]:
    """``nodeInfoList`` entries for every input the binding or seed randomisation changed.

    Raises ``ParameterError`` for a value bound to an input that is a link in the stored
    workflow: RunningHub does not document replacing links (spec §6).
    """
    entries: list[dict[str, Any]] = []
    for node_id, node in job.graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        before_node = job.workflow.graph.get(node_id)
        before = before_node.get("inputs") if isinstance(before_node, Mapping) else None
        before = before if isinstance(before, Mapping) else {}
        for field, value in (inputs or {}).items():
            old = before.get(field, _MISSING)
            if type(old) is type(value) and old == value:
                continue
            if _is_link(old):
                param = job.spec.param_for(node_id, field)
                raise ParameterError(
                    f"parameter {param!r} writes to input {field!r} of node {node_id}, which is "
                    f"linked to node {old[0]} in the RunningHub workflow; RunningHub can only "
                    "override literal inputs",
                    params=(param,) if param else (),
                )
            entries.append({"nodeId": node_id, "fieldName": field, "fieldValue": value})
    return entries


def task_failure(task_id: str, data: Any, spec: WorkflowSpec) -> ExecutionError:
    """The error of a failed task from the outputs reply's ``failedReason`` (code 805)."""
    reason = data.get("failedReason") if isinstance(data, Mapping) else None
    if isinstance(reason, str):
        try:
            reason = json.loads(reason)
        except ValueError:
            pass
    if not isinstance(reason, Mapping):
        text = str(reason).strip() if reason not in (None, "") else "RunningHub gave no reason"
        return ExecutionError(f"RunningHub task {task_id} failed: {text}", prompt_id=task_id)
    node_id = id_text(reason.get("node_id"))
    node_type = reason.get("node_name") if isinstance(reason.get("node_name"), str) else None
    where = (
        describe_node(spec, {node_id: {"class_type": node_type}}, node_id) if node_id else "a node"
    )
    report = {  # ComfyUI's execution_error shape; RunningHub JSON-encodes the nested fields
        **reason,
        "node_id": node_id,
        "node_type": node_type,
        "traceback": _lines(reason.get("traceback")),
        "current_inputs": _decoded(reason.get("current_inputs")),
        "current_outputs": _decoded(reason.get("current_outputs")),
    }
    return reported_failure(
        report, prompt_id=task_id, where=where, prefix=f"RunningHub task {task_id}: "
    )


def _decoded(value: Any) -> Any:
    """A JSON-encoded string decoded (anything else as it is)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _lines(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return (value,)
    return tuple(str(line) for line in value) if isinstance(value, list) else ()


def _filename(url: str, file_type: str) -> str:
    name = posixpath.basename(unquote(urlsplit(url).path)) or "output"
    if not posixpath.splitext(name)[1] and file_type.isalnum():
        name += f".{file_type}"
    return name


def _mime(file_type: str) -> str | None:
    """A MIME type for ``fileType`` (an extension, a MIME type or a word such as ``image``)."""
    if "/" in file_type:
        return file_type
    guessed = mimetypes.guess_type(f"output.{file_type}")[0] if file_type.isalnum() else None
    if guessed:
        return guessed
    return next((f"{w}/" for w in ("image", "video", "audio", "text") if w in file_type), None)


class RunningHubBackend(Backend):
    """Runs workflows stored on RunningHub (loaded by id, ``runninghub:<id>`` or pointer file)."""

    name = "runninghub"
    capabilities = frozenset({"upload", "cancel", "reattach"})

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        config = context.config
        api_key = require_api_key(config)
        self.http = HttpClient(config.runninghub_url, timeout=config.request_timeout)
        self.api = RunningHubAPI(self.http, api_key, retry_count=config.runninghub_retry_count)
        self._cancelled: dict[str, None] = {}  # tasks we cancelled (the latest CANCELLED_MEMORY)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RunningHubBackend({self.http.base_url!r})"

    @property
    def default_timeout(self) -> float:
        return self.context.config.runninghub_timeout

    def upload(self, source: UploadSource) -> str:
        return self.api.upload(source)

    def submit(self, job: PreparedJob) -> Submission:
        config = self.context.config
        workflow_id = job.workflow.source_id if job.workflow.backend == self.name else None
        if not workflow_id:
            raise ConfigurationError(
                "the runninghub backend runs workflows stored on RunningHub: pass a workflow id "
                "('1953270871002394625'), 'runninghub:<id>' or a RunningHub pointer file"
            )
        entries = node_info_list(job)
        try:
            task = self.api.create(
                workflow_id,
                entries,
                instance_type=config.runninghub_instance_type,
                webhook_url=config.runninghub_webhook_url,
                deadline=time.monotonic() + config.runninghub_timeout,
            )
        except WorkflowValidationError as exc:
            raise _name_overrides(exc, job, entries) from exc
        log.debug("created RunningHub task %s with %d override(s)", task.task_id, len(entries))
        return self._checked(job, task)

    def _checked(self, job: PreparedJob, task: CreatedTask) -> Submission:
        """Fail (cancelling the task) or warn when ``promptTips`` reports ``node_errors``."""
        if not task.node_errors:
            return Submission(task.task_id)
        error = validation_error(
            {"node_errors": task.node_errors},
            job.spec,
            job.graph,
            status_code=200,
            url=self.http.url("/task/openapi/create"),
        )
        error.prompt_id = task.task_id
        if self.context.config.on_node_errors == "warn":
            log.warning("%s (RunningHub task %s runs without those outputs)", error, task.task_id)
            return Submission(task.task_id, warnings=(str(error),))
        try:
            self.api.cancel(task.task_id)
        except (APIError, TransportError) as exc:
            log.warning("could not cancel partially invalid task %s: %s", task.task_id, exc)
        raise error

    def check_job_id(self, prompt_id: str) -> None:
        """A RunningHub task id is digits."""
        if not prompt_id.isascii() or not prompt_id.isdigit():
            raise ParameterError(
                f"prompt_id {prompt_id!r} is not a RunningHub task id (digits)",
                params=("prompt_id",),
            )

    def status(self, prompt_id: str) -> JobState:
        try:
            state = self.api.status(prompt_id)
        except NotFoundError:
            return JobState("unknown")
        if state == "RUNNING":
            return JobState("running")
        if state in FINAL_STATES:
            return JobState("completed" if state == "SUCCESS" else "failed")
        return JobState("pending")

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        waiter = _TaskWaiter(
            self, prompt_id, spec or WorkflowSpec(), deadline, queue_deadline, emit
        )
        return poll_job(
            waiter.check,
            prompt_id=prompt_id,
            deadline=deadline,
            max_interval=self.context.config.poll_max_interval,
            min_interval=MIN_POLL_INTERVAL,
            label="RunningHub task",
        )

    def outputs(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        timeout: tuple[float, float] | None = None,
    ) -> RunOutcome | None:
        """The outcome from ``/task/openapi/outputs``; ``None`` while queued or running.

        Without a ``spec`` (a re-attached job) outputs are named by node id.
        """
        spec = spec or WorkflowSpec()
        envelope = self.api.outputs(prompt_id, timeout=timeout)
        if envelope.code in (TASK_RUNNING, TASK_QUEUED):
            return None
        if envelope.code == TASK_FAILED:
            error = task_failure(prompt_id, envelope.data, spec)
            return self.failed(prompt_id, error, envelope.data)
        data = envelope.data if isinstance(envelope.data, list) else []
        items = self._items(data, spec, timeout)
        return RunOutcome(prompt_id, {"raw_data": envelope.data}, items=items)

    def failed(self, prompt_id: str, error: ExecutionError, data: Any = None) -> RunOutcome:
        """The outcome of a failed task; one we cancelled is reported as interrupted."""
        with self._lock:
            cancelled = prompt_id in self._cancelled
            self._cancelled.pop(prompt_id, None)
        if cancelled:
            interrupted = ExecutionInterrupted(
                f"RunningHub task {prompt_id} was cancelled", prompt_id=prompt_id
            )
            interrupted.__cause__ = error
            error = interrupted
        return RunOutcome(prompt_id, {"raw_data": data}, error=error)

    def _items(
        self, data: list[Any], spec: WorkflowSpec, timeout: tuple[float, float] | None
    ) -> tuple[OutputItem, ...]:
        """One item per output file: texts downloaded (without credentials), files by URL."""
        items: list[OutputItem] = []
        for index, entry in enumerate(data):
            url = entry.get("fileUrl") if isinstance(entry, Mapping) else None
            if not isinstance(url, str) or not url:
                continue  # stays in the raw outputs
            node_id = id_text(entry.get("nodeId")) or str(index)
            var = spec.output_var(node_id)
            file_type = str(entry.get("fileType") or "").strip().lower()
            filename = _filename(url, file_type)
            ext = posixpath.splitext(filename)[1][1:].lower()
            if (
                file_type in TEXT_TYPES
                or "text" in file_type
                or (not file_type and ext in TEXT_TYPES)
            ):
                text = self._text(url, node_id, timeout)
                if text is not None:
                    items.append(OutputItem(node_id, "text", text, var, entry, url))
                    continue
            record = {"filename": filename, "format": _mime(file_type or ext)}
            items.append(OutputItem(node_id, "file", record, var, entry, url))
        return tuple(items)

    def _text(self, url: str, node_id: str, timeout: tuple[float, float] | None) -> str | None:
        try:
            return self.api.download_text(url, timeout=timeout)
        except (APIError, TransportError) as exc:
            log.warning("text output of node %s is returned as a file: %s", node_id, exc)
            return None

    def cancel(self, prompt_id: str) -> bool:
        try:
            if self.api.status(prompt_id) in FINAL_STATES:
                return False
        except NotFoundError:
            return False
        with self._lock:
            self._cancelled[prompt_id] = None
            while len(self._cancelled) > CANCELLED_MEMORY:
                del self._cancelled[next(iter(self._cancelled))]
        try:
            if self.api.cancel(prompt_id):
                return True
        except (APIError, TransportError):
            self._forget_cancel(prompt_id)
            raise
        self._forget_cancel(prompt_id)
        return False

    def server_for(self, prompt_id: str) -> str | None:
        return self.http.base_url

    def _forget_cancel(self, prompt_id: str) -> None:
        with self._lock:
            self._cancelled.pop(prompt_id, None)

    def close(self) -> None:
        self.http.close()


class _TaskWaiter:
    """One wait: polls the status, emits ``Queued``/``Started`` once, checks the queue deadline."""

    def __init__(
        self,
        backend: RunningHubBackend,
        task_id: str,
        spec: WorkflowSpec,
        deadline: float,
        queue_deadline: float | None,
        emit: EventCallback | None,
    ) -> None:
        self.backend, self.task_id, self.spec = backend, task_id, spec
        self.deadline, self.queue_deadline = deadline, queue_deadline
        self.emit: EventCallback = emit or (lambda event: None)
        self.seen: set[str] = set()

    def check(self) -> RunOutcome | None:
        timeout = remaining_timeout(self.backend.http.timeout, self.deadline)
        state = self.backend.api.status(self.task_id, timeout=timeout)
        first = state not in self.seen
        self.seen.add(state)
        if state == "QUEUED":
            if first:
                self.emit(Queued(self.task_id))
            if self.queue_deadline is not None and time.monotonic() >= self.queue_deadline:
                raise ExecutionTimeout(
                    f"RunningHub task {self.task_id} was still queued at its queue deadline",
                    prompt_id=self.task_id,
                    deadline="queue",
                )
        elif state == "RUNNING":
            if first:
                self.emit(Started(self.task_id))
        elif state in FINAL_STATES:
            outcome = self.backend.outputs(self.task_id, self.spec, timeout=timeout)
            if outcome is None and state == "FAILED":
                error = ExecutionError(
                    f"RunningHub task {self.task_id} failed (RunningHub gave no reason)",
                    prompt_id=self.task_id,
                )
                return self.backend.failed(self.task_id, error)
            return outcome
        elif first:
            log.debug("RunningHub task %s reports status %r; waiting", self.task_id, state)
        return None


def _name_overrides(
    error: WorkflowValidationError, job: PreparedJob, entries: list[dict[str, Any]]
) -> WorkflowValidationError:
    """Add which parameters were sent to a 803 (nodeInfoList does not match the workflow)."""
    if error_code(error) != 803 or not entries:
        return error
    labels: list[str] = []
    params: dict[str, str] = {}
    for entry in entries:
        node_id, field = entry["nodeId"], entry["fieldName"]
        param = job.spec.param_for(node_id, field)
        labels.append(f"{param or 'randomised seed'} (node {node_id} input {field!r})")
        if param:
            params[param] = f"RunningHub refused node {node_id} input {field!r}"
    return WorkflowValidationError(
        f"{error}; values were sent for {', '.join(labels)}",
        param_errors=params,
        status_code=error.status_code,
        url=error.url,
        body=error.body,
    )


@hookimpl(trylast=True)
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(RunningHubBackend)
