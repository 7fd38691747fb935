"""A lint pass over a workflow's DSL: every node is checked and all problems are collected.

:func:`comfykit_sync.params.parse_workflow` stops at the first bad marker; :func:`lint_graph`
reports every bad marker of every title, and also what the parser accepts but is probably a
mistake (conflicting defaults of a fanned-out name, ``$output`` on a node that is not a known
output node).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._dsl import Marker, describe_node, node_parts, scan_title
from .errors import DSLError, WorkflowError
from .inspection import OUTPUT_CLASSES
from .params import MEDIA_FILE_INPUTS, ParamType, _is_link, _literal_type, _unify, parse_workflow


@attrs.frozen
class LintProblem:
    """One DSL problem; ``node_id`` is ``None`` for a problem of the whole graph."""

    node_id: str | None
    message: str
    field: str | None = None


@attrs.frozen
class _Declaration:
    marker: Marker
    node_id: str
    type: ParamType
    upload: bool
    default: Any


def lint_graph(graph: Any) -> tuple[LintProblem, ...]:
    """All DSL problems of a graph: per node in order, then per name (empty: clean)."""
    if not isinstance(graph, Mapping):
        return (
            LintProblem(
                None, f"an API-format workflow is a JSON object, got {type(graph).__name__}"
            ),
        )
    problems: list[LintProblem] = []
    declarations: dict[str, list[_Declaration]] = {}
    for node_id, node in graph.items():
        parts = node_parts(node)
        if parts is None:
            continue
        title, class_type, inputs = parts
        where = describe_node(node_id, class_type, title)
        parsed, errors = scan_title(title, node_id=node_id, class_type=class_type)
        problems.extend(LintProblem(node_id, str(exc), exc.field) for exc in errors)
        problems.extend(LintProblem(node_id, warning) for warning in parsed.warnings)
        if parsed.output is not None and class_type not in OUTPUT_CLASSES:
            problems.append(
                LintProblem(
                    node_id,
                    f"{where}: $output.{parsed.output} is on a node that is not a known output "
                    "node, so it may produce no results",
                )
            )
        bound: dict[str, str] = {}
        for marker in parsed.markers:
            problem = _check_marker(marker, node_id, class_type, inputs, where, bound)
            if problem is not None:
                problems.append(problem)
                continue
            value = inputs[marker.field]
            upload = marker.upload or MEDIA_FILE_INPUTS.get(class_type) == marker.field
            ptype = _literal_type(value)
            default = None if ptype == "any" else value
            decl = _Declaration(marker, node_id, ptype, upload, default)
            declarations.setdefault(marker.name, []).append(decl)
    for name, decls in declarations.items():
        problems.extend(_check_name(name, decls))
    if not problems:
        problems.extend(_core_verdict(graph))
    return tuple(problems)


def _check_marker(
    marker: Marker,
    node_id: str,
    class_type: str,
    inputs: Mapping[str, Any],
    where: str,
    bound: dict[str, str],
) -> LintProblem | None:
    """A problem of one marker on its node, or ``None``; records the binding in ``bound``."""
    previous = bound.get(marker.field)
    if previous is not None:
        return LintProblem(
            node_id,
            f"{where}: input {marker.field!r} is bound to both {previous!r} and {marker.name!r}"
            if previous != marker.name
            else f"{where}: {previous!r} is declared twice for input {marker.field!r}",
            marker.field,
        )
    bound[marker.field] = marker.name
    if marker.field not in inputs:
        available = ", ".join(repr(k) for k in inputs) or "none"
        return LintProblem(
            node_id,
            f"{where}: parameter {marker.name!r} targets input {marker.field!r}, which "
            f"{class_type or 'the node'} does not have (inputs: {available})",
            marker.field,
        )
    value = inputs[marker.field]
    if marker.required:
        return None
    if _is_link(value):
        return LintProblem(
            node_id,
            f"{where}: input {marker.field!r} of parameter {marker.name!r} is linked to node "
            f"{value[0]!r}; a marker on a linked input must be required ('!')",
            marker.field,
        )
    if value is None:
        return LintProblem(
            node_id,
            f"{where}: optional parameter {marker.name!r} has no default (input "
            f"{marker.field!r} is null); give it a value or mark it required ('!')",
            marker.field,
        )
    return None


def _check_name(name: str, decls: list[_Declaration]) -> list[LintProblem]:
    """Problems of a name declared on several inputs: upload flag, type and default conflicts."""
    problems: list[LintProblem] = []
    first = decls[0]
    ptype: ParamType | None = first.type
    for decl in decls[1:]:
        if decl.upload != first.upload:
            problems.append(
                LintProblem(
                    decl.node_id,
                    f"parameter {name!r} is an upload on node "
                    f"{(first if first.upload else decl).node_id!r} but not on node "
                    f"{(decl if first.upload else first).node_id!r}",
                    decl.marker.field,
                )
            )
        unified = _unify(ptype, decl.type) if ptype is not None else None
        if ptype is not None and unified is None:
            problems.append(
                LintProblem(
                    decl.node_id,
                    f"parameter {name!r} is {ptype} on node {first.node_id!r} but {decl.type} "
                    f"on node {decl.node_id!r}",
                    decl.marker.field,
                )
            )
        ptype = unified
    optional = [d for d in decls if not d.marker.required and d.default is not None]
    if len({repr(d.default) for d in optional}) > 1:
        listing = ", ".join(f"node {d.node_id!r}: {d.default!r}" for d in optional)
        problems.append(
            LintProblem(
                optional[1].node_id,
                f"parameter {name!r} has conflicting defaults ({listing}); an omitted value "
                "leaves each node its own",
            )
        )
    return problems


def _core_verdict(graph: Mapping[str, Any]) -> list[LintProblem]:
    """What the core parser says about a graph the checks above found clean."""
    try:
        spec = parse_workflow(graph)
    except DSLError as exc:
        return [LintProblem(exc.node_id, str(exc), exc.field)]
    except WorkflowError as exc:
        return [LintProblem(None, str(exc))]
    return [LintProblem(None, warning) for warning in spec.warnings]
