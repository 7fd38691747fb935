"""Where ``%Node.widget%`` looks its values up, and which nodes replace them in file names."""

from __future__ import annotations

from collections.abc import Iterator

from .live import Kind, LiveGraph, LiveNode, LiveWorkflow
from .text import WidgetLookup

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


def widget_lookup(live: LiveWorkflow) -> WidgetLookup:
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
