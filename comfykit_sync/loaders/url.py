"""Loader for ``http(s)://`` workflow URLs: bounded in time and size; credentials stay home."""

from __future__ import annotations

import time
from typing import Any

from ..config import Config
from ..errors import ComfyKitError, WorkflowLoadError
from ..hookspecs import hookimpl
from ..http import HttpClient, iter_body
from ..models import Workflow
from .api_format import parse_json, workflow_graph

CHUNK = 64 * 1024


@hookimpl(trylast=True)
def comfykit_load_workflow(source: Any, config: Config, session: HttpClient) -> Workflow | None:
    if not isinstance(source, str) or not source.startswith(("http://", "https://")):
        return None
    where = f"workflow URL {source}"
    limit = config.max_workflow_bytes
    deadline = time.monotonic() + config.request_timeout[1]  # total, against a dripping server
    try:
        response = session.request("GET", source, what=f"downloading {where}", stream=True)
        with response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise WorkflowLoadError(f"{where} is {declared} bytes, over the {limit} limit")
            data = bytearray()
            for chunk in iter_body(response, f"downloading {where}", CHUNK):
                data += chunk
                if len(data) > limit:
                    raise WorkflowLoadError(f"{where} is larger than the {limit} byte limit")
                if time.monotonic() > deadline:
                    raise WorkflowLoadError(
                        f"{where} took longer than {config.request_timeout[1]:g} s to download"
                    )
    except WorkflowLoadError:
        raise
    except ComfyKitError as exc:
        raise WorkflowLoadError(f"could not load {where}: {exc}") from exc
    return Workflow(graph=workflow_graph(parse_json(bytes(data), where), where), source=source)
