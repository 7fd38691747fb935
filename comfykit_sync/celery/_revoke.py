"""Revoking an ``execute_workflow`` task cancels its job on the server.

Celery sends ``task_revoked`` in the worker's main process when it discards or terminates a
revoked task (``revoke(id, terminate=True)`` kills the pool process running it). The job is
cancelled from there, by the prompt id derived from the task id. A pool process that dies for
another reason (a cold shutdown, a crash) cancels nothing: the redelivered task re-attaches to
the job instead.

The cancel runs in the receiver's thread (the worker's event loop), bounded by the kit's request
timeout: a thread of our own could hold an import or other lock while the pool forks a new
process, which would then deadlock.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ComfyKitError
from ._kit import worker_kit
from ._task import TASK_NAME, prompt_id_for

log = logging.getLogger(__name__)


def cancel_revoked(sender: Any = None, request: Any = None, **_signal_args: Any) -> None:
    """``task_revoked`` receiver: cancel the revoked task's job."""
    if getattr(sender, "name", None) != TASK_NAME or request is None:
        return
    cancel_job(str(request.id), (getattr(request, "kwargs", None) or {}).get("backend"))


def cancel_job(task_id: str, backend: str | None = None) -> bool:
    """Cancel the job of task ``task_id`` on the server; True if it was pending or running."""
    try:
        kit = worker_kit()
        runner = kit.backend(backend)
        if not {"prompt_id", "cancel"} <= runner.capabilities:
            return False
        prompt_id = prompt_id_for(task_id)
        cancelled = kit.job(prompt_id, backend=runner.name).cancel()
    except ComfyKitError as exc:
        log.warning("revoked task %s: could not cancel its job: %s", task_id, exc)
        return False
    if cancelled:
        log.info("revoked task %s: prompt %s cancelled on the server", task_id, prompt_id)
    return cancelled
