"""Naming in the core: node ids become ``$output`` names, server node errors DSL parameters.

Backends report by node id (:class:`~comfykit_sync.models.OutputItem`, the ``node_errors`` of a
:class:`~comfykit_sync.errors.WorkflowValidationError`); the kit names both here, once, for
every backend, from the job's :class:`~comfykit_sync.params.WorkflowSpec` — or, for a job
re-attached without its workflow, from the graph the server recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import ComfyKitError, ExecutionError, WorkflowError, WorkflowValidationError
from .models import OutputItem
from .params import WorkflowSpec, parse_workflow

#: what a rejection's message starts with when the backend names no service
DEFAULT_SERVICE = "ComfyUI"
REJECTED = " rejected the workflow: "


def naming_spec(spec: WorkflowSpec | None, graph: Mapping[str, Any] | None) -> WorkflowSpec | None:
    """The spec that names a job's outputs: the job's own, else that of the recorded ``graph``
    (``None`` when there is neither, or the recorded graph's markers do not parse)."""
    if spec is not None or not graph:
        return spec
    try:
        return parse_workflow(graph)
    except WorkflowError:
        return None


def name_items(items: Iterable[OutputItem], spec: WorkflowSpec | None) -> tuple[OutputItem, ...]:
    """``items`` with ``var`` set to the ``$output`` name of their display node.

    Without a ``spec`` an item keeps the ``var`` its backend gave it, else its display node id.
    """
    named = []
    for item in items:
        if spec is not None:
            var = spec.output_var(item.display_node)
        else:
            var = item.var or item.display_node
        named.append(item if var == item.var else attrs.evolve(item, var=var))
    return tuple(named)


def name_failure(error: ComfyKitError, spec: WorkflowSpec | None) -> ComfyKitError:
    """``error``, its message naming the DSL parameters bound to the node at fault.

    For an ``ExecutionError`` with a ``node_id`` whose message mentions the node
    (``node 3 (KSampler)``), `` [parameters: seed, steps]`` is added after that mention.
    """
    node_id = getattr(error, "node_id", None)
    if spec is None or not node_id or not isinstance(error, ExecutionError):
        return error
    names = [p.name for p in spec.params.values() if any(t.node_id == node_id for t in p.targets)]
    message = str(error)
    if not names or len(error.args) != 1 or "[parameters: " in message:
        return error
    node = re.escape(f"node {node_id}")
    if error.node_type:
        node += f"(?: {re.escape(f'({error.node_type})')})?"
    mention = re.search(node + r"(?![\w.:-])", message)
    if mention is None:
        return error
    at = mention.end()
    error.args = (f"{message[:at]} [parameters: {', '.join(names)}]{message[at:]}",)
    return error


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def rejection(
    body: Any,
    *,
    service: str = DEFAULT_SERVICE,
    status_code: int | None = None,
    url: str | None = None,
    spec: WorkflowSpec | None = None,
) -> WorkflowValidationError:
    """A ``WorkflowValidationError`` for a ComfyUI-style rejection (``error`` + ``node_errors``).

    Each failing input is named in the message; with a ``spec``, by the DSL parameter bound to
    it (``param_errors`` maps those parameters to their reasons). ``service`` starts the
    message (``"<service> rejected the workflow: ..."``).
    """
    body = _mapping(body)
    node_errors = _mapping(body.get("node_errors"))
    lines: list[str] = []
    param_errors: dict[str, str] = {}
    for node_id, entry in node_errors.items():
        entry = _mapping(entry)
        class_type = entry.get("class_type")
        where = f"node {node_id}" + (f" ({class_type})" if class_type else "")
        errors = entry.get("errors")
        for err in errors if isinstance(errors, (list, tuple)) else ():
            err = _mapping(err)
            field = _mapping(err.get("extra_info")).get("input_name")
            reason = ": ".join(str(p) for p in (err.get("message"), err.get("details")) if p)
            param = spec.param_for(str(node_id), str(field)) if spec and field else None
            place = where + (f" input {field!r}" if field else "")
            if param:
                param_errors[param] = reason
                lines.append(f"parameter {param!r} ({place}): {reason}")
            else:
                lines.append(f"{place}: {reason}")
    if not lines:
        error = _mapping(body.get("error"))
        message = error.get("message") or body.get("message") or "rejected"
        lines.append(": ".join(str(p) for p in (message, error.get("details")) if p))
    return WorkflowValidationError(
        f"{service}{REJECTED}" + "; ".join(lines),
        node_errors=node_errors,
        param_errors=param_errors,
        status_code=status_code,
        url=url,
        body=body,
    )


def name_rejection(error: WorkflowValidationError, spec: WorkflowSpec) -> WorkflowValidationError:
    """``error`` with its failing inputs named by the DSL parameters of ``spec``.

    An error that already names parameters, or has no ``node_errors`` to name them from, is
    returned as it is; otherwise a new one (same fields, same cause) is built by
    :func:`rejection`.
    """
    if error.param_errors or not error.node_errors:
        return error
    body = error.body if isinstance(error.body, Mapping) else {}
    if not isinstance(body.get("node_errors"), Mapping):
        body = {**body, "node_errors": error.node_errors}
    service, found, _ = str(error).partition(REJECTED)
    named = rejection(
        body,
        service=service if found else DEFAULT_SERVICE,
        status_code=error.status_code,
        url=error.url,
        spec=spec,
    )
    if not named.param_errors:
        return error
    named.prompt_id = error.prompt_id
    named.__cause__ = error.__cause__
    return named
