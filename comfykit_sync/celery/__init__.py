"""Celery integration: run workflows as tasks, exactly once across worker crashes.

Needs the ``celery`` extra (``pip install "comfykit-sync[celery]"``); ``import comfykit_sync``
never imports Celery. Include this module in the app (``Celery(..., include=
["comfykit_sync.celery"])``) so that workers register :data:`execute_workflow`::

    result = execute_workflow.delay("workflow.json", {"prompt": "a cat"}, timeout=600)
    ExecuteResult.from_dict(result.get(timeout=700))

Each worker process builds one kit on first use — ``ComfyKit()`` from the environment, or
:func:`set_kit_factory`'s factory — and closes it on worker shutdown. See docs/task-queues.md.
"""

from __future__ import annotations

from celery.signals import task_revoked, worker_process_shutdown, worker_shutdown

from ._batch import execute_batch, gather, submit_batch, validate
from ._kit import close_worker_kit, set_kit_factory, worker_kit
from ._progress import PROGRESS
from ._revoke import cancel_job, cancel_revoked
from ._task import NAMESPACE, TASK_NAME, execute_workflow, prompt_id_for

__all__ = [
    "NAMESPACE",
    "PROGRESS",
    "TASK_NAME",
    "cancel_job",
    "close_worker_kit",
    "execute_batch",
    "execute_workflow",
    "gather",
    "prompt_id_for",
    "set_kit_factory",
    "submit_batch",
    "validate",
    "worker_kit",
]

worker_process_shutdown.connect(close_worker_kit, weak=False)
worker_shutdown.connect(close_worker_kit, weak=False)
task_revoked.connect(cancel_revoked, weak=False)
