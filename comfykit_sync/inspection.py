"""What a workflow takes and gives: its parameters and outputs, and a JSON Schema of the params."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .params import ParamSpec, _frozen_mapping, _strings, parse_workflow

#: Core and common custom node classes that produce UI output (results of a job).
OUTPUT_CLASSES: frozenset[str] = frozenset(
    {
        "SaveImage",
        "PreviewImage",
        "SaveAnimatedWEBP",
        "SaveAnimatedPNG",
        "SaveVideo",
        "SaveWEBM",
        "SaveAudio",
        "SaveAudioMP3",
        "SaveAudioOpus",
        "PreviewAudio",
        "PreviewAny",
        "SaveGLB",
        "Preview3D",
        "SaveLatent",
        "VHS_VideoCombine",
        "ShowText|pysssss",
    }
)

_JSON_TYPES: Mapping[str, dict[str, Any]] = {
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "object": {"type": ["array", "object"]},
    "any": {},
}

_UPLOAD_NOTE = "a file to upload: a local path, an http(s) URL or a file name already on the server"


def _params(items: Iterable[ParamSpec]) -> tuple[ParamSpec, ...]:
    return tuple(items)


@attrs.frozen
class WorkflowInfo:
    """A workflow's parameters (declaration order), outputs (var → node ids) and DSL warnings."""

    source: str
    params: tuple[ParamSpec, ...] = attrs.field(converter=_params)
    outputs: Mapping[str, tuple[str, ...]] = attrs.field(converter=_frozen_mapping)
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def json_schema(self) -> dict[str, Any]:
        """The parameters as a JSON Schema (draft 2020-12) object schema, for form builders."""
        properties: dict[str, Any] = {}
        for param in self.params:
            prop: dict[str, Any] = {"title": param.name}
            if param.upload:
                prop.update(type="string", description=_UPLOAD_NOTE)
            else:
                prop.update(_JSON_TYPES[param.type])
            if param.description:
                prop["description"] = (
                    f"{param.description} ({_UPLOAD_NOTE})" if param.upload else param.description
                )
            if not param.required and param.default is not None:
                prop["default"] = param.default
            properties[param.name] = prop
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.source,
            "type": "object",
            "properties": properties,
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


def inspect_graph(graph: Mapping[str, Any], source: str = "<workflow>") -> WorkflowInfo:
    """Describe an API-format graph; raise :class:`DSLError` for a bad marker (see ``lint``)."""
    spec = parse_workflow(graph)
    outputs: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        if node_id in spec.outputs or class_type in OUTPUT_CLASSES:
            outputs.setdefault(spec.output_var(node_id), []).append(node_id)
    return WorkflowInfo(
        source=source,
        params=tuple(spec.params.values()),
        outputs={var: tuple(ids) for var, ids in outputs.items()},
        warnings=spec.warnings,
    )
