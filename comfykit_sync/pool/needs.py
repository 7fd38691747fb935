"""What a workflow needs from a server, and what one server's node definitions lack of it.

A server can run a graph when its ``/object_info`` lists every ``class_type`` of the graph and
every literal value of a combo input (checkpoints, LoRAs, VAEs, input files, …) is among that
combo's options there: ComfyUI refuses a value missing from the options at validation. Inputs
set by an upload are not checked (the server names the file when it receives it), nor are
upload-combo values with a subfolder or a ``[type]`` annotation, which the server resolves
against its folders rather than the listed options.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from .._targets import upstream

UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "file_upload")


@attrs.frozen
class Needs:
    """The node classes of a graph (with a node using each) and its literal string inputs."""

    classes: Mapping[str, str]
    #: (node id, class type, input name, value)
    values: tuple[tuple[str, str, str, str], ...]


def needs_of(
    graph: Mapping[str, Any],
    *,
    skip: Collection[tuple[str, str]] = (),
    targets: Collection[str] | None = None,
) -> Needs:
    """What ``graph`` needs; ``skip`` lists (node id, input) pairs set by uploads; with
    ``targets`` only their nodes and what they depend on have their values checked."""
    checked = upstream(graph, targets) if targets is not None else graph
    classes: dict[str, str] = {}
    values: list[tuple[str, str, str, str]] = []
    for node_id, node in graph.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            continue
        class_type = node["class_type"]
        classes.setdefault(class_type, str(node_id))
        inputs = node.get("inputs")
        if node_id not in checked or not isinstance(inputs, Mapping):
            continue
        for name, value in inputs.items():
            if isinstance(value, str) and (node_id, name) not in skip:
                values.append((str(node_id), class_type, str(name), value))
    return Needs(classes, tuple(values))


def combo_options(definition: Mapping[str, Any], name: str) -> tuple[list[Any] | None, bool]:
    """(the options of combo input ``name``, whether it takes uploads); no combo: ``None``."""
    inputs = definition.get("input")
    if not isinstance(inputs, Mapping):
        return None, False
    for section in ("required", "optional"):
        specs = inputs.get(section)
        spec = specs.get(name) if isinstance(specs, Mapping) else None
        if not isinstance(spec, (list, tuple)) or not spec:
            continue
        kind = spec[0]
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
        upload = any(options.get(flag) for flag in UPLOAD_FLAGS)
        if isinstance(kind, list):
            return kind, upload
        if kind == "COMBO" and isinstance(options.get("options"), list):
            return options["options"], upload
        return None, False
    return None, False


def lacks(needs: Needs, definitions: Mapping[str, Any]) -> tuple[str, ...]:
    """What a server with these node ``definitions`` lacks, one line per node or input."""
    missing = [
        f"node {node_id}: node class {class_type!r} is not installed"
        for class_type, node_id in needs.classes.items()
        if class_type not in definitions
    ]
    for node_id, class_type, name, value in needs.values:
        definition = definitions.get(class_type)
        if not isinstance(definition, Mapping):
            continue
        options, upload = combo_options(definition, name)
        if options is None or value in options:
            continue
        if upload and ("/" in value or value.endswith("]")):
            continue
        missing.append(
            f"node {node_id} ({class_type}) input {name!r}: {value!r} is not available "
            f"({len(options)} options)"
        )
    return tuple(missing)
