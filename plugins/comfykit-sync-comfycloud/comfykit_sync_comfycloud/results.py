"""From Comfy Cloud replies to what the kit reports: rejections, outcomes and errors.

The cloud speaks ComfyUI: a rejected workflow comes back as ComfyUI's ``error`` and
``node_errors`` (mapped here to the DSL parameters at fault), and ``GET /api/jobs/{id}`` carries
the ComfyUI ``outputs`` of a finished job, its ``execution_error`` and the node metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from comfykit_sync import (
    ExecutionError,
    ExecutionInterrupted,
    PromptLostError,
    WorkflowValidationError,
)
from comfykit_sync.backend import OutputItem, RunOutcome, WorkflowSpec

from .api import CANCELLED_STATES, FAILED_STATES, LOST_STATES, JobStatus

#: UI-output keys that flag other items rather than being items themselves
FLAG_KEYS = frozenset({"animated"})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def validation_error(
    body: Any, spec: WorkflowSpec, *, status_code: int | None, url: str | None
) -> WorkflowValidationError:
    """A rejection (``error`` and ``node_errors``), naming the DSL parameters at fault."""
    body = _mapping(body)
    node_errors = _mapping(body.get("node_errors"))
    lines: list[str] = []
    param_errors: dict[str, str] = {}
    for node_id, entry in node_errors.items():
        entry = _mapping(entry)
        where = f"node {node_id}" + (f" ({entry['class_type']})" if entry.get("class_type") else "")
        for err in entry.get("errors") or []:
            err = _mapping(err)
            field = _mapping(err.get("extra_info")).get("input_name")
            reason = ": ".join(str(p) for p in (err.get("message"), err.get("details")) if p)
            param = spec.param_for(str(node_id), str(field)) if field else None
            if param:
                param_errors[param] = reason
                lines.append(f"parameter {param!r} ({where} input {field!r}): {reason}")
            else:
                lines.append(f"{where}" + (f" input {field!r}" if field else "") + f": {reason}")
    if not lines:
        error = _mapping(body.get("error"))
        text = ": ".join(
            str(p) for p in (error.get("message") or body.get("message"), error.get("details")) if p
        )
        lines.append(text or "rejected")
    return WorkflowValidationError(
        "Comfy Cloud rejected the workflow: " + "; ".join(lines),
        node_errors=node_errors,
        param_errors=param_errors,
        status_code=status_code,
        url=url,
        body=body,
    )


def outcome(
    status: JobStatus,
    detail: Mapping[str, Any],
    spec: WorkflowSpec,
    view_url: Callable[[Mapping[str, Any]], str],
) -> RunOutcome:
    """The outcome of a job in a terminal state: its items, raw outputs and error."""
    job_id = status.job_id
    if status.status in LOST_STATES:
        raise PromptLostError(
            f"Comfy Cloud lost job {job_id} (its worker went away); submit it again",
            prompt_id=job_id,
        )
    outputs = _mapping(detail.get("outputs"))
    meta = _mapping(detail.get("execution_meta"))
    items: list[OutputItem] = []
    for node_id, node_output in outputs.items():
        if not isinstance(node_output, Mapping):
            continue
        node_meta = _mapping(meta.get(node_id))
        shown = str(node_meta.get("display_node") or node_id)  # an expanded node's owner
        for key, values in node_output.items():
            if key in FLAG_KEYS:
                continue
            for value in values if isinstance(values, (list, tuple)) else [values]:
                is_file = isinstance(value, Mapping) and bool(value.get("filename"))
                url = view_url(value) if is_file else None
                var = spec.output_var(shown)
                items.append(OutputItem(str(node_id), key, value, var, node_output, url, shown))
    return RunOutcome(job_id, outputs, items=tuple(items), error=_error(status, detail))


def _error(status: JobStatus, detail: Mapping[str, Any]) -> ExecutionError | None:
    job_id = status.job_id
    if status.status in CANCELLED_STATES or detail.get("status") == "cancelled":
        return ExecutionInterrupted(f"Comfy Cloud job {job_id} was cancelled", prompt_id=job_id)
    if status.status not in FAILED_STATES and detail.get("status") != "failed":
        return None
    failure = _mapping(detail.get("execution_error"))
    if not failure:
        text = status.error_message or "Comfy Cloud gave no error details"
        return ExecutionError(f"Comfy Cloud job {job_id} failed: {text}", prompt_id=job_id)
    node = str(failure["node_id"]) if failure.get("node_id") is not None else None
    node_type = failure.get("node_type")
    where = f"node {node}" + (f" ({node_type})" if node_type else "") if node else "a node"
    kind = str(failure.get("exception_type") or "Exception")
    raw = str(failure.get("exception_message") or "")
    first = next((line.strip() for line in raw.splitlines() if line.strip()), "(no message)")
    cached = failure.get("current_outputs")
    return ExecutionError(
        f"Comfy Cloud job {job_id}: {where} failed with {kind}: {first}",
        prompt_id=job_id,
        node_id=node,
        node_type=str(node_type) if node_type else None,
        exception_type=kind,
        traceback=tuple(str(line) for line in failure.get("traceback") or ()),
        exception_message=raw,
        current_inputs=_mapping(failure.get("current_inputs")),
        current_outputs=tuple(str(n) for n in cached)
        if isinstance(cached, (list, Mapping))
        else (),
    )
