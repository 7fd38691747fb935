"""ComfyUI REST calls shared by the HTTP and WebSocket backends (spec: comfyui-protocol.md)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .._naming import rejection
from .._targets import upstream
from ..errors import (
    APIError,
    ComfyKitError,
    ExecutionError,
    ExecutionInterrupted,
    InvalidResponseError,
    NotFoundError,
    RequestTimeout,
    SubmissionUnknownError,
    TransportError,
)
from ..http import HttpClient
from ..media_source import open_media
from ..models import OutputItem
from ..multipart import MultipartStream
from ..params import UploadSource
from ..polling import TRANSIENT_ERRORS, DeadlineExceeded, poll
from ._queue_watch import QueueWatch
from .base import JobState, PreparedJob, RunOutcome, Submission

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)

#: the first interval between two looks for a prompt whose submit reply was lost
RESOLVE_MIN_INTERVAL = 0.05
#: UI-output keys that carry flags about other items rather than items of their own
FLAG_KEYS = frozenset({"animated"})


def describe_node(graph: Mapping[str, Any], node_id: str) -> str:
    """``node 3 (KSampler)``, for messages (the kit adds the DSL parameters bound to it)."""
    node = graph.get(node_id)
    class_type = node.get("class_type") if isinstance(node, Mapping) else None
    return f"node {node_id}" + (f" ({class_type})" if class_type else "")


#: ``execution_error`` reports of this type are notices: the run goes on (spec §7.2)
BLOCKED = "ExecutionBlocked"
#: longest exception text kept in an error's one-line message (the field keeps all of it)
SUMMARY_CHARS = 200


def execution_error(prompt_id: str, entry: Mapping[str, Any]) -> ExecutionError | None:
    """Classify a finished history entry (spec §5): ``None`` on success, else the error.

    The recorded messages decide, not ``status_str`` alone: ComfyUI 0.3.64 records a failure
    found between nodes (a dependency cycle created by a node's expansion) as an
    ``execution_error`` under ``status_str: "success"``, ``completed: true``.
    """
    status = as_mapping(entry.get("status"))
    messages = [
        (m[0], m[1])
        for m in status.get("messages") or []
        if isinstance(m, (list, tuple)) and len(m) == 2 and isinstance(m[1], Mapping)
    ]
    graph = _entry_graph(entry)
    for name, data in messages:
        if name == "execution_interrupted":
            node = _text(data.get("node_id"))
            where = f" at {describe_node(graph, node)}" if node else ""
            return ExecutionInterrupted(
                f"the prompt was interrupted on the server{where}",
                prompt_id=prompt_id,
                node_id=node,
                node_type=_text(data.get("node_type")),
                executed=_texts(data.get("executed")),
                timestamp=_timestamp(data.get("timestamp")),
            )
    for name, data in messages:
        if name == "execution_error" and data.get("exception_type") != BLOCKED:
            node = _text(data.get("node_id"))
            where = describe_node(graph, node) if node else "a node"
            return reported_failure(data, prompt_id=prompt_id, where=where)
    if status.get("status_str") == "error":
        return ExecutionError(
            "the prompt failed on the server (no error details)", prompt_id=prompt_id
        )
    return None


def reported_failure(
    data: Mapping[str, Any], *, prompt_id: str, where: str, prefix: str = ""
) -> ExecutionError:
    """An ``execution_error`` report as an :class:`ExecutionError` keeping all its fields.

    The message is ``<prefix><where> failed with <type>: <first line of the message>``.
    """
    exc_type = _text(data.get("exception_type")) or "Exception"
    raw = data.get("exception_message")
    raw = None if raw is None else str(raw)
    inputs = data.get("current_inputs")
    return ExecutionError(
        f"{prefix}{where} failed with {exc_type}: {_summary(raw)}",
        prompt_id=prompt_id,
        node_id=_text(data.get("node_id")),
        node_type=_text(data.get("node_type")),
        exception_type=exc_type,
        exception_message=raw,
        traceback=_texts(data.get("traceback")),
        executed=_texts(data.get("executed")),
        current_inputs=inputs if isinstance(inputs, Mapping) else None,
        current_outputs=_texts(data.get("current_outputs")),
        timestamp=_timestamp(data.get("timestamp")),
    )


def _summary(message: str | None) -> str:
    """The first non-blank line of an exception message, shortened: one line for ``str()``."""
    line = next((ln.strip() for ln in (message or "").splitlines() if ln.strip()), "")
    if not line:
        return "(no message)"
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when the server sent an object there, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


def _timestamp(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _may_still_be_handled(failure: ComfyKitError) -> bool:
    """Whether the server may still be handling a request that failed so (it timed out)."""
    return isinstance(failure, RequestTimeout) or getattr(failure, "status_code", None) == 504


def ran_outputs(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The history ``outputs`` of the nodes the prompt was to run.

    ComfyUI lists the cached UI output of every node of the graph whose inputs match an earlier
    run, also of output nodes this prompt did not run (not among its
    ``partial_execution_targets``, or failed validation). Those are left out: only the
    prompt's ``outputs_to_execute`` (``prompt[4]``) and the nodes they depend on count. Nodes
    created by expansion count through their ``meta`` display or parent node.
    """
    outputs = as_mapping(entry.get("outputs"))
    prompt = entry.get("prompt")
    graph = _entry_graph(entry)
    to_execute = prompt[4] if isinstance(prompt, (list, tuple)) and len(prompt) > 4 else None
    if not graph or not isinstance(to_execute, (list, tuple)):
        return outputs
    targets = [str(node_id) for node_id in to_execute]
    meta = as_mapping(entry.get("meta"))

    def anchor(node_id: str) -> str | None:
        """The node of the submitted graph an output belongs to (``None``: cannot tell)."""
        node_meta = as_mapping(meta.get(node_id))
        candidates = (node_id, node_meta.get("display_node"), node_meta.get("parent_node"))
        return next((str(c) for c in candidates if c is not None and str(c) in graph), None)

    ran: dict[str, Any] = {}
    needed: set[str] | None = None  # the targets and what they depend on, walked if needed
    for node_id, output in outputs.items():
        owner = anchor(str(node_id))
        if owner is not None and owner not in targets:
            needed = upstream(graph, targets) if needed is None else needed
            if owner not in needed:
                continue
        ran[node_id] = output
    return ran


def _entry_graph(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    prompt = entry.get("prompt")
    if isinstance(prompt, (list, tuple)) and len(prompt) > 2 and isinstance(prompt[2], Mapping):
        return prompt[2]
    return {}


class ComfyUIClient:
    """Typed wrappers of the ComfyUI endpoints the backends use.

    ``last_queue`` is what the last ``/queue`` read saw: (``time.monotonic()`` when it was
    asked, pending + running items). ``lost_after`` (set by a pool) is how long the server may
    refuse connections while prompts are waited for before they are reported lost.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        client_id: str,
        comfy_org_api_key: str | None,
        upload_subfolder: str = "",
    ) -> None:
        self.http = http
        self.client_id = client_id
        self.comfy_org_api_key = comfy_org_api_key
        self.upload_subfolder = upload_subfolder
        self._watch: QueueWatch | None = None
        self._watch_lock = threading.Lock()
        self._output_classes: dict[str, bool] = {}
        self._classes_lock = threading.Lock()
        self._jobs_api: bool | None = None
        self.last_queue: tuple[float, int] | None = None
        self.lost_after: float | None = None

    def queue_watch(self, max_interval: float) -> QueueWatch:
        """The shared watcher of this client's in-flight prompts (created on first use)."""
        with self._watch_lock:
            if self._watch is None:
                self._watch = QueueWatch(self, max_interval=max_interval)
            return self._watch

    # -- submission -------------------------------------------------------------------------
    def submit(
        self, job: PreparedJob, *, deadline: float, max_interval: float
    ) -> tuple[str, Mapping[str, Any]]:
        """``POST /prompt``; return (prompt_id, node_errors of a 200).

        A failure after which the server may have queued the prompt (a lost reply, a gateway
        error) is resolved by the client-minted id: the server is asked (``/queue``,
        ``/history``, with backoff until it answers or ``deadline``) whether it has the prompt.
        Found: the job goes on. Not found: sent once more, and after a second such failure the
        failure is raised (the server does not have the prompt). After a timeout (a read
        timeout, a gateway's 504) the server may still be working on the request, so it is never
        sent again: the server is asked until the prompt shows up. Unresolved by the deadline:
        ``SubmissionUnknownError`` with the id, since the prompt may have been queued.
        """
        body: dict[str, Any] = {
            "prompt": job.graph,
            "client_id": self.client_id,
            "prompt_id": job.prompt_id,
        }
        if self.comfy_org_api_key:
            body["extra_data"] = {"api_key_comfy_org": self.comfy_org_api_key}
        if job.targets is not None:
            body["partial_execution_targets"] = list(job.targets)
        for attempt in range(2):
            try:
                reply = self.http.json(
                    "POST",
                    "/prompt",
                    json=body,
                    what="submitting the workflow",
                    idempotent=False,
                    deadline=deadline,
                )
                break
            except APIError as exc:
                if exc.status_code == 400:
                    raise rejection(exc.body, status_code=400, url=exc.url) from exc
                if not (exc.status_code and exc.status_code >= 502):
                    raise
                failure: ComfyKitError = exc
            except TransportError as exc:
                if exc.sent is False:
                    raise  # already retried inside the HTTP client when nothing was sent
                failure = exc
            if self._resolve(
                job.prompt_id,
                failure,
                deadline=deadline,
                max_interval=max_interval,
                until_found=_may_still_be_handled(failure),
            ):
                return job.prompt_id, {}
            if attempt:
                raise failure  # the server says it does not have the prompt: it was not queued
        if not isinstance(reply, Mapping) or not reply.get("prompt_id"):
            raise InvalidResponseError(f"POST /prompt replied without a prompt_id: {reply!r:.200}")
        return str(reply["prompt_id"]), reply.get("node_errors") or {}

    def _resolve(
        self,
        prompt_id: str,
        failure: ComfyKitError,
        *,
        deadline: float,
        max_interval: float,
        until_found: bool,
    ) -> bool:
        """Whether the server has the prompt after an ambiguous submit ``failure``.

        Transient errors are retried with backoff until ``deadline``. ``False`` (the server says
        it does not have it) only when not ``until_found``; otherwise the server is asked until
        it lists the prompt. ``SubmissionUnknownError`` when the deadline passes first.
        """

        errors: list[BaseException] = []  # of requests that were sent

        def check() -> bool | None:
            if time.monotonic() >= deadline:  # nothing would be sent: keep the last real error
                raise DeadlineExceeded(errors[-1] if errors else None)
            try:
                if self.is_known(prompt_id):
                    return True
            except TRANSIENT_ERRORS as exc:
                errors.append(exc)
                raise
            return None if until_found else False

        cause: BaseException | None
        try:
            return poll(
                check,
                deadline=deadline,
                min_interval=RESOLVE_MIN_INTERVAL,
                max_interval=max_interval,
            )
        except DeadlineExceeded as exc:
            cause = exc.last_error
            if cause is None:
                why = "the server did not list it (it may still be handling the request)"
            else:
                why = f"the server could not be asked ({cause})"
        except (APIError, TransportError) as exc:
            cause, why = exc, f"asking the server failed ({exc})"
        error = SubmissionUnknownError(
            f"{failure}; prompt {prompt_id} may have been queued and may run: {why} before the "
            f"job's deadline. Look it up with kit.job({prompt_id!r}) rather than submitting "
            "again",
            prompt_id=prompt_id,
            url=getattr(failure, "url", None),
        )
        raise error from cause or failure

    def is_known(self, prompt_id: str) -> bool:
        """Whether the server has the prompt queued, running or in history."""
        running, pending = self.queue()
        return prompt_id in running or prompt_id in pending or self.history(prompt_id) is not None

    def node_definition(
        self, class_type: str, *, timeout: tuple[float, float] | None = None
    ) -> Mapping[str, Any] | None:
        """``/object_info/{class}`` of one node class, read once (``None``: not listed)."""
        reply = self.http.json(
            "GET",
            f"/object_info/{quote(class_type, safe='')}",
            what=f"reading the definition of node class {class_type!r}",
            attempts=1,
            timeout=timeout,
        )
        info = reply.get(class_type) if isinstance(reply, Mapping) else None
        return info if isinstance(info, Mapping) else None

    def output_node_classes(self, class_types: Collection[str]) -> dict[str, bool]:
        """``output_node`` of each class from ``/object_info/{class}`` (remembered; a class the
        server does not list, or a failed request, is left out)."""
        with self._classes_lock:
            known = {c: self._output_classes[c] for c in class_types if c in self._output_classes}
        for class_type in sorted(set(class_types) - set(known)):
            try:
                info = self.node_definition(class_type)
            except TransportError as exc:  # unreachable: the submit will say so
                log.debug("cannot tell whether %s is an output node: %s", class_type, exc)
                break
            except ComfyKitError as exc:
                log.debug("cannot tell whether %s is an output node: %s", class_type, exc)
                continue
            flag = info.get("output_node") if isinstance(info, Mapping) else None
            if isinstance(flag, bool):
                known[class_type] = flag
                with self._classes_lock:
                    self._output_classes[class_type] = flag
        return known

    # -- state ------------------------------------------------------------------------------
    def history(self, prompt_id: str) -> Mapping[str, Any] | None:
        """The history entry of a finished prompt, or ``None`` while unknown/unfinished."""
        reply = self.http.json(
            "GET",
            f"/history/{quote(prompt_id, safe='')}",
            what="reading the history",
        )
        if not isinstance(reply, Mapping):
            raise InvalidResponseError(f"GET /history replied with {type(reply).__name__}")
        entry = reply.get(prompt_id)
        return entry if isinstance(entry, Mapping) else None

    def recent_history(self, max_items: int) -> dict[str, Mapping[str, Any]]:
        """The newest ``max_items`` history entries by prompt id (``GET /history?max_items``)."""
        reply = self.http.json(
            "GET", f"/history?max_items={max_items}", what="reading the recent history"
        )
        if not isinstance(reply, Mapping):
            raise InvalidResponseError(f"GET /history replied with {type(reply).__name__}")
        return {str(k): v for k, v in reply.items() if isinstance(v, Mapping)}

    def queue(self) -> tuple[list[str], list[str]]:
        """(running ids, pending ids in run order)."""
        asked = time.monotonic()
        reply = self.http.json("GET", "/queue", what="reading the queue")
        if not isinstance(reply, Mapping):
            raise InvalidResponseError("GET /queue did not reply with an object")

        def items(key: str) -> list[Sequence[Any]]:
            return [i for i in reply.get(key) or [] if isinstance(i, (list, tuple)) and len(i) > 1]

        running = [str(item[1]) for item in items("queue_running")]
        pending = sorted(
            items("queue_pending"), key=lambda i: i[0] if isinstance(i[0], (int, float)) else 0
        )
        self.last_queue = (asked, len(running) + len(pending))
        return running, [str(item[1]) for item in pending]

    def state(self, prompt_id: str) -> JobState:
        running, pending = self.queue()
        if prompt_id in running:
            return JobState("running")
        if prompt_id in pending:
            return JobState("pending", position=pending.index(prompt_id))
        entry = self.history(prompt_id)
        if entry is None:
            return JobState("unknown")
        failed = execution_error(prompt_id, entry) is not None
        return JobState("failed" if failed else "completed")

    def features(self) -> Mapping[str, Any]:
        """The server's feature flags (``GET /features``; empty on a server without them)."""
        try:
            reply = self.http.json(
                "GET", "/features", what="reading the server features", attempts=1
            )
        except NotFoundError:
            return {}
        return reply if isinstance(reply, Mapping) else {}

    def jobs_api(self) -> bool:
        """Whether the server has the ``/api/jobs`` routes (ComfyUI after 0.3.64).

        Probed once with ``GET /api/jobs?limit=1`` (a server without them answers 404, or 405
        behind its static file route); a probe that fails otherwise is not remembered.
        """
        if self._jobs_api is None:
            try:
                self.http.request(
                    "GET", "/api/jobs?limit=1", what="probing the jobs API", attempts=1
                ).close()
            except APIError as exc:
                if exc.status_code not in (404, 405):
                    raise
                self._jobs_api = False
            else:
                self._jobs_api = True
        return self._jobs_api

    def cancel(self, prompt_id: str) -> bool:
        """Cancel only this prompt: ``POST /api/jobs/{id}/cancel`` where the server has it
        (it says whether anything was cancelled), else dequeue it if pending and interrupt it
        if running (spec §4 guidance)."""
        try:
            jobs_api = self.jobs_api()
        except ComfyKitError as exc:
            log.debug("cannot tell whether %s has the jobs API: %s", self.http.base_url, exc)
            jobs_api = False
        if jobs_api:
            reply = self.http.json(
                "POST",
                f"/api/jobs/{quote(prompt_id, safe='')}/cancel",
                what="cancelling the job",
                idempotent=True,
            )
            return isinstance(reply, Mapping) and reply.get("cancelled") is True
        running, pending = self.queue()
        if prompt_id in pending:
            self.http.request(
                "POST",
                "/queue",
                json={"delete": [prompt_id]},
                what="deleting the prompt from the queue",
                idempotent=True,
            )
            return True
        if prompt_id in running:
            self.http.request(
                "POST",
                "/interrupt",
                json={"prompt_id": prompt_id},
                what="interrupting the prompt",
                idempotent=True,
            )
            return True
        return False

    # -- media ------------------------------------------------------------------------------
    def upload(self, source: UploadSource) -> str:
        """Stream a file to ``/upload/image``; return the value for the loader node's input."""
        with open_media(source, self.http) as media:
            body = MultipartStream(
                {"type": "input", "subfolder": self.upload_subfolder, "overwrite": "false"},
                file_field="image",
                filename=media.filename,
                fileobj=media.fileobj,
                size=media.size,
                content_type=media.content_type,
            )
            reply = self.http.json(
                "POST",
                "/upload/image",
                data=body,
                headers={"Content-Type": body.content_type},
                what=f"uploading {media.filename!r}",
            )
        if not isinstance(reply, Mapping) or not reply.get("name"):
            raise InvalidResponseError(f"POST /upload/image replied without a name: {reply!r:.200}")
        value = str(reply["name"])
        if reply.get("subfolder"):
            value = f"{reply['subfolder']}/{value}"
        if reply.get("type", "input") != "input":
            value += f" [{reply['type']}]"
        return value

    def view_url(self, record: Mapping[str, Any]) -> str:
        """The percent-encoded ``/view`` URL of a file record."""
        query = urlencode(
            {
                "filename": str(record.get("filename", "")),
                "subfolder": str(record.get("subfolder") or ""),
                "type": str(record.get("type") or "output"),
            }
        )
        return f"{self.http.base_url}/view?{query}"

    # -- results ----------------------------------------------------------------------------
    def outcome(self, prompt_id: str, entry: Mapping[str, Any]) -> RunOutcome:
        """Build the run outcome from history.

        Each item keeps the id of the node that produced it (the key in ``outputs``: a node
        created by expansion keeps its own id) and its display node (from ``meta``), which the
        kit names it through. The outcome carries the graph the server recorded, which names
        the outputs of a job re-attached without its workflow.
        """
        outputs = ran_outputs(entry)
        meta = as_mapping(entry.get("meta"))
        items: list[OutputItem] = []
        for node_id, node_output in outputs.items():
            if not isinstance(node_output, Mapping):
                continue
            node_meta = as_mapping(meta.get(node_id))
            display = str(node_meta.get("display_node") or node_meta.get("real_node_id") or node_id)
            for key, values in node_output.items():
                if key in FLAG_KEYS:
                    continue
                for value in values if isinstance(values, (list, tuple)) else [values]:
                    url = (
                        self.view_url(value)
                        if isinstance(value, Mapping) and value.get("filename")
                        else None
                    )
                    items.append(
                        OutputItem(
                            node_id=str(node_id),
                            key=key,
                            value=value,
                            node_output=node_output,
                            url=url,
                            display_node=display,
                        )
                    )
        return RunOutcome(
            prompt_id=prompt_id,
            outputs=outputs,
            items=tuple(items),
            error=execution_error(prompt_id, entry),
            graph=_entry_graph(entry) or None,
        )


def submit_once(client: ComfyUIClient, job: PreparedJob, config: Config) -> Submission:
    """Submit; a 200 with ``node_errors`` comes back as the submission's ``rejected`` (the kit
    fails the job or warns)."""
    deadline = job.deadline if job.deadline is not None else time.monotonic() + config.timeout
    prompt_id, node_errors = client.submit(
        job, deadline=deadline, max_interval=config.poll_max_interval
    )
    if not node_errors:
        return Submission(prompt_id)
    rejected = rejection(
        {"node_errors": node_errors}, status_code=200, url=client.http.url("/prompt")
    )
    return Submission(prompt_id, rejected=rejected)
