"""PrimitiveNode: a frontend-only node whose one value is written into every widget it feeds.

Before the prompt is built each connected PrimitiveNode copies its value (after
``%Node.widget%`` replacement when its "Run widget replace on values" property is set) into the
widget behind each input it is linked to; the links themselves are then dropped. A number is
first clamped into the range its targets share, as the frontend merges their configs when it
loads the graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .live import Kind, LiveNode
from .node_defs import InputDef
from .resolve import ExecNode
from .text import WidgetLookup, apply_text_replacements
from .virtual import PRIMITIVE_NODE

REPLACE_PROPERTY = "Run widget replace on values"
#: Spec keys that do not stop two inputs' configs from merging.
_MERGE_IGNORED = frozenset(
    (
        "default",
        "forceInput",
        "defaultInput",
        "control_after_generate",
        "multiline",
        "tooltip",
        "dynamicPrompts",
    )
)


def apply_primitives(
    nodes: Iterable[ExecNode], lookup: WidgetLookup, now: Callable[[], datetime]
) -> None:
    """Write every connected PrimitiveNode's value into its targets' widgets."""
    for exec_node in nodes:
        node = exec_node.node
        state = node.widgets.find("value")
        if not is_primitive(node) or state is None:
            continue
        targets = list(exec_node.graph.targets(node.saved.outputs[0].links))
        value = _clamp(state.value, targets)
        if value and isinstance(value, str) and node.properties.get(REPLACE_PROPERTY):
            value = apply_text_replacements(value, lookup, now)
        for target, index in targets:
            target_state = target.widget_from_slot(index)
            if target_state is not None:
                target_state.value = value
                target_state.primitive = node.id


def is_primitive(node: LiveNode) -> bool:
    """A connected PrimitiveNode (one with a value widget)."""
    return (
        node.kind is Kind.VIRTUAL
        and node.saved.type == PRIMITIVE_NODE
        and node.widgets.find("value") is not None
    )


def _clamp(value: Any, targets: list[tuple[LiveNode, int]]) -> Any:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    specs: list[tuple[str, Mapping[str, Any]]] = []
    for target, index in targets:
        input_def = _widget_input(target, index)
        if input_def is None:
            if not specs:  # the first target is not a server node's widget: no config
                return value
            continue
        specs.append((input_def.type_name, {**input_def.options, "name": input_def.name}))
    bounds = merged_range(specs)
    if bounds is None:
        return value
    low, high = bounds
    return high if value > high else low if value < low else value


def _widget_input(target: LiveNode, index: int) -> InputDef | None:
    """The declared input behind the widget socket ``index`` of a server node."""
    widget = target.inputs[index].widget
    if target.kind is not Kind.REAL or target.node_def is None or widget is None:
        return None
    return next((i for i in target.node_def.inputs if i.name == widget), None)


def merged_range(specs: list[tuple[str, Mapping[str, Any]]]) -> tuple[float, float] | None:
    """The range a number primitive is clamped to: its first target's config merged with
    each target's in turn (targets whose config does not merge, e.g. an input of another name
    or range, are skipped)."""
    if not specs or specs[0][0] not in ("INT", "FLOAT"):
        return None
    merged_type, merged = specs[0]
    changed = False
    for spec_type, options in specs:
        result = _merge_numeric(merged_type, merged, spec_type, options)
        if result is not None:
            merged, changed = result, True
    if not changed:
        return None
    return merged["min"], merged["max"]


def _merge_numeric(
    type1: str, options1: Mapping[str, Any], type2: str, options2: Mapping[str, Any]
) -> dict[str, Any] | None:
    if type1 != type2:
        return None
    low1, high1 = _range(options1)
    low2, high2 = _range(options2)
    if low1 > high2 or high1 < low2:
        return None
    bounds = {"min": max(low1, low2), "max": min(high1, high2), "step": None}
    first = {**options1, **bounds}
    second = {**options2, **bounds}
    for key in (set(first) | set(second)) - _MERGE_IGNORED:
        if first.get(key) != second.get(key):
            return None
    return {**first, **second}


def _range(options: Mapping[str, Any]) -> tuple[float, float]:
    low = options.get("min")
    high = options.get("max")
    return (
        low if isinstance(low, (int, float)) else -math.inf,
        high if isinstance(high, (int, float)) else math.inf,
    )
