"""UI format → API format, step by step as the frontend's ``graphToPrompt()``.

1. Load the graph: node definitions from ``/object_info`` give every node its widgets, filled
   from ``widgets_values``; subgraph instances get their promoted widgets.
2. Expand subgraph instances into execution nodes (``outer:inner`` ids).
3. Virtual nodes act: each connected PrimitiveNode writes its value into its targets' widgets.
4. Emit every node that is neither virtual, muted (mode 2) nor bypassed (mode 4): its widget
   values (dynamic prompts resolved, ``%Node.widget%`` replaced in file names, lists wrapped
   as ``{"__value__": [...]}``), then each linked input resolved to ``[id, slot]`` or, through
   a subgraph's promoted widget, a value.
5. Drop links to nodes that were not emitted.

Nodes that cannot be converted faithfully raise :class:`~comfykit_sync.errors.UIConversionError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .emit import Emitter, refusal
from .live import Kind, load
from .node_defs import NodeDefs
from .primitive import apply_primitives, is_primitive
from .promoted import configure_instances
from .resolve import Resolver, expand
from .saved import MODE_BYPASS, MODE_NEVER, parse_workflow
from .search_replace import widget_lookup


@dataclass(frozen=True)
class PrimitiveSource:
    """A PrimitiveNode: its id (``outer:inner`` inside subgraphs), its title (where a DSL
    marker goes in the editor) and the API inputs its value reached, as ``(node id, input)``."""

    node_id: str
    title: str
    targets: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class UIConversion:
    #: The API-format prompt (``graphToPrompt()``'s ``output``).
    prompt: dict[str, Any]
    #: Every connected PrimitiveNode, whose value the prompt holds as plain input values.
    primitives: tuple[PrimitiveSource, ...]


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
    return convert_ui(workflow, object_info, rng=rng, now=now).prompt


def convert_ui(
    workflow: Mapping[str, Any],
    object_info: Mapping[str, Any],
    *,
    rng: random.Random | None = None,
    now: Callable[[], datetime] | None = None,
) -> UIConversion:
    """:func:`convert_ui_workflow`, also telling where each PrimitiveNode's value went."""
    live = load(parse_workflow(workflow), NodeDefs(object_info))
    configure_instances(live)
    nodes = expand(live)
    lookup = widget_lookup(live)
    clock = now or datetime.now
    apply_primitives(nodes.values(), lookup, clock)
    emitter = Emitter(Resolver(live, nodes), rng or random.Random(0), lookup, clock)
    prompt: dict[str, Any] = {}
    reached: dict[str, list[tuple[str, str]]] = {}
    for exec_node in nodes.values():
        node = exec_node.node
        if node.kind is Kind.GROUP:  # the frontend expands it whatever its mode
            raise refusal(
                exec_node,
                "legacy group nodes are not supported; convert it to a subgraph in the editor",
            )
        if node.kind in (Kind.VIRTUAL, Kind.SUBGRAPH) or node.mode in (MODE_NEVER, MODE_BYPASS):
            continue
        emitted = emitter.emit(exec_node)
        prompt[exec_node.exec_id] = emitted.entry
        for input_name, primitive_id in emitted.primitives.items():
            reached.setdefault(primitive_id, []).append((exec_node.exec_id, input_name))
    _prune_dangling(prompt)
    primitives = tuple(
        PrimitiveSource(exec_id, n.node.title, tuple(reached.get(exec_id, ())))
        for exec_id, n in nodes.items()
        if is_primitive(n.node)
    )
    return UIConversion(prompt, primitives)


def _prune_dangling(prompt: dict[str, Any]) -> None:
    """Links to nodes that were not emitted (muted, say) are dropped, as the frontend does."""
    for entry in prompt.values():
        inputs = entry["inputs"]
        for name in [
            n
            for n, v in inputs.items()
            if isinstance(v, list) and len(v) == 2 and v[0] not in prompt
        ]:
            del inputs[name]
