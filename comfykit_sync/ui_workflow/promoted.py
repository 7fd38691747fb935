"""Promoted widgets: the widgets a subgraph instance shows for its definition's inputs.

Canonical form: a subgraph input linked to an interior widget's socket is promoted. The
instance owns the value: its ``widgets_values[i]`` belongs to the i-th promoted input (a
missing or null value keeps the interior widget's value), and it wins over the interior value
when the prompt is built. Files saved while the instance's widgets mirrored the interior
layout carry an extra value after each promoted seed's control widget; those are skipped.

Legacy form: ``properties.proxyWidgets`` lists ``[interior node id, widget name]`` pairs (or
that list as a JSON string) and ``widgets_values[i]`` is the value of pair ``i``. Pairs that
name a promoted input set its value; the others set the interior widget for this instance
only; ``$$`` entries (previews) and pairs whose node is gone carry no value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ..errors import UIConversionError
from .live import Kind, LiveGraph, LiveNode, LiveWorkflow
from .virtual import PRIMITIVE_NODE
from .widgets import NodeWidgets, Role, Widget, WidgetState

_LEGACY_PREFIX = re.compile(r"^\s*(\d+)\s*:\s*(.+)$")


def configure_instances(live: LiveWorkflow) -> None:
    """Give every subgraph instance its promoted widgets and their values."""
    done: set[int] = set()
    for graph in (live.root, *live.subgraphs.values()):
        for node in graph.nodes.values():
            if node.kind is Kind.SUBGRAPH:
                _configure(node, live, done, ())


def _configure(node: LiveNode, live: LiveWorkflow, done: set[int], stack: tuple[int, ...]) -> None:
    if id(node) in done:
        return
    if id(node) in stack:
        raise UIConversionError(
            "the subgraph contains itself",
            node_id=node.id,
            title=node.title,
            node_type=node.saved.type,
        )
    assert node.definition is not None
    interior = live.subgraphs[node.definition.id]
    states: list[WidgetState] = []
    controls: list[bool] = []
    for slot in node.definition.inputs:
        source = _source(slot.link_ids, interior, live, done, (*stack, id(node)))
        if source is None:
            continue
        source_node, source_state = source
        value = source_state.display_value  # the instance starts with a copy of it
        widget = Widget(slot.name, Role.VALUE, default=value, input=source_state.widget.input)
        states.append(WidgetState(widget, value))
        controls.append(_has_control(source_node.widgets, source_state))
    node.widgets = NodeWidgets(states)
    proxies = _proxy_entries(node.properties.get("proxyWidgets"))
    values = node.saved.widgets_values
    if proxies:
        _apply_proxies(node, interior, proxies, values if isinstance(values, list) else [])
    elif isinstance(values, list):
        _apply_positional(states, controls, values)
    done.add(id(node))


def _source(
    link_ids: Sequence[int],
    interior: LiveGraph,
    live: LiveWorkflow,
    done: set[int],
    stack: tuple[int, ...],
) -> tuple[LiveNode, WidgetState] | None:
    """The interior widget a subgraph input is linked to (its first link that reaches one)."""
    for target, index in interior.targets(link_ids):
        if target.kind is Kind.SUBGRAPH:  # a nested instance: promote its promoted widget
            _configure(target, live, done, stack)
        state = target.widget_from_slot(index)
        if state is not None:
            return target, state
    return None


def _has_control(widgets: NodeWidgets, state: WidgetState) -> bool:
    index = widgets.states.index(state)
    following = widgets.states[index + 1 : index + 2]
    return bool(following) and following[0].widget.role is Role.CONTROL


def _apply_positional(states: list[WidgetState], controls: list[bool], values: list[Any]) -> None:
    skip_controls = len(values) > len(states)
    position = 0
    for state, has_control in zip(states, controls, strict=True):
        if position < len(values) and values[position] is not None:
            state.value = values[position]
        position += 2 if skip_controls and has_control else 1


def _proxy_entries(raw: Any) -> list[tuple[str, str]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if not isinstance(raw, list):
        return []
    entries: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, list) and len(item) >= 2 and isinstance(item[1], str):
            entries.append((str(item[0]), item[1]))
    return entries


def _apply_proxies(
    node: LiveNode, interior: LiveGraph, entries: list[tuple[str, str]], values: list[Any]
) -> None:
    for index, (source_id, widget_name) in enumerate(entries):
        if index >= len(values) or values[index] is None or widget_name.startswith("$$"):
            continue
        value = values[index]
        if source_id == "-1":  # a host-level value kept by name
            _set_promoted(node, widget_name, value)
            continue
        source = interior.nodes.get(source_id)
        if source is None:
            continue
        promoted_input = _promoted_input_for(node, interior, source, widget_name)
        if promoted_input is not None:
            _set_promoted(node, promoted_input, value)
        elif source.saved.type == PRIMITIVE_NODE:
            for target_id, target_widget in _primitive_targets(interior, source):
                node.overrides[(target_id, target_widget)] = value
        else:
            match = _LEGACY_PREFIX.match(widget_name)
            name = match.group(2) if match and source.kind is Kind.SUBGRAPH else widget_name
            node.overrides[(source.id, name)] = value


def _set_promoted(node: LiveNode, input_name: str, value: Any) -> None:
    state = node.widgets.find(input_name)
    if state is not None:
        state.value = value


def _promoted_input_for(
    node: LiveNode, interior: LiveGraph, source: LiveNode, widget_name: str
) -> str | None:
    """The subgraph input whose promoted widget is ``source``'s ``widget_name``, if any."""
    assert node.definition is not None
    for slot in node.definition.inputs:
        if node.widgets.find(slot.name) is None:
            continue
        for link_id in slot.link_ids:
            link = interior.saved.links.get(link_id)
            if link is None or link.target_id != source.id:
                continue
            index = source.input_index(link_id)
            if index is None:
                continue
            live_input = source.inputs[index]
            if widget_name in (live_input.widget, live_input.name):
                return slot.name
    return None


def _primitive_targets(graph: LiveGraph, primitive: LiveNode) -> list[tuple[str, str]]:
    """``(node id, widget name)`` of each widget a PrimitiveNode writes its value into."""
    links = primitive.saved.outputs[0].links if primitive.saved.outputs else ()
    targets: list[tuple[str, str]] = []
    for target, index in graph.targets(links):
        live_input = target.inputs[index]
        name = live_input.name if target.kind is Kind.SUBGRAPH else live_input.widget
        if name is not None:
            targets.append((target.id, name))
    return targets
