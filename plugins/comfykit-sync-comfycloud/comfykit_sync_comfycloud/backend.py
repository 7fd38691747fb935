"""Backend ``comfycloud``: run API-format workflows on Comfy Cloud.

The kit parses the DSL and binds parameters as for a local ComfyUI; this backend uploads media
to ``/api/upload/image``, submits the bound graph to ``/api/prompt`` (once: the cloud takes no
client id to look a job up by), polls ``/api/job/{id}/status`` (queued → ``Queued``, running →
``Started``), then reads the outputs and any error from ``/api/jobs/{id}``. A wait with an
``on_event`` listener also follows the account's WebSocket for node and step events
(:mod:`.events`). Output URLs are ``/api/view`` URLs: the kit downloads them with this backend's
client, which sends the API key to the cloud only — the signed storage URL they redirect to is
fetched without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from comfykit_sync import (
    APIError,
    ComfyKitError,
    ExecutionTimeout,
    InsufficientBalanceError,
    NotFoundError,
    PromptLostError,
)
from comfykit_sync.backend import (
    Backend,
    BackendContext,
    EventCallback,
    HttpClient,
    JobState,
    PreparedJob,
    RunOutcome,
    Setting,
    Submission,
    UploadSource,
    WorkflowSpec,
    hookimpl,
    poll_job,
    remaining_timeout,
)
from comfykit_sync.events import Queued, Started

from .api import SUCCEEDED_STATES, CloudAPI, JobStatus
from .events import FINAL_MESSAGES, AccountStream, Listener, event_for
from .results import outcome, validation_error
from .settings import SETTINGS, CloudSettings

log = logging.getLogger(__name__)

#: shortest pause between status polls (a cloud API)
MIN_POLL_INTERVAL = 0.05
#: graphs of submitted jobs kept for node titles in events, newest last
MAX_KEPT_GRAPHS = 256


class ComfyCloudBackend(Backend):
    """Runs workflows on Comfy Cloud (``X-API-Key`` authentication)."""

    name = "comfycloud"
    capabilities = frozenset({"upload", "cancel", "reattach", "events"})

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self.settings = CloudSettings.from_settings(context.config.settings)
        self.http = HttpClient(
            self.settings.url,
            headers={"X-API-Key": self.settings.api_key},
            ws_query={"token": self.settings.api_key},
            timeout=context.config.request_timeout,
        )
        self.api = CloudAPI(self.http)
        self.stream = AccountStream(self.http, connect_timeout=context.config.request_timeout[0])
        self._graphs: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ComfyCloudBackend({self.http.base_url!r})"

    @property
    def default_timeout(self) -> float:
        return self.settings.timeout or self.context.config.timeout

    # -- submission -------------------------------------------------------------------------
    def upload(self, source: UploadSource) -> str:
        return self.api.upload(source)

    def submit(self, job: PreparedJob) -> Submission:
        partner_key = self.context.config.comfy_org_api_key or self.settings.api_key
        body = {"prompt": dict(job.graph), "extra_data": {"api_key_comfy_org": partner_key}}
        deadline = time.monotonic() + self.context.config.request_timeout[1] * 2
        try:
            reply = self.api.submit(body, deadline=deadline)
        except APIError as exc:
            if exc.status_code == 400:
                raise validation_error(exc.body, job.spec, status_code=400, url=exc.url) from exc
            if exc.status_code == 402:
                raise InsufficientBalanceError(
                    f"Comfy Cloud refused the job: no credits left ({exc})",
                    status_code=402,
                    url=exc.url,
                    body=exc.body,
                ) from exc
            raise
        prompt_id = str(reply["prompt_id"])
        with self._lock:
            self._graphs[prompt_id] = job.graph
            while len(self._graphs) > MAX_KEPT_GRAPHS:
                self._graphs.popitem(last=False)
        node_errors = reply.get("node_errors")
        if not node_errors:
            return Submission(prompt_id)
        error = validation_error(
            {"node_errors": node_errors},
            job.spec,
            status_code=200,
            url=self.http.url("/api/prompt"),
        )
        error.prompt_id = prompt_id
        if self.context.config.on_node_errors == "warn":
            return Submission(prompt_id, warnings=(str(error),))
        try:
            self.cancel(prompt_id)
        except ComfyKitError as exc:
            log.warning("could not cancel partially invalid job %s: %s", prompt_id, exc)
        raise error

    # -- state ------------------------------------------------------------------------------
    def status(self, prompt_id: str) -> JobState:
        try:
            state = self.api.status(prompt_id)
        except NotFoundError:
            return JobState("unknown")
        if state.terminal:
            return JobState("completed" if state.status in SUCCEEDED_STATES else "failed")
        return JobState("pending" if state.pending else "running")

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        with self._lock:
            graph = self._graphs.pop(prompt_id, {})
        listener = self.stream.listen(prompt_id) if emit is not None else None
        waiter = _JobWaiter(self, prompt_id, spec or WorkflowSpec(), deadline, queue_deadline, emit)
        waiter.follow(listener, graph)
        try:
            return poll_job(
                waiter.check,
                prompt_id=prompt_id,
                deadline=deadline,
                max_interval=self.context.config.poll_max_interval,
                min_interval=MIN_POLL_INTERVAL,
                label="Comfy Cloud job",
                sleep=waiter.sleep,
            )
        finally:
            if listener is not None:
                self.stream.forget(listener)

    def outputs(self, prompt_id: str, spec: WorkflowSpec | None) -> RunOutcome | None:
        status = self.api.status(prompt_id)
        if not status.terminal:
            return None
        return self.outcome(status, spec or WorkflowSpec())

    def outcome(
        self, status: JobStatus, spec: WorkflowSpec, timeout: tuple[float, float] | None = None
    ) -> RunOutcome:
        """The outcome of a job in a terminal state (its details come from ``/api/jobs/{id}``)."""
        detail: Mapping[str, Any] = {}
        if status.status != "lost":
            detail = self.api.job(status.job_id, timeout=timeout)
        return outcome(status, detail, spec, self.api.view_url)

    def cancel(self, prompt_id: str) -> bool:
        """Dequeue a pending job; interrupt a running one if it is the account's only one.

        Comfy Cloud's ``/api/interrupt`` stops every running job of the account, so a running
        job that shares the account with other running jobs is left alone (``ComfyKitError``).
        """
        try:
            state = self.api.status(prompt_id)
        except NotFoundError:
            return False
        if state.terminal:
            return False
        if self.api.delete_pending(prompt_id):
            return True
        running, _ = self.api.queue()
        if prompt_id not in running:
            return False  # it finished (or was dequeued) in the meantime
        others = [job for job in running if job != prompt_id]
        if others:
            raise ComfyKitError(
                f"Comfy Cloud job {prompt_id} is running beside {len(others)} other job(s) of "
                "this account, and Comfy Cloud can only interrupt all of them at once: not "
                "cancelled"
            )
        self.api.interrupt()
        return True

    def close(self) -> None:
        self.stream.close()
        self.http.close()


class _JobWaiter:
    """One wait: polls the status, emits ``Queued``/``Started`` once, checks the queue deadline.

    Between two polls it reports what the socket says about the job when it follows one
    (:meth:`follow`), and polls at once when the socket says the job ended.
    """

    def __init__(
        self,
        backend: ComfyCloudBackend,
        job_id: str,
        spec: WorkflowSpec,
        deadline: float,
        queue_deadline: float | None,
        emit: EventCallback | None,
    ) -> None:
        self.backend, self.job_id, self.spec = backend, job_id, spec
        self.deadline, self.queue_deadline = deadline, queue_deadline
        self.emit: EventCallback = emit or (lambda event: None)
        self.queued = self.started = False
        self.listener: Listener | None = None
        self.graph: Mapping[str, Any] = {}

    def follow(self, listener: Listener | None, graph: Mapping[str, Any]) -> None:
        """Report the socket messages ``listener`` receives (node titles from ``graph``)."""
        self.listener, self.graph = listener, graph

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, reporting socket messages; return early when the job has ended."""
        if self.listener is None:
            time.sleep(seconds)
            return
        until = time.monotonic() + seconds
        while (message := self.listener.next(until - time.monotonic())) is not None:
            if message[0] == "execution_start":
                self._start()
            elif (event := event_for(self.job_id, message, self.graph)) is not None:
                self._start()  # a node runs: the job has started, whatever the status said
                self.emit(event)
            if message[0] in FINAL_MESSAGES or time.monotonic() >= until:
                return

    def _start(self) -> None:
        if not self.started:
            self.started = True
            self.emit(Started(self.job_id))

    def check(self) -> RunOutcome | None:
        timeout = remaining_timeout(self.backend.http.timeout, self.deadline)
        try:
            status = self.backend.api.status(self.job_id, timeout=timeout)
        except NotFoundError as exc:
            raise PromptLostError(
                f"Comfy Cloud does not know job {self.job_id} (deleted, or never created)",
                prompt_id=self.job_id,
            ) from exc
        if status.terminal:
            return self.backend.outcome(status, self.spec, timeout)
        if status.pending and not self.started:  # the socket may be ahead of the status
            if not self.queued:
                self.queued = True
                self.emit(Queued(self.job_id))
            if self.queue_deadline is not None and time.monotonic() >= self.queue_deadline:
                raise ExecutionTimeout(
                    f"Comfy Cloud job {self.job_id} was still queued at its queue deadline",
                    prompt_id=self.job_id,
                    deadline="queue",
                )
        elif not status.pending:
            self._start()
        return None


@hookimpl
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyCloudBackend)


@hookimpl
def comfykit_register_settings(register: Callable[[Setting], None]) -> None:
    for setting in SETTINGS:
        register(setting)
