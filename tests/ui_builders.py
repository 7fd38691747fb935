"""UI-format versions of the bundled example workflow, and how converted graphs are compared.

Built with :mod:`ui_graphs` (the editor's saved layout); ``comfykit_sync/testing/workflows/ui/
text_to_image.json`` is the same workflow as the editor saves it, converting to the same graph.
"""

from __future__ import annotations

from typing import Any

from ui_graphs import Subgraph, UIGraph

ENCODE_SUBGRAPH = "6c0e7a51-2f4b-4d8e-9b1a-3c5d7e9f0a12"


def text_to_image(
    *,
    prompt_title: str = "$prompt.text!",
    sampler_title: str = "Sampler, $seed, $steps, $cfg",
    positive_in_subgraph: bool = False,
) -> tuple[UIGraph, list[Subgraph]]:
    """``text_to_image.json`` in UI format, DSL markers in the titles.

    With ``positive_in_subgraph`` the positive prompt (node 6) sits inside a subgraph placed as
    node 20 (so its API id is ``20:6``). Returns the root graph and its subgraph definitions;
    add nodes, then call ``graph.workflow(*definitions)``.
    """
    ui = UIGraph()
    ui.add(4, "CheckpointLoaderSimple", ["sd15.safetensors"], outputs=("MODEL", "CLIP", "VAE"))
    size = "Size, $width, $height"
    ui.add(5, "EmptyLatentImage", [512, 512, 1], title=size, outputs=("LATENT",))
    negative = ["blurry, low quality"]
    ui.add(7, "CLIPTextEncode", negative, title="$negative.text", outputs=("CONDITIONING",))
    ui.add(
        3,
        "KSampler",
        [0, "randomize", 20, 7.0, "euler", "normal", 1.0],
        title=sampler_title,
        outputs=("LATENT",),
    )
    ui.add(8, "VAEDecode", outputs=("IMAGE",))
    ui.add(9, "SaveImage", ["ComfyKit"], title="$output.image")
    ui.add(10, "PreviewAny", title="$output.caption")
    definitions: list[Subgraph] = []
    if positive_in_subgraph:
        encode = Subgraph(
            ENCODE_SUBGRAPH,
            "Encode",
            inputs=[("clip", "CLIP")],
            outputs=[("CONDITIONING", "CONDITIONING")],
        )
        encode.add(6, "CLIPTextEncode", ["a cat"], title=prompt_title, outputs=("CONDITIONING",))
        encode.connect_input(0, 6, "clip")
        encode.connect_output(6, 0, 0)
        encode.instance(ui, 20)
        definitions.append(encode)
        positive = 20
    else:
        ui.add(6, "CLIPTextEncode", ["a cat"], title=prompt_title, outputs=("CONDITIONING",))
        positive = 6
    ui.connect(4, 1, positive, "clip", "CLIP")
    ui.connect(4, 1, 7, "clip", "CLIP")
    ui.connect(4, 0, 3, "model", "MODEL")
    ui.connect(positive, 0, 3, "positive", "CONDITIONING")
    ui.connect(7, 0, 3, "negative", "CONDITIONING")
    ui.connect(5, 0, 3, "latent_image", "LATENT")
    ui.connect(3, 0, 8, "samples", "LATENT")
    ui.connect(4, 2, 8, "vae", "VAE")
    ui.connect(8, 0, 9, "images", "IMAGE")
    ui.connect(positive, 0, 10, "source", "CONDITIONING")
    return ui, definitions


def saved_text_to_image(**kwargs: Any) -> dict[str, Any]:
    """:func:`text_to_image` as the saved JSON."""
    ui, definitions = text_to_image(**kwargs)
    return ui.workflow(*definitions)


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
