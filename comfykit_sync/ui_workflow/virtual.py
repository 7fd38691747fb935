"""Frontend-only ("virtual") node types: what the frontend's JavaScript makes of them.

A virtual node never reaches the API. A link from one passes through the virtual node's input
of the same index (Reroute), is redirected (KJNodes GetNode → the SetNode of the same name),
or is dropped (PrimitiveNode, whose value was already written into its targets' widgets).
Types listed here are emulated only when the server does not define a node of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .saved import Graph, Link, SavedNode

#: Finds the link a virtual node redirects its output ``slot`` to, in the node's own graph.
Redirect = Callable[[Graph, SavedNode, int], "Link | None"]


@dataclass(frozen=True)
class VirtualType:
    #: The title the frontend shows when the node has none of its own.
    title: str
    redirect: Redirect | None = None


def _kj_get_node_link(graph: Graph, node: SavedNode, slot: int) -> Link | None:
    """KJNodes GetNode: the input link of the SetNode whose constant names the same variable."""
    name = _constant(node)
    if name is None:
        return None
    for other in graph.nodes.values():
        if other.type == "SetNode" and _constant(other) == name and other.inputs:
            link_id = other.inputs[0].link
            return graph.links.get(link_id) if link_id is not None else None
    return None


def _constant(node: SavedNode) -> str | None:
    values = node.widgets_values
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return None


PRIMITIVE_NODE = "PrimitiveNode"

VIRTUAL_TYPES: Mapping[str, VirtualType] = {
    # ComfyUI frontend core
    "Note": VirtualType("Note"),
    "MarkdownNote": VirtualType("Markdown Note"),
    PRIMITIVE_NODE: VirtualType("Primitive"),
    "Reroute": VirtualType("Reroute"),
    # KJNodes (comfy-cli's list of UI-only types)
    "SetNode": VirtualType("Set"),
    "GetNode": VirtualType("Get", redirect=_kj_get_node_link),
    # rgthree: labels, bookmarks, reroutes and group togglers whose effect is the saved modes
    "Reroute (rgthree)": VirtualType("Reroute (rgthree)"),
    "Label (rgthree)": VirtualType("Label (rgthree)"),
    "Bookmark (rgthree)": VirtualType("Bookmark (rgthree)"),
    "Fast Groups Bypasser (rgthree)": VirtualType("Fast Groups Bypasser (rgthree)"),
    "Fast Groups Muter (rgthree)": VirtualType("Fast Groups Muter (rgthree)"),
}
