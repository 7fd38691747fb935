"""Loader for workflows given as a dict (``execute_json``): used as is, no temporary files.

An API-format graph is checked here; a UI-format workflow is converted by ``loaders.ui``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..hookspecs import hookimpl
from ..models import Workflow
from .api_format import workflow_graph


@hookimpl(trylast=True)
def comfykit_load_workflow(source: Any) -> Workflow | None:
    if not isinstance(source, Mapping):
        return None
    return Workflow(graph=workflow_graph(source, "the workflow dict"), source="<dict>")
