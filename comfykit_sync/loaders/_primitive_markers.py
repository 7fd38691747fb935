"""DSL markers on a UI workflow's ``PrimitiveNode``: they bind every input the primitive feeds.

The frontend leaves primitives out of the API prompt after writing their value into each
target's widget, so a primitive's title never reaches the API graph. To keep a marker such as
``$seed`` on a primitive meaningful, the workflow is converted a second time with a probe token
in place of each marked primitive's value: the inputs that receive a token are that primitive's
targets, exactly as the converter resolved them (through subgraphs, reroutes and bypassed
nodes). Each target's ``_meta.title`` then gets the marker for that input appended, so the
converted graph carries the parameters like any API-format workflow.

On a primitive, ``$name`` binds the value; an explicit field (``$name.field``) must be the
primitive's widget name (the input it was first connected to, shown on the node) or ``value``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._dsl import Marker, describe_node, parse_title
from ..errors import DSLError

PRIMITIVE = "PrimitiveNode"
MAX_DEPTH = 32  # subgraph nesting followed when naming primitives inside subgraphs

Convert = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


def convert_with_primitive_markers(
    workflow: Mapping[str, Any], object_info: Mapping[str, Any], convert: Convert
) -> dict[str, Any]:
    """``convert(workflow, object_info)`` with markers on primitives moved to their targets."""
    graph = convert(workflow, object_info)
    probe = copy.deepcopy(dict(workflow))
    marked = [(node, label) for node, label in _primitives(probe) if "$" in _title(node)]
    if not marked:
        return graph
    tokens: list[str] = []
    for node, _label in marked:
        token = f"comfykit-probe-{uuid.uuid4().hex}"
        values = node.get("widgets_values")
        rest = values[1:] if isinstance(values, list) else []
        node["widgets_values"] = [token, *rest]
        tokens.append(token)
    probed = convert(probe, object_info)
    for (node, label), token in zip(marked, tokens, strict=True):
        targets = [
            (node_id, name)
            for node_id, api_node in probed.items()
            for name, value in api_node.get("inputs", {}).items()
            if value == token
        ]
        _bind(graph, node, label, targets)
    return graph


def _title(node: Mapping[str, Any]) -> str:
    title = node.get("title")
    return title if isinstance(title, str) else ""


def _widget_name(node: Mapping[str, Any]) -> str | None:
    outputs = node.get("outputs")
    first = outputs[0] if isinstance(outputs, list) and outputs else None
    widget = first.get("widget") if isinstance(first, Mapping) else None
    name = widget.get("name") if isinstance(widget, Mapping) else None
    return name if isinstance(name, str) else None


def _bind(
    graph: dict[str, Any],
    node: Mapping[str, Any],
    label: str,
    targets: list[tuple[str, str]],
) -> None:
    """Append ``node``'s markers, one per target input, to the targets' titles."""
    title = _title(node)
    parsed = parse_title(title, node_id=label, class_type=PRIMITIVE)
    where = describe_node(label, PRIMITIVE, title)
    if parsed.output is not None:
        raise DSLError(
            f"{where}: a PrimitiveNode produces no results; put $output.{parsed.output} on the "
            "node that saves them",
            node_id=label,
        )
    widget = _widget_name(node)
    for marker in parsed.markers:
        if marker.field not in (marker.name, widget, "value"):
            raise DSLError(
                f"{where}: parameter {marker.name!r} names field {marker.field!r}, but this "
                f"primitive's widget is {widget or 'value'!r}; write ${marker.name} (a marker on "
                "a primitive sets every input it feeds)",
                node_id=label,
                field=marker.field,
            )
        if not targets:
            raise DSLError(
                f"{where}: parameter {marker.name!r} would set nothing: the primitive feeds no "
                "input of a node that runs (connect it, or enable the nodes it feeds)",
                node_id=label,
                field=marker.field,
            )
        for node_id, field in targets:
            meta = graph[node_id].setdefault("_meta", {})
            meta["title"] = f"{meta.get('title') or ''}, {_segment(marker, field)}"


def _segment(marker: Marker, field: str) -> str:
    upload = "~" if marker.upload else ""
    required = "!" if marker.required else ""
    description = f":{marker.description}" if marker.description else ""
    return f"${upload}{marker.name}.{field}{required}{description}"


def _primitives(workflow: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every PrimitiveNode with how errors name it: its id, ``outer:inner`` in a subgraph.

    A primitive in a subgraph is named after the first instance of that subgraph; one in a
    subgraph that is never placed is skipped (it feeds nothing that runs).
    """
    definitions = {
        sg.get("id"): sg for sg in _subgraphs(workflow) if isinstance(sg.get("nodes"), list)
    }

    def walk(nodes: Any, prefix: str, depth: int) -> Iterator[tuple[dict[str, Any], str]]:
        for node in nodes if isinstance(nodes, list) else ():
            if not isinstance(node, dict):
                continue
            label = f"{prefix}{node.get('id')}"
            if node.get("type") == PRIMITIVE:
                yield node, label
            inner = definitions.get(node.get("type"))
            if inner is not None and depth < MAX_DEPTH:
                yield from walk(inner["nodes"], f"{label}:", depth + 1)

    seen: set[int] = set()
    for node, label in walk(workflow.get("nodes"), "", 0):
        if id(node) not in seen:  # a subgraph placed twice: name it after the first
            seen.add(id(node))
            yield node, label


def _subgraphs(workflow: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Subgraph definitions at any nesting (``definitions.subgraphs``, recursively)."""
    stack: list[Any] = [workflow]
    for _ in range(10_000):  # bounded: a definition list cannot be that deep
        if not stack:
            return
        current = stack.pop()
        defs = current.get("definitions") if isinstance(current, Mapping) else None
        subgraphs = defs.get("subgraphs") if isinstance(defs, Mapping) else None
        for sg in subgraphs if isinstance(subgraphs, list) else ():
            if isinstance(sg, dict):
                yield sg
                stack.append(sg)
