"""Backend ``comfyui-http``: submit over HTTP, detect completion by polling.

One watcher thread per kit polls ``/queue`` for all prompts in flight (``_queue_watch``), on a
schedule that starts fast and slows down in proportion to the time already waited; a prompt that
leaves the queue has its ``/history`` entry fetched — and one with no entry was forgotten by the
server (deleted, restart, eviction) and is reported as lost instead of waited for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .._signals import wait_slice
from ..errors import ComfyKitError, ExecutionTimeout, PromptLostError
from ..events import EventCallback, Queued, Started
from ..hookspecs import hookimpl
from ..http import request_deadline
from ..params import UploadSource, WorkflowSpec
from ..polling import TRANSIENT_ERRORS, poll_job
from ._queue_watch import Tracked
from ._server_files import check_server_files
from .base import Backend, BackendContext, JobState, PreparedJob, RunOutcome, Submission
from .comfyui import ComfyUIClient, submit_with_warnings

log = logging.getLogger(__name__)


class ComfyUIHttpBackend(Backend):
    """Runs workflows on a ComfyUI server, waiting by HTTP polling."""

    name = "comfyui-http"
    capabilities = frozenset({"upload", "cancel", "reattach", "partial", "prompt_id"})

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        config = context.config
        self.client = ComfyUIClient(
            context.http,
            client_id=config.client_id,
            comfy_org_api_key=config.comfy_org_api_key,
            upload_subfolder=config.upload_subfolder,
        )

    def upload(self, source: UploadSource) -> str:
        return self.client.upload(source)

    def check_params(self, spec: WorkflowSpec, values: Mapping[str, Any]) -> None:
        check_server_files(self.client, spec, values)

    def output_node_classes(self, class_types: Collection[str]) -> Mapping[str, bool]:
        return self.client.output_node_classes(class_types)

    def submit(self, job: PreparedJob) -> Submission:
        return submit_with_warnings(self.client, job, self.context.config)

    def status(self, prompt_id: str) -> JobState:
        return self.client.state(prompt_id)

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        config = self.context.config
        entry = HistoryWaiter(
            self.client,
            prompt_id,
            deadline=deadline,
            queue_deadline=queue_deadline,
            emit=emit,
            check_timeout=config.cancel_timeout,
        ).wait(max_interval=config.poll_max_interval)
        return self.client.outcome(prompt_id, entry, spec)

    def outputs(self, prompt_id: str, spec: WorkflowSpec | None) -> RunOutcome | None:
        entry = self.client.history(prompt_id)
        return None if entry is None else self.client.outcome(prompt_id, entry, spec)

    def cancel(self, prompt_id: str) -> bool:
        return self.client.cancel(prompt_id)

    def server_for(self, prompt_id: str) -> str | None:
        return self.client.http.base_url


class HistoryWaiter:
    """Waits for one prompt through the client's shared :class:`QueueWatch`.

    The watcher reports queue position and start (emitted as events here, in the waiting
    thread); once the prompt leaves the queue its ``/history`` entry is fetched. No entry then
    means the server forgot the prompt. The queue deadline applies until execution starts; when
    it expires the server is asked once more, for at most ``check_timeout`` seconds. Every
    request is bounded by the deadline.
    """

    def __init__(
        self,
        client: ComfyUIClient,
        prompt_id: str,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
        check_timeout: float,
    ) -> None:
        self.client, self.prompt_id = client, prompt_id
        self.deadline, self.queue_deadline = deadline, queue_deadline
        self.emit = emit or (lambda event: None)
        self.check_timeout = check_timeout

    def wait(self, *, max_interval: float) -> Mapping[str, Any]:
        self.max_interval = max_interval
        tracked = self.client.queue_watch(max_interval).track(self.prompt_id, self.deadline)
        try:
            with request_deadline(self.deadline):
                return self._follow(tracked)
        finally:
            self.client.queue_watch(max_interval).untrack(tracked)

    def _follow(self, tracked: Tracked) -> Mapping[str, Any]:
        position: int | None = -1
        started = False
        while True:
            limit = self.deadline
            if self.queue_deadline is not None and not started:
                limit = min(limit, self.queue_deadline)
            tracked.changed.wait(wait_slice(limit - time.monotonic()))
            tracked.changed.clear()
            if tracked.error is not None and not isinstance(tracked.error, TRANSIENT_ERRORS):
                raise tracked.error
            if tracked.state == "running" and not started:
                started = True
                self.emit(Started(self.prompt_id))
            elif tracked.state == "pending" and tracked.position != position:
                position = tracked.position
                self.emit(Queued(self.prompt_id, position))
            elif tracked.state == "gone":
                return tracked.entry if tracked.entry is not None else self._finished_entry()
            if time.monotonic() >= limit:
                queue = limit != self.deadline
                if queue:  # the watcher reads /queue only now and then: ask now
                    where = self._queue_state()
                    if where == "left":
                        return self._finished_entry()
                    if where == "running":
                        started = True
                        self.emit(Started(self.prompt_id))
                        continue
                raise self._timeout(tracked, queue=queue)

    def _queue_state(self) -> str:
        """``running``, ``pending`` or ``left`` (the queue) now; ``pending`` on errors."""
        try:
            with request_deadline(time.monotonic() + self.check_timeout):
                running, pending = self.client.queue()
        except ComfyKitError as exc:
            log.debug("checking prompt %s at its queue deadline failed: %s", self.prompt_id, exc)
            return "pending"
        if self.prompt_id in running:
            return "running"
        return "pending" if self.prompt_id in pending else "left"

    def _finished_entry(self) -> Mapping[str, Any]:
        """The history entry of a prompt that left the queue (transient errors are retried)."""

        def fetch() -> Mapping[str, Any]:
            entry = self.client.history(self.prompt_id)
            if entry is None:
                raise PromptLostError(
                    f"prompt {self.prompt_id} is neither queued, running nor in the history: "
                    "it was deleted, or the server restarted",
                    prompt_id=self.prompt_id,
                )
            return entry

        return poll_job(
            fetch,
            prompt_id=self.prompt_id,
            deadline=self.deadline,
            max_interval=self.max_interval,
        )

    def _timeout(self, tracked: Tracked, *, queue: bool) -> ExecutionTimeout:
        if queue:
            message = f"prompt {self.prompt_id} was still queued at its queue deadline"
        else:
            message = f"prompt {self.prompt_id} did not finish before the deadline"
        error = ExecutionTimeout(
            message, prompt_id=self.prompt_id, deadline="queue" if queue else "total"
        )
        error.__cause__ = tracked.error
        return error


@hookimpl(trylast=True)
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyUIHttpBackend)
