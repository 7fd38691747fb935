"""Loader for RunningHub workflows; they run on the ``runninghub`` backend.

Claimed sources: an ASCII-digit string that names no local file (``"1953270871002394625"``),
``"runninghub:<id>"``, and a local ``.json`` pointer file whose top-level object has
``"_source": "runninghub"`` and ``"workflow_id"``. Pointer detection reads at most the first
4 KiB of a ``.json`` file and parses it only when ``"_source"`` appears there, so ordinary
workflow files are left to the file loader untouched. The workflow's API-format JSON is fetched
from RunningHub (``getJsonApiFormat``) so that the kit reads its DSL markers as for any workflow.
Ids stay strings throughout: 19-digit ids do not survive a trip through a float.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..backends.runninghub_api import RunningHubAPI, require_api_key
from ..config import Config
from ..errors import WorkflowLoadError
from ..hookspecs import hookimpl
from ..http import HttpClient
from ..models import Workflow
from .api_format import api_graph, parse_json

PREFIX = "runninghub:"
PEEK_BYTES = 4096


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _pointer_id(path: Path, limit: int) -> str | None:
    """The workflow id of a RunningHub pointer file, or ``None`` for any other file."""
    if path.suffix.lower() != ".json":
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(PEEK_BYTES)
            if b'"_source"' not in data:
                return None
            data += fh.read(max(0, limit - len(data)))
        document = json.loads(data, parse_int=str)  # ids keep every digit
    except (OSError, ValueError):
        return None  # unreadable or not JSON: the file loader reports it
    if not isinstance(document, dict) or document.get("_source") != "runninghub":
        return None
    workflow_id = document.get("workflow_id")
    if not isinstance(workflow_id, str) or not _is_id(workflow_id.strip()):
        raise WorkflowLoadError(
            f"RunningHub pointer file {str(path)!r} has no valid workflow_id "
            f"(got {workflow_id!r}; expected the workflow's numeric id)"
        )
    return workflow_id.strip()


def find_workflow_id(source: Any, config: Config) -> tuple[str, str] | None:
    """(workflow id, source description) when ``source`` is a RunningHub workflow."""
    if isinstance(source, str):
        if source[: len(PREFIX)].lower() == PREFIX:
            workflow_id = source[len(PREFIX) :].strip()
            if not _is_id(workflow_id):
                raise WorkflowLoadError(
                    f"{source!r} is not a RunningHub workflow reference: expected "
                    "'runninghub:<numeric workflow id>'"
                )
            return workflow_id, f"{PREFIX}{workflow_id}"
        if _is_id(source) and not os.path.isfile(source):
            return source, f"{PREFIX}{source}"
        if source.startswith(("http://", "https://")):
            return None
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = Path(os.path.expanduser(source))
    pointer_id = _pointer_id(path, config.max_workflow_bytes)
    return (pointer_id, str(path)) if pointer_id else None


@hookimpl(trylast=True)
def comfykit_load_workflow(source: Any, config: Config) -> Workflow | None:
    found = find_workflow_id(source, config)
    if found is None:
        return None
    workflow_id, where = found
    api_key = require_api_key(config)
    http = HttpClient(config.runninghub_url, timeout=config.request_timeout)
    try:
        api = RunningHubAPI(http, api_key, retry_count=config.runninghub_retry_count)
        text = api.workflow_json(workflow_id)
    finally:
        http.close()
    label = f"RunningHub workflow {workflow_id}"
    return Workflow(
        graph=api_graph(parse_json(text, label), label),
        source=where,
        backend="runninghub",
        source_id=workflow_id,
    )
