"""The editor's saved JSON ("Save", UI format) read into small typed records.

Only what the conversion needs is kept. Node ids are normalised to strings (the editor writes
numbers, newer versions sometimes strings); links are accepted both as the root graph's arrays
``[id, origin_id, origin_slot, target_id, target_slot, type]`` and as the objects of subgraph
definitions and the version-1 schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowLoadError

#: The id of a subgraph's input node in saved links (unless its ``inputNode`` says otherwise).
SUBGRAPH_INPUT_NODE_ID = "-10"

MODE_ALWAYS = 0
MODE_NEVER = 2  # "muted"
MODE_BYPASS = 4


@dataclass(frozen=True)
class Link:
    id: int
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: str


@dataclass(frozen=True)
class SavedInput:
    name: str
    type: str
    link: int | None
    #: The widget this input socket belongs to (``input.widget.name``), if any.
    widget: str | None = None


@dataclass(frozen=True)
class SavedOutput:
    name: str
    type: str
    links: tuple[int, ...] = ()


@dataclass(frozen=True)
class SavedNode:
    id: str
    type: str
    mode: int
    title: str | None
    inputs: tuple[SavedInput, ...]
    outputs: tuple[SavedOutput, ...]
    #: As saved: a list (positional), a dict keyed by widget name (a few custom nodes), or None.
    widgets_values: list[Any] | dict[str, Any] | None
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class SubgraphSlot:
    """One input or output of a subgraph definition."""

    name: str
    type: str
    link_ids: tuple[int, ...]


@dataclass
class Graph:
    """The root graph or the inside of one subgraph definition."""

    nodes: dict[str, SavedNode]
    links: dict[int, Link]
    #: Set for the inside of a subgraph definition.
    subgraph: SubgraphDefinition | None = None


@dataclass
class SubgraphDefinition:
    id: str
    name: str
    inputs: tuple[SubgraphSlot, ...]
    outputs: tuple[SubgraphSlot, ...]
    input_node_id: str = SUBGRAPH_INPUT_NODE_ID
    graph: Graph = field(default_factory=lambda: Graph({}, {}))


@dataclass
class SavedWorkflow:
    root: Graph
    #: Every subgraph definition, nested ones included, by id (a subgraph instance's ``type``).
    subgraphs: dict[str, SubgraphDefinition]
    #: Legacy group node definitions (``extra.groupNodes``).
    group_nodes: Mapping[str, Any]


def parse_workflow(data: Mapping[str, Any]) -> SavedWorkflow:
    """Read a UI-format workflow; raise WorkflowLoadError if its structure is unusable."""
    subgraphs: dict[str, SubgraphDefinition] = {}
    _collect_definitions(data, subgraphs)
    root = _parse_graph(data, "the workflow", None)
    extra = data.get("extra")
    group_nodes = extra.get("groupNodes") if isinstance(extra, Mapping) else None
    return SavedWorkflow(
        root=root,
        subgraphs=subgraphs,
        group_nodes=group_nodes if isinstance(group_nodes, Mapping) else {},
    )


def _collect_definitions(container: Mapping[str, Any], into: dict[str, SubgraphDefinition]) -> None:
    definitions = container.get("definitions")
    if not isinstance(definitions, Mapping):
        return
    raw = definitions.get("subgraphs") or []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise WorkflowLoadError("the workflow's definitions.subgraphs is not a list")
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise WorkflowLoadError("the workflow has a subgraph definition without an id")
        if item["id"] in into:  # the same definition saved twice (nested copies): first wins
            continue
        into[item["id"]] = _parse_definition(item)
        _collect_definitions(item, into)


def _parse_definition(item: Mapping[str, Any]) -> SubgraphDefinition:
    sid = str(item["id"])
    where = f"subgraph {item.get('name') or sid!r}"
    definition = SubgraphDefinition(
        id=sid,
        name=str(item.get("name") or sid),
        inputs=tuple(_parse_slot(s, where) for s in _list(item.get("inputs"), where)),
        outputs=tuple(_parse_slot(s, where) for s in _list(item.get("outputs"), where)),
        input_node_id=_io_node_id(item.get("inputNode"), SUBGRAPH_INPUT_NODE_ID),
    )
    definition.graph = _parse_graph(item, where, definition)
    return definition


def _io_node_id(raw: Any, default: str) -> str:
    if isinstance(raw, Mapping) and raw.get("id") is not None:
        return str(raw["id"])
    return default


def _parse_slot(raw: Any, where: str) -> SubgraphSlot:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise WorkflowLoadError(f"{where} has an input or output without a name")
    return SubgraphSlot(
        name=raw["name"],
        type=_type_str(raw.get("type")),
        link_ids=tuple(int(x) for x in raw.get("linkIds") or () if x is not None),
    )


def _parse_graph(
    container: Mapping[str, Any], where: str, definition: SubgraphDefinition | None
) -> Graph:
    nodes: dict[str, SavedNode] = {}
    for raw in _list(container.get("nodes"), where):
        node = _parse_node(raw, where)
        nodes[node.id] = node
    links: dict[int, Link] = {}
    for raw in _list(container.get("links"), where):
        if raw is None:
            continue
        link = _parse_link(raw, where)
        links[link.id] = link
    return Graph(nodes=nodes, links=links, subgraph=definition)


def _parse_node(raw: Any, where: str) -> SavedNode:
    if not isinstance(raw, Mapping) or raw.get("id") is None:
        raise WorkflowLoadError(f"{where} has a node without an id")
    node_id = str(raw["id"])
    node_type = raw.get("type")
    if not isinstance(node_type, str) or not node_type:
        raise WorkflowLoadError(f"{where}: node {node_id} has no type")
    title = raw.get("title")
    widgets_values = raw.get("widgets_values")
    if not isinstance(widgets_values, (list, dict)):
        widgets_values = None
    properties = raw.get("properties")
    mode = raw.get("mode")
    return SavedNode(
        id=node_id,
        type=node_type,
        mode=mode if isinstance(mode, int) else MODE_ALWAYS,
        title=title if isinstance(title, str) else None,
        inputs=tuple(_parse_input(i, where, node_id) for i in raw.get("inputs") or ()),
        outputs=tuple(_parse_output(o) for o in raw.get("outputs") or () if isinstance(o, Mapping)),
        widgets_values=widgets_values,
        properties=properties if isinstance(properties, Mapping) else {},
    )


def _parse_input(raw: Any, where: str, node_id: str) -> SavedInput:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise WorkflowLoadError(f"{where}: node {node_id} has an input without a name")
    widget = raw.get("widget")
    widget_name = widget.get("name") if isinstance(widget, Mapping) else None
    link = raw.get("link")
    return SavedInput(
        name=raw["name"],
        type=_type_str(raw.get("type")),
        link=int(link) if isinstance(link, (int, float)) and not isinstance(link, bool) else None,
        widget=widget_name if isinstance(widget_name, str) else None,
    )


def _parse_output(raw: Mapping[str, Any]) -> SavedOutput:
    links = raw.get("links") or ()
    return SavedOutput(
        name=str(raw.get("name") or ""),
        type=_type_str(raw.get("type")),
        links=tuple(int(x) for x in links if isinstance(x, (int, float))),
    )


def _parse_link(raw: Any, where: str) -> Link:
    try:
        if isinstance(raw, Mapping):
            return Link(
                id=int(raw["id"]),
                origin_id=str(raw["origin_id"]),
                origin_slot=int(raw["origin_slot"]),
                target_id=str(raw["target_id"]),
                target_slot=int(raw["target_slot"]),
                type=_type_str(raw.get("type")),
            )
        if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) >= 5:
            return Link(
                id=int(raw[0]),
                origin_id=str(raw[1]),
                origin_slot=int(raw[2]),
                target_id=str(raw[3]),
                target_slot=int(raw[4]),
                type=_type_str(raw[5] if len(raw) > 5 else "*"),
            )
    except (KeyError, TypeError, ValueError):
        pass
    raise WorkflowLoadError(f"{where} has a malformed link: {raw!r:.200}")


def _type_str(raw: Any) -> str:
    """A slot type as the editor compares it (``0``/missing is the wildcard)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):  # an old combo output saved as its list of values
        return "COMBO"
    return "*"


def _list(raw: Any, where: str) -> Sequence[Any]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise WorkflowLoadError(f"{where}: expected a list, got {type(raw).__name__}")
    return raw
