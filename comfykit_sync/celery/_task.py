"""``execute_workflow``: one workflow run per Celery task, exactly once across redeliveries.

Every attempt first asks the server for the task's prompt id (``uuid5`` of the task id, or the
id a previous attempt stored in the task's ``PROGRESS`` state) and re-attaches to the job it
finds; only when the server does not know it is the workflow submitted, under that id. So a
task redelivered after a worker crash, or retried after a lost reply, never runs its job twice.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval

from ..client import ComfyKit
from ..errors import (
    ComfyKitError,
    ConfigurationError,
    ExecutionTimeout,
    RateLimitError,
    ServerError,
    TransportError,
)
from ..job import Job
from ..models import ExecuteResult, Workflow
from ._deadline import job_timeout
from ._kit import worker_kit
from ._progress import ProgressPublisher

log = logging.getLogger(__name__)

TASK_NAME = "comfykit_sync.execute_workflow"
#: the namespace of :func:`prompt_id_for` (fixed: ids must stay stable across releases)
NAMESPACE = uuid.UUID("3b0e5c9a-8f0d-4d61-9a57-1c6f2f4b7e20")
#: ``submit()`` options the task sets itself
RESERVED = frozenset({"prompt_id", "on_event", "raise_on_error"})
#: errors after which nothing of this attempt can be running: retried with backoff
TRANSIENT = (TransportError, ServerError, RateLimitError)
#: the shortest timeout a re-attached job gets when the task's deadline has passed
MIN_TIMEOUT = 0.001


def prompt_id_for(task_id: str) -> str:
    """The prompt id of a task's job: ``uuid5`` of the task id, the same on every delivery."""
    return str(uuid.uuid5(NAMESPACE, str(task_id)))


def check_options(options: Mapping[str, Any]) -> None:
    """``ConfigurationError`` for options ``submit()`` does not take or the task sets itself."""
    known = set(inspect.signature(ComfyKit.submit).parameters) - {"self", "workflow", "params"}
    reserved = sorted(set(options) & RESERVED)
    if reserved:
        raise ConfigurationError(f"execute_workflow sets {', '.join(reserved)} itself")
    unknown = sorted(set(options) - known)
    if unknown:
        allowed = ", ".join(sorted(known - RESERVED))
        raise ConfigurationError(
            f"execute_workflow got unknown option(s) {', '.join(unknown)} (options: {allowed})"
        )


@shared_task(
    bind=True,
    name=TASK_NAME,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
)
def execute_workflow(
    self: Any, workflow: Any, params: Mapping[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    """Run ``workflow`` with ``params`` on the worker's kit; return ``ExecuteResult.to_dict()``.

    ``workflow`` is anything JSON-serialisable ``execute()`` accepts (a path or URL the worker
    can read, an API-format dict, a RunningHub id); ``options`` are ``submit()``'s (``backend``,
    ``timeout``, ``queue_timeout``, ``on_timeout``). A failed job is a result
    (``status="failed"``), not a task failure; caller mistakes raise.
    """
    return _TaskRun(self, workflow, params, options).run().to_dict()


class _TaskRun:
    """One attempt of an ``execute_workflow`` task."""

    def __init__(
        self, task: Any, workflow: Any, params: Mapping[str, Any] | None, options: Mapping[str, Any]
    ) -> None:
        check_options(options)
        self.started = time.monotonic()
        self.task, self.params = task, params
        self.task_id = str(task.request.id)
        self.options = dict(options)
        self.timeout = job_timeout(task, self.options.pop("timeout", None))
        self.job: Job | None = None
        self.kit = worker_kit()
        self.workflow: Workflow = self.kit.load_workflow(workflow)
        self.backend = self.kit.backend(self.options.get("backend") or self.workflow.backend).name
        capabilities = self.kit.backend(self.backend).capabilities
        self.chosen = prompt_id_for(self.task_id) if "prompt_id" in capabilities else None
        self.progress = ProgressPublisher(task, self.task_id)

    def run(self) -> ExecuteResult:
        try:
            return self._run()
        except SoftTimeLimitExceeded:
            return self._soft_time_limit()

    def _run(self) -> ExecuteResult:
        try:
            self.job = self._find_job()
        except TRANSIENT as exc:  # nothing was submitted by this attempt
            return self._retry(exc)
        if self.job is None:
            timeout = self._timeout_left()
            if timeout is not None and timeout <= 0:
                return self._failed(
                    ExecutionTimeout("the task's deadline passed before its job was submitted")
                )
            self.job = self.kit.submit(
                self.workflow,
                self.params,
                prompt_id=self.chosen,
                timeout=timeout,
                on_event=self.progress,
                **self.options,
            )
        if self.job.prompt_id:
            self.progress.publish(prompt_id=self.job.prompt_id)
        result = self.job.result()
        # the server could not be reached (to submit, or to the end of the wait): the next
        # attempt looks the job up first, so a retry never runs it twice
        return self._retry(result.error, result) if self._retryable(result.error) else result

    def _find_job(self) -> Job | None:
        """The job an earlier attempt submitted, if the server knows it."""
        candidates = [self.chosen] if self.chosen else []
        stored = self._stored_prompt_id()
        if stored and stored not in candidates:
            candidates.append(stored)
        for prompt_id in candidates:
            job = self.kit.job(
                prompt_id,
                self.workflow,
                backend=self.backend,
                timeout=self._reattach_timeout(),
                on_timeout=self.options.get("on_timeout", "cancel"),
                on_event=self.progress,
            )
            if job.status().state != "unknown":
                log.info("task %s: re-attached to its prompt %s", self.task_id, prompt_id)
                return job
        return None

    def _timeout_left(self) -> float | None:
        """The job's timeout, less the time this attempt has taken so far."""
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool):
            return self.timeout  # None, or a bad value the kit refuses
        return self.timeout - (time.monotonic() - self.started)

    def _reattach_timeout(self) -> float | None:
        timeout = self._timeout_left()
        return timeout if timeout is None else max(timeout, MIN_TIMEOUT)

    def _stored_prompt_id(self) -> str | None:
        """The prompt id a previous attempt stored in the task's ``PROGRESS`` state."""
        try:
            meta = self.task.AsyncResult(self.task_id).info
        except Exception as exc:  # no result backend, or it failed: the derived id remains
            log.debug("task %s: no stored state: %s", self.task_id, exc)
            return None
        prompt_id = meta.get("prompt_id") if isinstance(meta, Mapping) else None
        return prompt_id if isinstance(prompt_id, str) else None

    def _retryable(self, error: ComfyKitError | None) -> bool:
        """Whether a transient failure may be retried: nothing was sent, or the retry will find
        the job by its prompt id before submitting."""
        if not isinstance(error, TRANSIENT):
            return False
        return self.chosen is not None or getattr(error, "sent", None) is False

    def _retry(
        self, error: ComfyKitError | None, result: ExecuteResult | None = None
    ) -> ExecuteResult:
        """Retry the task with exponential backoff; once retries run out, the failed ``result``
        (or one made of ``error``)."""
        task = self.task
        retries = task.request.retries
        if task.max_retries is not None and retries >= task.max_retries:
            return result or self._failed(error or ComfyKitError("the job was not submitted"))
        countdown = get_exponential_backoff_interval(
            task.retry_backoff, retries, task.retry_backoff_max, task.retry_jitter
        )
        log.warning("task %s: retrying in %s s: %s", self.task_id, countdown, error)
        raise task.retry(exc=error, countdown=countdown)

    def _soft_time_limit(self) -> ExecuteResult:
        """The task's soft time limit struck: cancel its job (unless detached) and report it."""
        prompt_id = self.job.prompt_id if self.job is not None else self.chosen
        cancelled = False
        if prompt_id and self.options.get("on_timeout", "cancel") == "cancel":
            try:
                cancelled = self.kit.job(prompt_id, backend=self.backend).cancel()
            except ComfyKitError as exc:
                log.warning("could not cancel prompt %s: %s", prompt_id, exc)
        note = "it was cancelled on the server" if cancelled else "it was not running"
        return self._failed(
            ExecutionTimeout(
                f"prompt {prompt_id} did not finish before the task's soft time limit; {note}",
                prompt_id=prompt_id,
                cancelled=cancelled,
            )
        )

    def _failed(self, error: ComfyKitError) -> ExecuteResult:
        return ExecuteResult(
            status="failed",
            prompt_id=getattr(error, "prompt_id", None),
            duration=time.monotonic() - self.started,
            msg=str(error),
            error=error,
            backend=self.backend,
        )
