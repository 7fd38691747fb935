"""Partial execution: which output nodes ``outputs=`` selects, and what they depend on.

``execute(..., outputs=["cover", "9"])`` runs only those output nodes and the nodes they need.
Each entry is an output variable (a ``$output.<name>``, or the id of an unnamed node, as in
``images_by_var``) or a node id of the workflow; ComfyUI receives the node ids as
``partial_execution_targets``. ComfyUI silently ignores a target that is not an output node (and
refuses the prompt when none is left), so the kit refuses such a target before sending whenever
the backend can tell which node classes are output nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, ParameterError
from .inspection import inspect_graph
from .params import WorkflowSpec

if TYPE_CHECKING:
    from .backends.base import Backend

#: What ``outputs=`` accepts: output names or node ids (one, or an iterable of them).
Outputs = str | int | Iterable[str | int] | None


def select_targets(
    runner: Backend, spec: WorkflowSpec, graph: Mapping[str, Any], outputs: Outputs
) -> tuple[str, ...] | None:
    """The checked ``PreparedJob.targets`` for ``outputs`` on ``runner`` (``None``: all).

    Raises :class:`ParameterError` for an entry that is not in the workflow or a node the
    backend says is not an output node, and :class:`ConfigurationError` when the backend cannot
    run part of a workflow (no ``"partial"`` capability).
    """
    targets = resolve_targets(spec, graph, outputs)
    if targets is None:
        return None
    if "partial" not in runner.capabilities:
        raise ConfigurationError(
            f"backend {runner.name!r} cannot run only some outputs (outputs=); leave outputs out "
            "to run the whole workflow"
        )
    check_output_nodes(targets, graph, spec, runner.output_node_classes)
    return targets


def resolve_targets(
    spec: WorkflowSpec, graph: Mapping[str, Any], outputs: Outputs
) -> tuple[str, ...] | None:
    """The node ids ``outputs`` selects, in order without repeats (``None``: every output).

    Raises :class:`ParameterError` naming every entry that is neither an output variable nor a
    node id of ``graph``, and for an empty selection (ComfyUI would run nothing).
    """
    if outputs is None:
        return None
    entries = [outputs] if isinstance(outputs, (str, int)) else outputs
    try:
        names = [_entry(value) for value in entries]
    except TypeError as exc:
        raise ParameterError(f"outputs: {exc}") from None
    if not names:
        raise ParameterError(
            "outputs is empty, so nothing would run; pass output names or node ids, or leave "
            "outputs out to run every output"
        )
    by_var: dict[str, list[str]] = {}
    for node_id in graph:
        by_var.setdefault(spec.output_var(node_id), []).append(node_id)
    targets: dict[str, None] = {}
    unknown: list[str] = []
    for name in names:
        ids = by_var.get(name) or ([name] if name in graph else [])
        if not ids:
            unknown.append(name)
        targets.update(dict.fromkeys(ids))
    if unknown:
        raise ParameterError(
            f"outputs: no output or node {', '.join(map(repr, unknown))} in this workflow "
            f"(its outputs: {_describe_outputs(spec, graph)}; the id of any output node works "
            "too)"
        )
    return tuple(targets)


def _entry(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected output names or node ids, got {type(value).__name__} {value!r}")


def _describe_outputs(spec: WorkflowSpec, graph: Mapping[str, Any]) -> str:
    """``image (node 9), caption (node 10)``: the named outputs and known output classes."""
    outputs = inspect_graph(graph).outputs
    described = [
        f"{var} (node {', '.join(ids)})" if (var,) != ids else f"node {var}"
        for var, ids in outputs.items()
    ]
    return ", ".join(described) or "none known"


def check_output_nodes(
    targets: Collection[str],
    graph: Mapping[str, Any],
    spec: WorkflowSpec,
    output_classes: Callable[[Collection[str]], Mapping[str, bool]],
) -> None:
    """Raise :class:`ParameterError` for targets the server says are not output nodes.

    ``output_classes`` tells, for the node classes it knows, whether each is an output node
    (a backend's :meth:`~comfykit_sync.backends.base.Backend.output_node_classes`); targets of
    classes it does not know are left to the server.
    """
    classes = {node_id: _class_type(graph, node_id) for node_id in graph}
    known = output_classes({classes[node_id] for node_id in targets} - {""})
    refused = [node_id for node_id in targets if known.get(classes[node_id]) is False]
    if not refused:
        return
    every = output_classes(set(classes.values()) - {""})
    outputs = [node_id for node_id in graph if every.get(classes[node_id]) is True]
    one = len(refused) == 1
    raise ParameterError(
        f"outputs: {_describe_nodes(spec, classes, refused)} "
        f"{'is not an output node' if one else 'are not output nodes'}, so ComfyUI would not "
        f"run {'it' if one else 'them'}; this workflow's output nodes: "
        f"{_describe_nodes(spec, classes, outputs) or 'none'}"
    )


def _class_type(graph: Mapping[str, Any], node_id: str) -> str:
    node = graph.get(node_id)
    class_type = node.get("class_type") if isinstance(node, Mapping) else None
    return class_type if isinstance(class_type, str) else ""


def _describe_nodes(spec: WorkflowSpec, classes: Mapping[str, str], node_ids: list[str]) -> str:
    """``node 9 (image, SaveImage), node 5 (KSampler)``."""
    described = []
    for node_id in node_ids:
        details = [d for d in (spec.outputs.get(node_id), classes[node_id]) if d]
        described.append(f"node {node_id}" + (f" ({', '.join(details)})" if details else ""))
    return ", ".join(described)


def upstream(graph: Mapping[str, Any], node_ids: Iterable[str]) -> set[str]:
    """``node_ids`` (those in ``graph``) and every node they link to, transitively."""
    seen: set[str] = set()
    stack = [node_id for node_id in node_ids if node_id in graph]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph[node_id]
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        for value in inputs.values() if isinstance(inputs, Mapping) else ():
            if _is_link(value) and value[0] in graph:
                stack.append(value[0])
    return seen


def _is_link(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str)
