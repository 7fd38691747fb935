"""Checking a request before it is queued, and batches: many parameter sets as one Celery group,
results gathered in order with a progress count."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from celery import group
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import GroupResult

from ..client import ComfyKit
from ..errors import ComfyKitError, ExecutionTimeout, ParameterError
from ..models import ExecuteResult
from ..params import parse_workflow, validate_params
from ._task import check_options, execute_workflow

ProgressCallback = Callable[[int, int], None]


def validate(
    workflow: Any,
    param_sets: Iterable[Mapping[str, Any] | None] = (None,),
    *,
    kit: ComfyKit | None = None,
    **options: Any,
) -> None:
    """Raise the caller's mistakes before anything is queued.

    Always checks the option names; with a ``kit`` also loads ``workflow`` and checks every
    parameter set against its DSL parameters (``ParameterError`` naming the set's index).
    """
    check_options(options)
    if kit is None:
        return
    spec = parse_workflow(kit.load_workflow(workflow).graph)
    for index, params in enumerate(param_sets):
        try:
            validate_params(spec, params)
        except ParameterError as exc:
            raise ParameterError(f"parameter set {index}: {exc}", params=exc.params) from exc


def submit_batch(
    workflow: Any,
    param_sets: Iterable[Mapping[str, Any] | None],
    *,
    kit: ComfyKit | None = None,
    task_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> GroupResult:
    """Queue one ``execute_workflow`` task per parameter set, as a Celery group.

    ``options`` go to every task (``backend``, ``timeout``, …); ``task_options`` to Celery's
    ``apply_async`` (``queue``, ``soft_time_limit``, ``expires``, …). With ``kit`` every set is
    validated first, so a mistake in one set queues nothing. A ``pathlib.Path`` workflow is sent
    as its string (the workers must be able to read it).
    """
    sets = list(param_sets)
    validate(workflow, sets, kit=kit, **options)
    if isinstance(workflow, os.PathLike):
        workflow = os.fspath(workflow)
    signature = group(execute_workflow.s(workflow, params, **options) for params in sets)
    return signature.apply_async(**dict(task_options or {}))


def gather(
    batch: GroupResult,
    *,
    timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    kit: ComfyKit | None = None,
    interval: float = 0.5,
) -> list[ExecuteResult]:
    """Wait for every task of ``batch``; their results in the order the sets were given.

    ``on_progress(done, total)`` is called at the start and as each task finishes. A task that
    raised (a caller mistake in its set, a worker lost too often) gives a failed result with its
    error. ``timeout`` bounds the whole wait: ``ExecutionTimeout(deadline="wait")`` then, and
    the tasks go on (gather again later). ``kit`` makes the results' files downloadable.
    """
    results: Sequence[Any] = batch.results or ()
    total, finished = len(results), {}
    report = on_progress or (lambda done, total: None)
    report(0, total)

    def collect(task_id: str, value: Any) -> None:
        finished[task_id] = value
        report(len(finished), total)

    join = batch.join_native if batch.supports_native_join else batch.join
    try:
        join(timeout=timeout, propagate=False, interval=interval, callback=collect)
    except CeleryTimeout as exc:
        raise ExecutionTimeout(
            f"{len(finished)} of {total} tasks had finished after waiting {timeout:g} s; "
            "the others go on",
            deadline="wait",
        ) from exc
    return [_result(task.id, finished.get(task.id), kit) for task in results]


def execute_batch(
    workflow: Any,
    param_sets: Iterable[Mapping[str, Any] | None],
    *,
    timeout: float | None = None,
    on_progress: ProgressCallback | None = None,
    kit: ComfyKit | None = None,
    task_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> list[ExecuteResult]:
    """:func:`submit_batch` then :func:`gather`: one result per parameter set, in order."""
    batch = submit_batch(workflow, param_sets, kit=kit, task_options=task_options, **options)
    return gather(batch, timeout=timeout, on_progress=on_progress, kit=kit)


def _result(task_id: str, value: Any, kit: ComfyKit | None) -> ExecuteResult:
    if isinstance(value, Mapping):
        return ExecuteResult.from_dict(value, kit=kit)
    if isinstance(value, ComfyKitError):
        error = value
    else:
        error = ComfyKitError(f"task {task_id} failed: {value!r}")
        if isinstance(value, BaseException):
            error.__cause__ = value
    return ExecuteResult(status="failed", msg=str(error), error=error)
