"""A job's progress events as the Celery ``PROGRESS`` state of its task."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..events import Event, NodeExecuting, Progress, Queued, Started

log = logging.getLogger(__name__)

PROGRESS = "PROGRESS"


class ProgressPublisher:
    """An ``on_event`` callback that stores ``PROGRESS`` with a snapshot of where the job is.

    The meta dict: ``prompt_id``, ``state`` (``submitted``, ``queued``, ``running``),
    ``position`` (in the server's queue), ``node`` / ``node_title`` / ``class_type`` (the node
    executing), ``value`` / ``max`` (its steps) and ``fraction`` (the whole job, 0-1). Step
    progress is stored at most every ``min_interval`` seconds; other changes at once.
    """

    def __init__(self, task: Any, task_id: str, *, min_interval: float = 0.25) -> None:
        self._task, self._task_id = task, task_id
        self._min_interval = min_interval
        self._last = 0.0
        self._lock = threading.Lock()
        self.meta: dict[str, Any] = {
            "prompt_id": None,
            "state": "submitted",
            "position": None,
            "node": None,
            "node_title": None,
            "class_type": None,
            "value": None,
            "max": None,
            "fraction": None,
        }

    def publish(self, **changes: Any) -> None:
        """Merge ``changes`` into the snapshot and store it (a failure to store is logged: the
        job goes on)."""
        with self._lock:
            self.meta.update(changes)
            meta = dict(self.meta)
            self._last = time.monotonic()
        try:
            self._task.update_state(task_id=self._task_id, state=PROGRESS, meta=meta)
        except Exception as exc:
            log.warning("task %s: could not store its progress: %s", self._task_id, exc)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Queued):
            self.publish(prompt_id=event.prompt_id, state="queued", position=event.position)
        elif isinstance(event, Started):
            self.publish(prompt_id=event.prompt_id, state="running", position=None)
        elif isinstance(event, NodeExecuting):
            self.publish(
                prompt_id=event.prompt_id,
                state="running",
                position=None,
                node=event.node_id,
                node_title=event.title,
                class_type=event.class_type,
                value=None,
                max=None,
            )
        elif isinstance(event, Progress):
            changes = {"value": event.value, "max": event.max, "state": "running"}
            if event.node_id is not None:
                changes["node"] = event.node_id
            if event.fraction is not None:
                changes["fraction"] = event.fraction
            final = event.max and event.value >= event.max
            if final or time.monotonic() - self._last >= self._min_interval:
                self.publish(**changes)
            else:
                with self._lock:
                    self.meta.update(changes)
