"""Build small UI-format workflows (the editor's "Save" JSON) for tests.

The JSON is what the frontend writes: root links as arrays, subgraph links as objects with the
subgraph's input node ``-10`` and output node ``-20``, inputs listed on a node once they are
linked (a widget's socket carries ``"widget": {"name": ...}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SUBGRAPH_IN = -10
SUBGRAPH_OUT = -20


class UIGraph:
    """Nodes and links of the root graph (or, through :class:`Subgraph`, of a definition)."""

    object_links = False

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[Any] = []
        self._next_link = 1

    def add(
        self,
        node_id: int,
        node_type: str,
        widgets: list[Any] | dict[str, Any] | None = None,
        *,
        mode: int = 0,
        title: str | None = None,
        outputs: tuple[str, ...] = (),
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": node_id,
            "type": node_type,
            "mode": mode,
            "inputs": [],
            "outputs": [{"name": t, "type": t, "links": []} for t in outputs],
            "properties": properties or {},
        }
        if widgets is not None:
            node["widgets_values"] = widgets
        if title is not None:
            node["title"] = title
        self.nodes.append(node)
        return node

    def node(self, node_id: int) -> dict[str, Any]:
        return next(n for n in self.nodes if n["id"] == node_id)

    def connect(
        self,
        origin: int,
        origin_slot: int,
        target: int,
        input_name: str,
        link_type: str,
        *,
        widget: bool = False,
    ) -> int:
        """Link ``origin``'s output ``origin_slot`` to ``target``'s input ``input_name``."""
        link_id = self._next_link
        self._next_link += 1
        target_slot = -1
        if target != SUBGRAPH_OUT:
            inputs = self.node(target)["inputs"]
            entry: dict[str, Any] = {"name": input_name, "type": link_type, "link": link_id}
            if widget:
                entry["widget"] = {"name": input_name}
            inputs.append(entry)
            target_slot = len(inputs) - 1
        if origin != SUBGRAPH_IN:
            outputs = self.node(origin)["outputs"]
            while len(outputs) <= origin_slot:
                outputs.append({"name": link_type, "type": link_type, "links": []})
            outputs[origin_slot]["links"].append(link_id)
        self._add_link(link_id, origin, origin_slot, target, target_slot, link_type)
        return link_id

    def _add_link(self, link_id: int, *fields: Any) -> None:
        origin, origin_slot, target, target_slot, link_type = fields
        if self.object_links:
            self.links.append(
                {
                    "id": link_id,
                    "origin_id": origin,
                    "origin_slot": origin_slot,
                    "target_id": target,
                    "target_slot": target_slot,
                    "type": link_type,
                }
            )
        else:
            self.links.append([link_id, *fields])

    def workflow(self, *definitions: Subgraph) -> dict[str, Any]:
        data: dict[str, Any] = {
            "last_node_id": max((n["id"] for n in self.nodes), default=0),
            "last_link_id": self._next_link - 1,
            "nodes": self.nodes,
            "links": self.links,
            "groups": [],
            "config": {},
            "extra": {},
            "version": 0.4,
        }
        if definitions:
            data["definitions"] = {"subgraphs": [d.definition() for d in definitions]}
        return data


class Subgraph(UIGraph):
    """A subgraph definition: its inputs come from node -10, its outputs go to node -20."""

    object_links = True

    def __init__(
        self,
        subgraph_id: str,
        name: str,
        inputs: Sequence[tuple[str, str]] = (),
        outputs: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self.id = subgraph_id
        self.name = name
        self.inputs = [{"name": n, "type": t, "linkIds": []} for n, t in inputs]
        self.outputs = [{"name": n, "type": t, "linkIds": []} for n, t in outputs]
        self.nested: list[Subgraph] = []

    def connect_input(
        self, slot: int, target: int, input_name: str, *, widget: bool = False
    ) -> int:
        link_type = self.inputs[slot]["type"]
        link_id = self.connect(SUBGRAPH_IN, slot, target, input_name, link_type, widget=widget)
        self.inputs[slot]["linkIds"].append(link_id)
        return link_id

    def connect_output(self, origin: int, origin_slot: int, slot: int) -> int:
        link_type = self.outputs[slot]["type"]
        link_id = self.connect(origin, origin_slot, SUBGRAPH_OUT, "", link_type)
        self.outputs[slot]["linkIds"].append(link_id)
        return link_id

    def instance(
        self, graph: UIGraph, node_id: int, widgets: list[Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Place an instance of this subgraph in ``graph``."""
        outputs = tuple(o["type"] for o in self.outputs)
        node = graph.add(node_id, self.id, widgets, outputs=outputs, **kwargs)
        for output, spec in zip(node["outputs"], self.outputs, strict=True):
            output["name"] = spec["name"]
        return node

    def definition(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "version": 1,
            "inputNode": {"id": SUBGRAPH_IN, "bounding": [0, 0, 10, 10]},
            "outputNode": {"id": SUBGRAPH_OUT, "bounding": [0, 0, 10, 10]},
            "inputs": self.inputs,
            "outputs": self.outputs,
            "widgets": [],
            "nodes": self.nodes,
            "links": self.links,
            "groups": [],
            "extra": {},
        }
        if self.nested:
            data["definitions"] = {"subgraphs": [d.definition() for d in self.nested]}
        return data
