"""DSL markers on a UI workflow's ``PrimitiveNode``: they bind every input the primitive feeds.

The frontend leaves primitives out of the API prompt after writing their value into each
target's widget, so a primitive's title never reaches the API graph. The converter reports
where each primitive's value went (``convert_ui(...).primitives``); each marker in a primitive's
title is appended, once per target input, to that target's ``_meta.title``. The converted graph
then carries the parameters like any API-format workflow (and keeps them when written out by
``comfykit convert``).

On a primitive, ``$name`` binds the value; an explicit field (``$name.field``) must be ``value``
or the name of a widget the primitive feeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._dsl import Marker, describe_node, parse_title
from ..errors import DSLError
from ..ui_workflow import PrimitiveSource, convert_ui

PRIMITIVE = "PrimitiveNode"


def convert_with_primitive_markers(
    workflow: Mapping[str, Any], object_info: Mapping[str, Any]
) -> dict[str, Any]:
    """The API graph of ``workflow``, markers on primitives moved to the inputs they feed."""
    conversion = convert_ui(workflow, object_info)
    graph = conversion.prompt
    for primitive in conversion.primitives:
        if isinstance(primitive.title, str) and "$" in primitive.title:
            _bind(graph, primitive)
    return graph


def _bind(graph: dict[str, Any], primitive: PrimitiveSource) -> None:
    """Append the primitive's markers, one per target input, to the targets' titles."""
    node_id, title, targets = primitive.node_id, primitive.title, primitive.targets
    parsed = parse_title(title, node_id=node_id, class_type=PRIMITIVE)
    where = describe_node(node_id, PRIMITIVE, title)
    if parsed.output is not None:
        raise DSLError(
            f"{where}: a PrimitiveNode produces no results; put $output.{parsed.output} on the "
            "node that saves them",
            node_id=node_id,
        )
    fields = {field for _, field in targets}
    for marker in parsed.markers:
        if marker.field not in {marker.name, "value", *fields}:
            fed = ", ".join(repr(f) for f in sorted(fields)) or "none"
            raise DSLError(
                f"{where}: parameter {marker.name!r} names field {marker.field!r}, but this "
                f"primitive feeds {fed}; write ${marker.name} (a marker on a primitive sets "
                "every input it feeds)",
                node_id=node_id,
                field=marker.field,
            )
        if not targets:
            raise DSLError(
                f"{where}: parameter {marker.name!r} would set nothing: the primitive feeds no "
                "input of a node that runs (connect it, or enable the nodes it feeds)",
                node_id=node_id,
                field=marker.field,
            )
        for target, field in targets:
            meta = graph[target].setdefault("_meta", {})
            meta["title"] = f"{meta.get('title') or ''}, {_segment(marker, field)}"


def _segment(marker: Marker, field: str) -> str:
    upload = "~" if marker.upload else ""
    required = "!" if marker.required else ""
    description = f":{marker.description}" if marker.description else ""
    return f"${upload}{marker.name}.{field}{required}{description}"
