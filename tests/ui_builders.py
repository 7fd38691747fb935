"""Build UI-format workflows (the editor's plain "Save", frontend 1.27 layout) for tests.

Only what a saved file holds: nodes with their sockets, ``widgets_values``, titles and modes,
and links written on both ends. Widget inputs are left out of ``inputs`` unless linked, as
the frontend's ``compressWidgetInputSlots`` leaves them.
"""

from __future__ import annotations

import copy
from typing import Any

#: Sockets (name, type) of the node classes the tests use: inputs, outputs.
SOCKETS: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "CheckpointLoaderSimple": ([], [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")]),
    "CLIPTextEncode": ([("clip", "CLIP")], [("CONDITIONING", "CONDITIONING")]),
    "EmptyLatentImage": ([], [("LATENT", "LATENT")]),
    "KSampler": (
        [
            ("model", "MODEL"),
            ("positive", "CONDITIONING"),
            ("negative", "CONDITIONING"),
            ("latent_image", "LATENT"),
        ],
        [("LATENT", "LATENT")],
    ),
    "KSamplerAdvanced": (
        [
            ("model", "MODEL"),
            ("positive", "CONDITIONING"),
            ("negative", "CONDITIONING"),
            ("latent_image", "LATENT"),
        ],
        [("LATENT", "LATENT")],
    ),
    "VAEDecode": ([("samples", "LATENT"), ("vae", "VAE")], [("IMAGE", "IMAGE")]),
    "SaveImage": ([("images", "IMAGE")], []),
    "PreviewAny": ([("source", "*")], []),
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "ImageInvert": ([("image", "IMAGE")], [("IMAGE", "IMAGE")]),
    "EmptyImage": ([], [("IMAGE", "IMAGE")]),
    "PrimitiveNode": ([], [("connect to widget input", "*")]),
    "Reroute": ([("", "*")], [("", "*")]),
}


class UIWorkflow:
    """A UI-format workflow under construction; :meth:`build` returns the saved JSON."""

    def __init__(self) -> None:
        self.nodes: dict[int, dict[str, Any]] = {}
        self.links: list[list[Any]] = []

    def node(
        self,
        node_id: int,
        node_type: str,
        widgets: list[Any] | None = None,
        *,
        title: str | None = None,
        mode: int = 0,
    ) -> UIWorkflow:
        inputs, outputs = SOCKETS[node_type]
        node: dict[str, Any] = {
            "id": node_id,
            "type": node_type,
            "pos": [100 * len(self.nodes), 100],
            "size": [315, 98],
            "flags": {},
            "order": len(self.nodes),
            "mode": mode,
            "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
            "outputs": [{"name": n, "type": t, "links": []} for n, t in outputs],
            "properties": {"Node name for S&R": node_type},
        }
        if widgets is not None:
            node["widgets_values"] = list(widgets)
        if title is not None:
            node["title"] = title
        self.nodes[node_id] = node
        return self

    def link(
        self, origin: int, origin_slot: int, target: int, target_input: str, widget: bool = False
    ) -> UIWorkflow:
        """Connect ``origin``'s output slot to ``target``'s input (a widget input if ``widget``)."""
        link_id = len(self.links) + 1
        source, dest = self.nodes[origin], self.nodes[target]
        output = source["outputs"][origin_slot]
        inputs = dest["inputs"]
        slot = next((i for i, x in enumerate(inputs) if x["name"] == target_input), None)
        if slot is None:
            entry: dict[str, Any] = {"name": target_input, "type": output["type"], "link": None}
            if widget:
                entry["widget"] = {"name": target_input}
            inputs.append(entry)
            slot = len(inputs) - 1
        inputs[slot]["link"] = link_id
        output["links"].append(link_id)
        if source["type"] == "PrimitiveNode":
            output.update(name=inputs[slot]["type"], type=inputs[slot]["type"])
            output["widget"] = {"name": target_input}
        self.links.append([link_id, origin, origin_slot, target, slot, output["type"]])
        return self

    def build(self) -> dict[str, Any]:
        nodes = list(self.nodes.values())
        return copy.deepcopy(
            {
                "id": "9c5f0d6e-3b8a-4f1e-9d2a-7c1b0e5a4f3d",
                "revision": 0,
                "last_node_id": max(self.nodes, default=0),
                "last_link_id": len(self.links),
                "nodes": nodes,
                "links": self.links,
                "groups": [],
                "config": {},
                "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.27.10"},
                "version": 0.4,
            }
        )


def text_to_image(
    *, prompt_title: str = "$prompt.text!", sampler_title: str = "Sampler, $seed, $steps, $cfg"
) -> UIWorkflow:
    """The bundled ``text_to_image.json`` as the editor saves it, DSL markers in the titles."""
    ui = UIWorkflow()
    ui.node(4, "CheckpointLoaderSimple", ["sd15.safetensors"])
    ui.node(5, "EmptyLatentImage", [512, 512, 1], title="Size, $width, $height")
    ui.node(6, "CLIPTextEncode", ["a cat"], title=prompt_title)
    ui.node(7, "CLIPTextEncode", ["blurry, low quality"], title="$negative.text")
    ui.node(
        3,
        "KSampler",
        [0, "randomize", 20, 7.0, "euler", "normal", 1.0],
        title=sampler_title,
    )
    ui.node(8, "VAEDecode")
    ui.node(9, "SaveImage", ["ComfyKit"], title="$output.image")
    ui.node(10, "PreviewAny", title="$output.caption")
    ui.link(4, 1, 6, "clip").link(4, 1, 7, "clip").link(4, 0, 3, "model")
    ui.link(6, 0, 3, "positive").link(7, 0, 3, "negative").link(5, 0, 3, "latent_image")
    ui.link(3, 0, 8, "samples").link(4, 2, 8, "vae").link(8, 0, 9, "images")
    ui.link(6, 0, 10, "source")
    return ui


def subgraph(
    workflow: dict[str, Any],
    instance_id: int,
    inner: UIWorkflow,
    *,
    inputs: list[tuple[str, str, int, str]],
    outputs: list[tuple[str, str, int, int]],
    name: str = "Encode",
) -> dict[str, Any]:
    """Add a subgraph built from ``inner`` to ``workflow`` and place one instance of it.

    ``inputs``: (name, type, inner node, inner input) fed from the instance's input sockets;
    ``outputs``: (name, type, inner node, inner output slot) exposed on the instance.
    Returns the instance node (link it with :func:`link_instance`).
    """
    sg_id = f"00000000-0000-4000-8000-{instance_id:012d}"
    links: list[dict[str, Any]] = []
    next_id = 1000 + instance_id * 100
    for origin, origin_slot, target, slot, kind in (
        (link[1], link[2], link[3], link[4], link[5]) for link in inner.links
    ):
        links.append(
            dict(
                id=next_id,
                origin_id=origin,
                origin_slot=origin_slot,
                target_id=target,
                target_slot=slot,
                type=kind,
            )
        )
        next_id += 1
    nodes = copy.deepcopy(list(inner.nodes.values()))
    by_id = {node["id"]: node for node in nodes}
    for node in nodes:  # renumber the inner links' ids on both ends
        for entry in node["inputs"]:
            entry["link"] = None
        for entry in node["outputs"]:
            entry["links"] = []
    for link in links:
        by_id[link["target_id"]]["inputs"][link["target_slot"]]["link"] = link["id"]
        by_id[link["origin_id"]]["outputs"][link["origin_slot"]]["links"].append(link["id"])
    sg_inputs, sg_outputs = [], []
    for slot, (input_name, kind, target, target_input) in enumerate(inputs):
        entries = by_id[target]["inputs"]
        index = next(i for i, x in enumerate(entries) if x["name"] == target_input)
        entries[index]["link"] = next_id
        links.append(
            dict(id=next_id, origin_id=-10, origin_slot=slot, target_id=target,
                 target_slot=index, type=kind)
        )  # fmt: skip
        sg_inputs.append(
            {"id": f"in-{slot}", "name": input_name, "type": kind, "linkIds": [next_id]}
        )
        next_id += 1
    for slot, (output_name, kind, origin, origin_slot) in enumerate(outputs):
        by_id[origin]["outputs"][origin_slot]["links"].append(next_id)
        links.append(
            dict(id=next_id, origin_id=origin, origin_slot=origin_slot, target_id=-20,
                 target_slot=slot, type=kind)
        )  # fmt: skip
        sg_outputs.append(
            {"id": f"out-{slot}", "name": output_name, "type": kind, "linkIds": [next_id]}
        )
        next_id += 1
    definition = {
        "id": sg_id,
        "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": 100, "lastLinkId": next_id, "lastRerouteId": 0},
        "revision": 0,
        "config": {},
        "name": name,
        "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
        "outputNode": {"id": -20, "bounding": [600, 0, 120, 60]},
        "inputs": sg_inputs,
        "outputs": sg_outputs,
        "widgets": [],
        "nodes": nodes,
        "groups": [],
        "links": links,
        "extra": {},
    }
    workflow.setdefault("definitions", {}).setdefault("subgraphs", []).append(definition)
    instance = {
        "id": instance_id,
        "type": sg_id,
        "pos": [0, 0],
        "size": [270, 80],
        "flags": {},
        "order": len(workflow["nodes"]),
        "mode": 0,
        "inputs": [{"name": n, "type": t, "link": None} for n, t, _, _ in inputs],
        "outputs": [{"name": n, "type": t, "links": []} for n, t, _, _ in outputs],
        "properties": {"proxyWidgets": []},
        "widgets_values": [],
    }
    workflow["nodes"].append(instance)
    return instance


def link_instance(
    workflow: dict[str, Any], origin: int, origin_slot: int, target: int, target_slot: int
) -> None:
    """Link two root nodes of a built workflow by slot index (for subgraph instances)."""
    link_id = max((link[0] for link in workflow["links"]), default=0) + 1
    nodes = {node["id"]: node for node in workflow["nodes"]}
    output = nodes[origin]["outputs"][origin_slot]
    output["links"].append(link_id)
    nodes[target]["inputs"][target_slot]["link"] = link_id
    workflow["links"].append([link_id, origin, origin_slot, target, target_slot, output["type"]])
    workflow["last_link_id"] = link_id


def judged(graph: dict[str, Any], object_info: dict[str, Any]) -> dict[str, Any]:
    """A graph as the conversion is judged: class, title and the inputs the server declares.

    Frontend-only widgets the frontend still sends (``PreviewAny``'s ``preview``) are dropped.
    """
    result = {}
    for node_id, node in graph.items():
        inputs = object_info[node["class_type"]]["input"]
        declared = {name for section in inputs.values() for name in section}
        values = {k: v for k, v in node["inputs"].items() if k in declared}
        result[node_id] = (node["class_type"], node["_meta"]["title"], values)
    return result
