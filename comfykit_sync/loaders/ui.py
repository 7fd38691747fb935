"""The UI-format loader: converts the editor's plain "Save" to the API format on loading.

A hook wrapper around every ``comfykit_load_workflow`` implementation, built-in or third-party:
when the loaded ``graph`` is a UI-format workflow it is converted (``comfykit_sync.ui_workflow``,
which follows ComfyUI's frontend) with the target server's node definitions, the hook's
``object_info``. DSL markers in node titles carry over as ``_meta.title``; markers on a
``PrimitiveNode`` bind every input it feeds. A workflow that cannot be converted faithfully
raises ``UIConversionError`` naming the node, before anything is sent. Definitions read from the
disk cache that turn out not to fit (a node installed since) are fetched again, once.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import attrs

from ..errors import ComfyKitError, WorkflowLoadError
from ..hookspecs import hookimpl
from ..models import Workflow
from ..object_info import ObjectInfoSource
from ..ui_workflow import UIConversionError, is_ui_workflow
from ._primitive_markers import convert_with_primitive_markers


@hookimpl(wrapper=True, trylast=True)
def comfykit_load_workflow(
    object_info: ObjectInfoSource,
) -> Generator[None, Workflow | None, Workflow | None]:
    workflow = yield
    if workflow is None or not is_ui_workflow(workflow.graph):
        return workflow
    graph = convert(workflow.graph, workflow.source, object_info)
    if not graph:
        raise WorkflowLoadError(
            f"{_where(workflow.source)} has no nodes to run: every node is muted, bypassed or "
            "frontend-only (notes, primitives, reroutes)"
        )
    return attrs.evolve(workflow, graph=graph)


def _where(source: str) -> str:
    return "the workflow dict" if source == "<dict>" else f"workflow {source}"


def convert(ui: Mapping[str, Any], source: str, object_info: ObjectInfoSource) -> dict[str, Any]:
    """The API graph of the UI-format workflow ``ui`` loaded from ``source``."""
    where = _where(source)
    definitions = _definitions(where, object_info)
    try:
        try:
            return convert_with_primitive_markers(ui, definitions)
        except UIConversionError:
            if not object_info.stale:
                raise
        fresh = _definitions(where, object_info, refresh=True)
        return convert_with_primitive_markers(ui, fresh)
    except UIConversionError as exc:  # the same error, naming the workflow too
        raise UIConversionError(
            f"{exc.reason} (in {where})",
            node_id=exc.node_id,
            title=exc.title,
            node_type=exc.node_type,
        ) from exc


def _definitions(
    where: str, object_info: ObjectInfoSource, *, refresh: bool = False
) -> Mapping[str, Any]:
    try:
        return object_info.refresh() if refresh else object_info.get()
    except WorkflowLoadError:
        raise
    except ComfyKitError as exc:
        raise WorkflowLoadError(
            f"{where} is in UI format; converting it needs the server's node "
            f"definitions, which could not be fetched: {exc}. To convert offline, pass a saved "
            "/object_info JSON (object_info= or --object-info)"
        ) from exc
