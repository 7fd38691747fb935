"""What one RunningHub account holds: workflows, uploaded files and tasks.

Creating a task applies the ``nodeInfoList`` to a copy of the workflow, admits it (the
concurrency limit, the coins) and picks its script; tasks then follow the clock.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, Protocol

import attrs

from .records import TaskRecord, TaskScript

FIRST_WORKFLOW_ID = 1953270871002394625
FIRST_TASK_ID = 1960011122233344455
NODE_INFO_KEYS = frozenset({"nodeId", "fieldName", "fieldValue"})

Match = Callable[[dict[str, Any]], bool]


class Limits(Protocol):
    """The server settings task creation reads (and ``coins``, which it spends)."""

    coins: int | None

    @property
    def queue_time(self) -> float: ...
    @property
    def run_time(self) -> float: ...
    @property
    def concurrency(self) -> int | None: ...
    @property
    def task_cost(self) -> int: ...


@attrs.frozen
class Created:
    """A created task and the graph it runs (the workflow with the ``nodeInfoList`` applied)."""

    task: TaskRecord
    graph: dict[str, Any]


def apply_node_info(graph: Mapping[str, Any], node_info: Any) -> dict[str, Any] | None:
    """A copy of ``graph`` with ``nodeInfoList`` applied, or ``None`` when it does not match
    the graph (RunningHub's 803; it refuses extra keys too)."""
    if not isinstance(node_info, list):
        return None
    copy: dict[str, Any] = json.loads(json.dumps(graph))
    for entry in node_info:
        if not isinstance(entry, dict) or set(entry) != NODE_INFO_KEYS:
            return None
        inputs = (copy.get(str(entry["nodeId"])) or {}).get("inputs")
        if not isinstance(inputs, dict) or entry["fieldName"] not in inputs:
            return None
        inputs[entry["fieldName"]] = entry["fieldValue"]
    return copy


class Workspace:
    """Workflows, uploads, tasks and pending scripts of the fake's one account (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workflows: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, bytes] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._scripts: list[tuple[TaskScript, Match | None]] = []
        self._workflow_ids = itertools.count(FIRST_WORKFLOW_ID)
        self._task_ids = itertools.count(FIRST_TASK_ID)

    def add_workflow(self, graph: Mapping[str, Any], workflow_id: str | None = None) -> str:
        """Store a copy of an API-format workflow; return its id."""
        workflow_id = workflow_id or str(next(self._workflow_ids))
        with self._lock:
            self._workflows[workflow_id] = json.loads(json.dumps(graph))
        return workflow_id

    def workflow(self, workflow_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._workflows.get(workflow_id)

    def add_script(self, script: TaskScript, match: Match | None) -> None:
        with self._lock:
            self._scripts.append((script, match))

    def add_upload(self, filename: str, content: bytes) -> str:
        """Keep an uploaded file under RunningHub's name for it (``api/<sha256><suffix>``)."""
        name = f"api/{hashlib.sha256(content).hexdigest()}{PurePath(filename).suffix.lower()}"
        with self._lock:
            self._uploads[name] = content
        return name

    def uploads(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._uploads)

    def tasks(self) -> dict[str, TaskRecord]:
        with self._lock:
            return dict(self._tasks)

    def task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            return self._tasks.get(task_id)

    def create(self, body: dict[str, Any], limits: Limits) -> Created | int:
        """Create the task a ``/task/openapi/create`` body asks for, or the error code."""
        workflow_id = str(body["workflowId"])
        graph = self.workflow(workflow_id)
        if graph is None:
            return 380
        node_info = body.get("nodeInfoList", [])
        graph = apply_node_info(graph, node_info)
        if graph is None:
            return 803
        with self._lock:
            now = time.monotonic()
            busy = sum(1 for task in self._tasks.values() if task.unfinished(now))
            if limits.concurrency is not None and busy >= limits.concurrency:
                return 421
            if limits.coins is not None:
                if limits.coins < limits.task_cost:
                    return 812
                limits.coins -= limits.task_cost
            script = self._take_script(body)
            task = TaskRecord(
                task_id=str(next(self._task_ids)),
                workflow_id=workflow_id,
                node_info_list=node_info,
                instance_type=body.get("instanceType"),
                webhook_url=body.get("webhookUrl"),
                created_at=now,
                queue_time=limits.queue_time if script.queue_time is None else script.queue_time,
                run_time=limits.run_time if script.run_time is None else script.run_time,
                script=script,
            )
            self._tasks[task.task_id] = task
        return Created(task, graph)

    def _take_script(self, body: dict[str, Any]) -> TaskScript:
        """The first script whose ``match`` accepts ``body`` (FIFO), else the default one."""
        entry = next((e for e in self._scripts if e[1] is None or e[1](body)), None)
        if entry is None:
            return TaskScript()
        self._scripts.remove(entry)
        return entry[0]
