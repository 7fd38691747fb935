"""Execution nodes and link resolution, as the frontend's ``ExecutableNodeDTO`` does it.

Every node gets an execution id: its id, prefixed by the ids of the subgraph instances it sits
in (``75:61``). An input's link is followed back to the node that really produces the value:

* through the subgraph's input node to the instance's input (or, when that input is not
  linked, to the instance's promoted widget: a literal value);
* through a bypassed node, to the input that matches the types (:mod:`.bypass`);
* into a subgraph instance, to the interior node feeding that output;
* through a virtual node's input of the same index, or its redirect; else the link is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UIConversionError
from .bypass import bypass_input_index
from .live import Kind, LiveGraph, LiveNode, LiveWorkflow
from .saved import MODE_BYPASS, Link


@dataclass(frozen=True, eq=False)
class ExecNode:
    """A node at one place of the expanded graph (one per instance for subgraph nodes)."""

    exec_id: str
    #: The ids of the subgraph instances containing the node, outermost first.
    path: tuple[str, ...]
    node: LiveNode
    graph: LiveGraph
    #: The instance whose subgraph holds the node.
    host: ExecNode | None


@dataclass(frozen=True)
class LinkRef:
    """An API link: ``[node id, output slot]``."""

    node_id: str
    slot: int


@dataclass(frozen=True)
class Literal:
    """A value resolved from a promoted widget instead of a link."""

    value: Any
    #: The id of the PrimitiveNode that set the value, if one did.
    primitive: str | None = None


Resolved = LinkRef | Literal


def expand(live: LiveWorkflow) -> dict[str, ExecNode]:
    """Every node of the workflow by execution id, subgraph instances expanded recursively."""
    nodes: dict[str, ExecNode] = {}

    def add(
        graph: LiveGraph, path: tuple[str, ...], host: ExecNode | None, seen: frozenset[str]
    ) -> None:
        for node in graph.nodes.values():
            exec_node = ExecNode(":".join((*path, node.id)), path, node, graph, host)
            nodes[exec_node.exec_id] = exec_node
            if node.kind is Kind.SUBGRAPH and node.definition is not None:
                if node.definition.id in seen:
                    raise UIConversionError(
                        "the subgraph contains an instance of itself",
                        node_id=exec_node.exec_id,
                        title=node.title,
                        node_type=node.saved.type,
                    )
                inner = live.subgraphs[node.definition.id]
                add(inner, (*path, node.id), exec_node, seen | {node.definition.id})

    add(live.root, (), None, frozenset())
    return nodes


class Resolver:
    """Follows links back to their real origin (``resolveInput``/``resolveOutput``)."""

    def __init__(self, live: LiveWorkflow, nodes: dict[str, ExecNode]) -> None:
        self._live = live
        self._nodes = nodes

    def resolve(self, exec_node: ExecNode, index: int) -> Resolved | None:
        """What input ``index`` of ``exec_node`` receives; None when nothing (widget value kept)."""
        return self._input(exec_node, index, set(), None)

    def _input(
        self, exec_node: ExecNode, index: int, visited: set[tuple[str, str, int]], type_: str | None
    ) -> Resolved | None:
        self._visit(visited, exec_node, "I", index)
        node = exec_node.node
        if index >= len(node.inputs):
            return None
        live_input = node.inputs[index]
        link = self._link(exec_node.graph, live_input.link)
        if link is None:
            return None
        definition = exec_node.graph.definition
        host = exec_node.host
        if (
            host is not None
            and definition is not None
            and link.origin_id == definition.input_node_id
        ):
            return self._from_host(host, link.origin_slot, visited)
        origin = exec_node.graph.nodes.get(link.origin_id)
        if origin is None:
            return None
        origin_exec = self._nodes[":".join((*exec_node.path, origin.id))]
        wanted = type_ if type_ is not None else live_input.type
        return self._output(origin_exec, link.origin_slot, wanted, visited)

    def _from_host(
        self, host: ExecNode, slot: int, visited: set[tuple[str, str, int]]
    ) -> Resolved | None:
        """A link from the subgraph's input node: the instance's input, or its promoted value."""
        if slot >= len(host.node.inputs):
            return None
        host_input = host.node.inputs[slot]
        if host_input.link is not None:
            return self._input(host, slot, visited, None)
        state = host.node.widgets.find(host_input.name)
        if state is None:
            return None
        overrides = host.host.node.overrides if host.host is not None else {}
        key = (host.node.id, host_input.name)
        if key in overrides:
            return Literal(overrides[key])
        primitive = ":".join((*host.path, state.primitive)) if state.primitive else None
        return Literal(state.value, primitive)

    def _output(
        self, exec_node: ExecNode, slot: int, type_: str, visited: set[tuple[str, str, int]]
    ) -> Resolved | None:
        self._visit(visited, exec_node, "O", slot)
        node = exec_node.node
        if node.mode == MODE_BYPASS:
            output_type = node.output_types[slot] if slot < len(node.output_types) else "*"
            index = bypass_input_index([i.type for i in node.inputs], output_type, slot, type_)
            return None if index is None else self._input(exec_node, index, visited, None)
        if node.kind is Kind.SUBGRAPH:
            return self._subgraph_output(exec_node, slot, type_, visited)
        if node.kind is Kind.VIRTUAL:
            if slot < len(node.inputs):
                return self._input(exec_node, slot, visited, type_)
            redirect = node.virtual.redirect if node.virtual is not None else None
            link = redirect(exec_node.graph.saved, node.saved, slot) if redirect else None
            origin = exec_node.graph.nodes.get(link.origin_id) if link is not None else None
            if link is None or origin is None:
                return None
            origin_exec = self._nodes[":".join((*exec_node.path, origin.id))]
            return self._output(origin_exec, link.origin_slot, type_, visited)
        return LinkRef(exec_node.exec_id, slot)

    def _subgraph_output(
        self, exec_node: ExecNode, slot: int, type_: str, visited: set[tuple[str, str, int]]
    ) -> Resolved | None:
        definition = exec_node.node.definition
        if definition is None or slot >= len(definition.outputs):
            return None
        inner_graph = self._live.subgraphs[definition.id]
        link = next(
            (
                inner_graph.saved.links[i]
                for i in definition.outputs[slot].link_ids
                if i in inner_graph.saved.links
            ),
            None,
        )
        if link is None:
            return None
        if link.origin_id == definition.input_node_id:  # the input passed straight through
            return self._from_host(exec_node, link.origin_slot, visited)
        inner = inner_graph.nodes.get(link.origin_id)
        if inner is None:
            return None
        path = (*exec_node.path, exec_node.node.id)
        inner_exec = self._nodes[":".join((*path, inner.id))]
        return self._output(inner_exec, link.origin_slot, type_, visited)

    @staticmethod
    def _link(graph: LiveGraph, link_id: int | None) -> Link | None:
        return graph.saved.links.get(link_id) if link_id is not None else None

    @staticmethod
    def _visit(
        visited: set[tuple[str, str, int]], exec_node: ExecNode, way: str, slot: int
    ) -> None:
        key = (exec_node.exec_id, way, slot)
        if key in visited:
            raise UIConversionError(
                f"its links form a loop (at {'input' if way == 'I' else 'output'} {slot})",
                node_id=exec_node.exec_id,
                title=exec_node.node.title,
                node_type=exec_node.node.saved.type,
            )
        visited.add(key)
