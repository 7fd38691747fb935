"""A lint pass over a workflow's DSL: every node is checked and all problems are collected.

:func:`comfykit_sync.params.parse_workflow` stops at the first bad marker; :func:`lint_graph`
reports every bad marker of every title, by the same rules (:mod:`comfykit_sync._bindings`),
and also what the parser accepts but is probably a mistake (conflicting defaults of a
fanned-out name, ``$output`` on a node that is not a known output node).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._bindings import Binding, bind_marker, declared_twice, merge_bindings
from ._dsl import describe_node, node_parts, scan_title
from .errors import DSLError, WorkflowError
from .inspection import OUTPUT_CLASSES
from .params import parse_workflow


@attrs.frozen
class LintProblem:
    """One DSL problem; ``node_id`` is ``None`` for a problem of the whole graph."""

    node_id: str | None
    message: str
    field: str | None = None


def lint_graph(graph: Any) -> tuple[LintProblem, ...]:
    """All DSL problems of a graph: per node in order, then per name (empty: clean)."""
    if not isinstance(graph, Mapping):
        return (
            LintProblem(
                None, f"an API-format workflow is a JSON object, got {type(graph).__name__}"
            ),
        )
    problems: list[LintProblem] = []
    declarations: dict[str, list[Binding]] = {}
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
            previous = bound.get(marker.field)
            if previous == marker.name:
                problems.append(LintProblem(node_id, declared_twice(where, marker), marker.field))
                continue
            bound.setdefault(marker.field, marker.name)
            try:
                binding = bind_marker(marker, node_id, class_type, inputs, where, bound_to=previous)
            except DSLError as exc:
                problems.append(LintProblem(node_id, str(exc), exc.field))
                continue
            declarations.setdefault(marker.name, []).append(binding)
    for name, decls in declarations.items():
        problems.extend(_check_name(name, decls))
    if not problems:
        problems.extend(_core_verdict(graph))
    return tuple(problems)


def _check_name(name: str, bindings: list[Binding]) -> list[LintProblem]:
    """Problems of a name declared on several inputs: upload flag, type and default conflicts."""
    _, conflicts = merge_bindings(name, bindings)
    problems = [LintProblem(exc.node_id, str(exc), exc.field) for exc in conflicts]
    optional = [b for b in bindings if not b.marker.required and b.default is not None]
    if len({repr(b.default) for b in optional}) > 1:
        listing = ", ".join(f"node {b.node_id!r}: {b.default!r}" for b in optional)
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
