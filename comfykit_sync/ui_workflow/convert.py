"""UI format → API format, step by step as the frontend's ``graphToPrompt()``.

1. Load the graph: node definitions from ``/object_info`` give every node its widgets, filled
   from ``widgets_values``; subgraph instances get their promoted widgets.
2. Virtual nodes act: each connected PrimitiveNode writes its value into its targets' widgets.
3. Expand subgraph instances into execution nodes (``outer:inner`` ids).
4. Emit every node that is neither virtual, muted (mode 2) nor bypassed (mode 4): its widget
   values (dynamic prompts resolved, ``%Node.widget%`` replaced in file names, lists wrapped
   as ``{"__value__": [...]}``), then each linked input resolved to ``[id, slot]`` or, through
   a subgraph's promoted widget, a value.
5. Drop links to nodes that were not emitted.

Nodes that cannot be converted faithfully raise :class:`~comfykit_sync.errors.UIConversionError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from ..errors import UIConversionError
from .live import Kind, LiveGraph, LiveNode, LiveWorkflow, load
from .node_defs import NodeDefs
from .primitive import apply_primitives
from .promoted import configure_instances
from .resolve import ExecNode, LinkRef, Resolver, expand
from .saved import MODE_BYPASS, MODE_NEVER, parse_workflow
from .text import apply_text_replacements, process_dynamic_prompt
from .widgets import Role, WidgetState

#: Nodes whose ``filename_prefix`` the frontend runs through ``%Node.widget%`` replacement.
SAVE_NODE_TYPES = frozenset(
    {
        "SaveImage",
        "SaveImageAdvanced",
        "SaveSVGNode",
        "SaveVideo",
        "SaveAnimatedWEBP",
        "SaveWEBM",
        "SaveAudio",
        "SaveAudioMP3",
        "SaveAudioOpus",
        "SaveAudioAdvanced",
        "SaveGLB",
        "SaveAnimatedPNG",
        "CLIPSave",
        "VAESave",
        "ModelSave",
        "LoraSave",
        "SaveLatent",
    }
)
SEARCH_REPLACE_PROPERTY = "Node name for S&R"


def convert_ui_workflow(
    workflow: Mapping[str, Any],
    object_info: Mapping[str, Any],
    *,
    rng: random.Random | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Convert a UI-format workflow to the API-format prompt the frontend would send.

    ``object_info`` is the target server's ``GET /object_info``. ``rng`` draws the choices of
    dynamic prompts (``{a|b}``; default: a generator seeded with 0, so the result is
    reproducible); ``now`` gives the time for ``%date:…%`` in file names (default: the clock,
    read only when such a pattern is present). Pure: no I/O.
    """
    saved = parse_workflow(workflow)
    live = load(saved, NodeDefs(object_info))
    configure_instances(live)
    nodes = expand(live)
    lookup = _widget_lookup(live)
    clock = now or datetime.now
    apply_primitives(nodes.values(), lookup, clock)
    emitter = _Emitter(Resolver(live, nodes), rng or random.Random(0), lookup, clock)
    output: dict[str, Any] = {}
    for exec_node in nodes.values():
        node = exec_node.node
        if node.kind is Kind.GROUP:  # expanded by the frontend even when muted or bypassed
            raise _refuse(
                exec_node,
                "legacy group nodes are not supported; convert it to a subgraph in the editor",
            )
        if node.kind in (Kind.VIRTUAL, Kind.SUBGRAPH) or node.mode in (MODE_NEVER, MODE_BYPASS):
            continue
        output[exec_node.exec_id] = emitter.emit(exec_node)
    _prune_dangling(output)
    return output


class _Emitter:
    def __init__(
        self,
        resolver: Resolver,
        rng: random.Random,
        lookup: Callable[[str, str], tuple[bool, object]],
        now: Callable[[], datetime],
    ) -> None:
        self._resolver = resolver
        self._rng = rng
        self._lookup = lookup
        self._now = now

    def emit(self, exec_node: ExecNode) -> dict[str, Any]:
        node = exec_node.node
        if node.kind is not Kind.REAL:
            raise _refuse(
                exec_node,
                "the server has no node of this type (a custom node that is not installed, or "
                "a frontend-only node this converter does not know)",
            )
        overrides = exec_node.host.node.overrides if exec_node.host is not None else {}
        inputs: dict[str, Any] = {}
        for state in node.widgets.states:
            role = state.widget.role
            name = state.widget.name
            if role is Role.COMPUTED:
                raise _refuse(
                    exec_node, f"its {name!r} value is computed in the browser when it is queued"
                )
            if role is Role.FRONTEND:
                inputs[name] = state.widget.default
            elif role is Role.VALUE:
                if (node.id, name) in overrides:
                    inputs[name] = _wrap(overrides[(node.id, name)])
                else:
                    inputs[name] = _wrap(self._serialize(node, state))
        for index, live_input in enumerate(node.inputs):
            resolved = self._resolver.resolve(exec_node, index)
            if resolved is None:
                continue
            if isinstance(resolved, LinkRef):
                inputs[live_input.name] = [resolved.node_id, resolved.slot]
            else:
                inputs[live_input.name] = _wrap(resolved.value)
        return {"inputs": inputs, "class_type": node.saved.type, "_meta": {"title": node.title}}

    def _serialize(self, node: LiveNode, state: WidgetState) -> Any:
        """``widget.serializeValue``: dynamic prompts, file name replacements, else the value."""
        value = state.display_value
        if not isinstance(value, str):
            return value
        if state.widget.dynamic_prompts:
            return process_dynamic_prompt(value, self._rng)
        if state.widget.name == "filename_prefix" and node.saved.type in SAVE_NODE_TYPES:
            return apply_text_replacements(value, self._lookup, self._now)
        return value


def _widget_lookup(live: LiveWorkflow) -> Callable[[str, str], tuple[bool, object]]:
    """``%Node.widget%``: the first node whose "Node name for S&R" (else title) is ``Node``."""
    all_nodes = list(_all_nodes(live))

    def lookup(node_name: str, widget_name: str) -> tuple[bool, object]:
        matches = [n for n in all_nodes if _search_name(n) == node_name]
        matches = matches or [n for n in all_nodes if n.title == node_name]
        state = matches[0].widgets.find(widget_name) if matches else None
        return (False, None) if state is None else (True, state.display_value)

    return lookup


def _all_nodes(live: LiveWorkflow) -> Iterator[LiveNode]:
    """Every node, a subgraph instance's inside before the instance (``collectAllNodes``)."""

    def visit(graph: LiveGraph, seen: frozenset[str]) -> Iterator[LiveNode]:
        for node in graph.nodes.values():
            definition = node.definition
            if definition is not None and definition.id not in seen:
                yield from visit(live.subgraphs[definition.id], seen | {definition.id})
            yield node

    return visit(live.root, frozenset())


def _search_name(node: LiveNode) -> object:
    """The node's "Node name for S&R": saved, else (for server nodes) its type."""
    if SEARCH_REPLACE_PROPERTY in node.properties:
        return node.properties[SEARCH_REPLACE_PROPERTY]
    if node.kind is Kind.REAL and node.saved.type not in SAVE_NODE_TYPES:
        return node.saved.type
    return None


def _wrap(value: Any) -> Any:
    """Lists would read as links: the frontend sends them as ``{"__value__": [...]}``."""
    return {"__value__": value} if isinstance(value, list) else value


def _prune_dangling(output: dict[str, Any]) -> None:
    for entry in output.values():
        inputs = entry["inputs"]
        for name in [
            n
            for n, v in inputs.items()
            if isinstance(v, list) and len(v) == 2 and v[0] not in output
        ]:
            del inputs[name]


def _refuse(exec_node: ExecNode, reason: str) -> UIConversionError:
    return UIConversionError(
        reason,
        node_id=exec_node.exec_id,
        title=exec_node.node.title,
        node_type=exec_node.node.saved.type,
    )
