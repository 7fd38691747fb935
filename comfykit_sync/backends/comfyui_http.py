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

    def wait(self, prompt_id: str, spec: WorkflowSpec, *, deadline: float) -> RunOutcome:
        entry = wait_for_history(
            self.client,
            prompt_id,
            deadline=deadline,
            max_interval=self.context.config.poll_max_interval,
        )
        return self.client.outcome(prompt_id, entry, spec)

    def outputs(self, prompt_id: str, spec: WorkflowSpec) -> RunOutcome | None:
        entry = self.client.history(prompt_id)
        return None if entry is None else self.client.outcome(prompt_id, entry, spec)

    def cancel(self, prompt_id: str) -> bool:
        return self.client.cancel(prompt_id)


def wait_for_history(
    client: ComfyUIClient,
    prompt_id: str,
    *,
    deadline: float,
    max_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Poll ``/history/{id}`` until the entry exists; check ``/queue`` for a lost prompt."""
    started = time.monotonic()
    last_queue_check = started

    def check() -> Mapping[str, Any] | None:
        nonlocal last_queue_check
        timeout = remaining_timeout(client.http.timeout, deadline)
        entry = client.history(prompt_id, timeout=timeout)
        if entry is not None:
            return entry
        now = time.monotonic()
        if now - last_queue_check < QUEUE_CHECK_INTERVAL:
            return None
        last_queue_check = now
        running, pending = client.queue()
        if prompt_id in running or prompt_id in pending:
            return None
        entry = client.history(prompt_id, timeout=timeout)  # it may have finished meanwhile
        if entry is None:
            raise PromptLostError(
                f"prompt {prompt_id} is neither queued, running nor in the history: it was "
                "deleted, or the server restarted",
                prompt_id=prompt_id,
            )
        return entry

    try:
        return poll(
            check, deadline=deadline, started=started, max_interval=max_interval, sleep=sleep
        )
    except DeadlineExceeded as exc:
        raise ExecutionTimeout(
            f"prompt {prompt_id} did not finish before the deadline", prompt_id=prompt_id
        ) from exc.last_error


@hookimpl(trylast=True)
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyUIHttpBackend)
