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
