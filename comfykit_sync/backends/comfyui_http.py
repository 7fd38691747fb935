"""Backend ``comfyui-http``: submit over HTTP, detect completion by polling ``/history``.

Polling starts fast and slows down in proportion to the time already waited (``_polling``);
every second or so ``/queue`` is checked too, so a prompt the server forgot (deleted, restart,
eviction) is reported as lost instead of being waited for until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import hookimpl
from .._polling import DeadlineExceeded, poll
from ..errors import ExecutionTimeout, PromptLostError
from ..events import EventCallback, Queued, Started
from ..params import UploadSource, WorkflowSpec
from .base import Backend, BackendContext, JobState, PreparedJob, RunOutcome, Submission
from .comfyui import ComfyUIClient, remaining_timeout, submit_with_warnings

QUEUE_CHECK_INTERVAL = 1.0


class ComfyUIHttpBackend(Backend):
    """Runs workflows on a ComfyUI server, waiting by HTTP polling."""

    name = "comfyui-http"
    capabilities = frozenset({"upload", "cancel", "reattach"})

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

    def submit(self, job: PreparedJob) -> Submission:
        deadline = time.monotonic() + self.context.config.timeout
        return submit_with_warnings(
            self.client, job, deadline=deadline, on_node_errors=self.context.config.on_node_errors
        )

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
        entry = HistoryWaiter(
            self.client, prompt_id, deadline=deadline, queue_deadline=queue_deadline, emit=emit
        ).wait(max_interval=self.context.config.poll_max_interval)
        return self.client.outcome(prompt_id, entry, spec)

    def outputs(self, prompt_id: str, spec: WorkflowSpec | None) -> RunOutcome | None:
        entry = self.client.history(prompt_id)
        return None if entry is None else self.client.outcome(prompt_id, entry, spec)

    def cancel(self, prompt_id: str) -> bool:
        return self.client.cancel(prompt_id)


class HistoryWaiter:
    """Polls ``/history/{id}`` until the entry exists, watching ``/queue`` along the way.

    The queue check (at the first poll, then every ``QUEUE_CHECK_INTERVAL``) reports the queue
    position and the start of execution as events, enforces the queue deadline, and detects a
    prompt the server no longer knows.
    """

    def __init__(
        self,
        client: ComfyUIClient,
        prompt_id: str,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> None:
        self.client, self.prompt_id = client, prompt_id
        self.deadline, self.queue_deadline = deadline, queue_deadline
        self.emit = emit or (lambda event: None)
        self.next_queue_check = 0.0
        self.position: int | None = -1
        self.started = False

    def wait(
        self, *, max_interval: float, sleep: Callable[[float], None] = time.sleep
    ) -> Mapping[str, Any]:
        try:
            return poll(self.check, deadline=self.deadline, max_interval=max_interval, sleep=sleep)
        except DeadlineExceeded as exc:
            raise ExecutionTimeout(
                f"prompt {self.prompt_id} did not finish before the deadline",
                prompt_id=self.prompt_id,
            ) from exc.last_error

    def check(self) -> Mapping[str, Any] | None:
        timeout = remaining_timeout(self.client.http.timeout, self.deadline)
        entry = self.client.history(self.prompt_id, timeout=timeout)
        if entry is not None:
            return entry
        now = time.monotonic()
        queue_due = (
            self.queue_deadline is not None and not self.started and now >= self.queue_deadline
        )
        if now < self.next_queue_check and not queue_due:
            return None
        self.next_queue_check = now + QUEUE_CHECK_INTERVAL
        running, pending = self.client.queue()
        if self.prompt_id in running:
            if not self.started:
                self.started = True
                self.emit(Started(self.prompt_id))
            return None
        if self.prompt_id in pending:
            position = pending.index(self.prompt_id)
            if position != self.position:
                self.position = position
                self.emit(Queued(self.prompt_id, position))
            if queue_due:
                raise ExecutionTimeout(
                    f"prompt {self.prompt_id} was still queued at its queue deadline",
                    prompt_id=self.prompt_id,
                    deadline="queue",
                )
            return None
        entry = self.client.history(self.prompt_id, timeout=timeout)  # finished meanwhile?
        if entry is None:
            raise PromptLostError(
                f"prompt {self.prompt_id} is neither queued, running nor in the history: it was "
                "deleted, or the server restarted",
                prompt_id=self.prompt_id,
            )
        return entry


@hookimpl(trylast=True)
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyUIHttpBackend)
