"""Turning loaded JSON into a checked workflow graph (shared by the built-in loaders)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import WorkflowLoadError
from ..ui_workflow import is_ui_workflow

UI_FORMAT_HINT = (
    'it is a UI-format workflow (the editor\'s plain "Save"). Export it from ComfyUI with '
    '"Save (API Format)" (Workflow menu → Export (API); on older versions enable the '
    "dev mode options first) and use that file"
)


def parse_json(data: bytes | str, where: str) -> Any:
    """Decode JSON text, with an error that names ``where`` it came from."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkflowLoadError(f"{where} is not valid JSON: {exc}") from exc


def workflow_graph(data: Any, where: str) -> dict[str, Any]:
    """A checked API-format graph, or a UI-format workflow as is (converted on loading)."""
    if is_ui_workflow(data):
        return dict(data)
    return api_graph(data, where)


def api_graph(data: Any, where: str) -> dict[str, Any]:
    """Check that ``data`` is an API-format graph and return it as a plain dict."""
    if not isinstance(data, Mapping):
        raise WorkflowLoadError(
            f"{where} must be a JSON object of nodes, got {type(data).__name__}"
        )
    if is_ui_workflow(data):
        raise WorkflowLoadError(f"{where} cannot be run: {UI_FORMAT_HINT}")
    if not data:
        raise WorkflowLoadError(f"{where} has no nodes")
    for node_id, node in data.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            raise WorkflowLoadError(
                f"{where}: node {node_id!r} has no class_type, so this is not an API-format "
                'workflow; export it with "Save (API Format)"'
            )
        if not isinstance(node.get("inputs", {}), Mapping):
            raise WorkflowLoadError(f"{where}: node {node_id!r} has inputs that are not an object")
    return {str(k): v for k, v in data.items()}
