"""The graph as the frontend holds it after loading: typed nodes, inputs, widgets.

Every graph (the root and each subgraph definition) gets one :class:`LiveNode` per saved node,
shared by all instances of a definition, as in the frontend. A node is one of:

* ``REAL``: its type is in ``/object_info``; its inputs are the connection sockets, then one
  socket per widget, in definition order, and its widgets carry the saved values;
* ``SUBGRAPH``: an instance of a subgraph definition; its widgets are the promoted ones;
* ``VIRTUAL``: a frontend-only type (see :mod:`.virtual`);
* ``GROUP``: a legacy group node (``workflow>Name``), which this converter does not expand;
* ``MISSING``: any other type: the server does not have it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .node_defs import NodeDef, NodeDefs
from .saved import Graph, SavedInput, SavedNode, SavedWorkflow, SubgraphDefinition
from .virtual import PRIMITIVE_NODE, VIRTUAL_TYPES, VirtualType
from .widgets import NodeWidgets, Role, Widget, WidgetState, build_widgets, is_widget_input

LEGACY_GROUP_PREFIXES = ("workflow>", "workflow/")


class Kind(Enum):
    REAL = "real"
    SUBGRAPH = "subgraph"
    VIRTUAL = "virtual"
    GROUP = "group"
    MISSING = "missing"


@dataclass(frozen=True)
class LiveInput:
    name: str
    type: str
    link: int | None
    #: The name of the widget behind this socket, if it is a widget's socket.
    widget: str | None = None


@dataclass
class LiveNode:
    saved: SavedNode
    kind: Kind
    title: str
    inputs: list[LiveInput]
    output_types: list[str]
    widgets: NodeWidgets = field(default_factory=NodeWidgets)
    node_def: NodeDef | None = None
    definition: SubgraphDefinition | None = None
    virtual: VirtualType | None = None
    #: SUBGRAPH: legacy ``proxyWidgets`` values for interior widgets, keyed by
    #: ``(interior node id, widget name)``; they apply to this instance only.
    overrides: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.saved.id

    @property
    def mode(self) -> int:
        return self.saved.mode

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.saved.properties

    def input_index(self, link_id: int) -> int | None:
        return next((i for i, inp in enumerate(self.inputs) if inp.link == link_id), None)

    def widget_from_slot(self, index: int) -> WidgetState | None:
        """The widget behind input ``index`` (on an instance: the promoted one)."""
        live_input = self.inputs[index]
        if self.kind is Kind.SUBGRAPH:
            return self.widgets.find(live_input.name)
        return self.widgets.find(live_input.widget) if live_input.widget is not None else None


@dataclass
class LiveGraph:
    saved: Graph
    nodes: dict[str, LiveNode]

    @property
    def definition(self) -> SubgraphDefinition | None:
        return self.saved.subgraph

    def targets(self, link_ids: Iterable[int]) -> Iterator[tuple[LiveNode, int]]:
        """The node and input index each of these links ends at (links to nowhere skipped)."""
        for link_id in link_ids:
            link = self.saved.links.get(link_id)
            target = self.nodes.get(link.target_id) if link is not None else None
            index = target.input_index(link_id) if target is not None else None
            if target is not None and index is not None:
                yield target, index


@dataclass
class LiveWorkflow:
    root: LiveGraph
    #: The inside of each subgraph definition, by definition id.
    subgraphs: dict[str, LiveGraph]


def load(workflow: SavedWorkflow, defs: NodeDefs) -> LiveWorkflow:
    """Build the live nodes of every graph (promoted widgets come later, see :mod:`.promoted`)."""
    return LiveWorkflow(
        root=_graph(workflow.root, workflow, defs),
        subgraphs={sid: _graph(d.graph, workflow, defs) for sid, d in workflow.subgraphs.items()},
    )


def _graph(graph: Graph, workflow: SavedWorkflow, defs: NodeDefs) -> LiveGraph:
    return LiveGraph(
        saved=graph,
        nodes={nid: _node(node, workflow, defs) for nid, node in graph.nodes.items()},
    )


def _node(node: SavedNode, workflow: SavedWorkflow, defs: NodeDefs) -> LiveNode:
    definition = workflow.subgraphs.get(node.type)
    if definition is not None:
        return LiveNode(
            saved=node,
            kind=Kind.SUBGRAPH,
            title=node.title or definition.name,
            inputs=_subgraph_inputs(node, definition),
            output_types=[slot.type for slot in definition.outputs],
            definition=definition,
        )
    node_def = defs.get(node.type)
    if node_def is not None:
        return LiveNode(
            saved=node,
            kind=Kind.REAL,
            title=node.title or node_def.display_name,
            inputs=_real_inputs(node, node_def),
            output_types=_real_outputs(node, node_def),
            widgets=build_widgets(node_def, node.widgets_values),
            node_def=node_def,
        )
    virtual = VIRTUAL_TYPES.get(node.type)
    if virtual is not None:
        return LiveNode(
            saved=node,
            kind=Kind.VIRTUAL,
            title=node.title or virtual.title,
            inputs=[_saved_input(i) for i in node.inputs],
            output_types=[o.type for o in node.outputs],
            widgets=_primitive_widgets(node) if node.type == PRIMITIVE_NODE else NodeWidgets(),
            virtual=virtual,
        )
    is_group = node.type.startswith(LEGACY_GROUP_PREFIXES)
    return LiveNode(
        saved=node,
        kind=Kind.GROUP if is_group else Kind.MISSING,
        title=node.title or node.type,
        inputs=[_saved_input(i) for i in node.inputs],
        output_types=[o.type for o in node.outputs],
    )


def _saved_input(saved: SavedInput) -> LiveInput:
    return LiveInput(saved.name, saved.type, saved.link, saved.widget)


def _real_inputs(node: SavedNode, node_def: NodeDef) -> list[LiveInput]:
    """The inputs the frontend creates: the connection sockets, then one socket per widget,
    each in definition order and with its saved link (matched by name); saved inputs the
    definition does not declare (added by a node's own extension) follow."""
    by_name = {saved.name: saved for saved in node.inputs}  # the last of a name wins
    sockets = [i for i in node_def.inputs if not is_widget_input(i)]
    widgets = [i for i in node_def.inputs if is_widget_input(i)]
    inputs: list[LiveInput] = []
    for input_def in (*sockets, *widgets):
        saved_input = by_name.get(input_def.name)
        inputs.append(
            LiveInput(
                name=input_def.name,
                type=input_def.type_name,
                link=saved_input.link if saved_input is not None else None,
                widget=input_def.name if is_widget_input(input_def) else None,
            )
        )
    declared = {i.name for i in node_def.inputs}
    inputs.extend(_saved_input(s) for s in node.inputs if s.name not in declared)
    return inputs


def _real_outputs(node: SavedNode, node_def: NodeDef) -> list[str]:
    types = list(node_def.outputs)
    types.extend(o.type for o in node.outputs[len(types) :])
    return types


def _subgraph_inputs(node: SavedNode, definition: SubgraphDefinition) -> list[LiveInput]:
    """One input per subgraph input, linked as the saved instance input that matches it (by
    name and type, else by name); saved inputs match at most one subgraph input."""
    unmatched = list(node.inputs)
    inputs: list[LiveInput] = []
    for slot in definition.inputs:
        match = next((s for s in unmatched if s.name == slot.name and s.type == slot.type), None)
        match = match or next((s for s in unmatched if s.name == slot.name), None)
        if match is not None:
            unmatched.remove(match)
        inputs.append(LiveInput(slot.name, slot.type, match.link if match else None))
    return inputs


def _primitive_widgets(node: SavedNode) -> NodeWidgets:
    """A PrimitiveNode has a value widget once it is connected; its saved value is first."""
    connected = bool(node.outputs and node.outputs[0].links)
    values = node.widgets_values
    if not connected or not isinstance(values, list) or not values:
        return NodeWidgets()
    return NodeWidgets([WidgetState(Widget("value", Role.VALUE), values[0])])
