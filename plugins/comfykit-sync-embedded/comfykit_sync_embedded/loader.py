"""The ``comfykit_load_workflow`` hook: run the workflow embedded in a ComfyUI output file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from comfykit_sync import Config, Workflow, hookimpl

from .metadata import DEFAULT_CAP, read_embedded, workflow_graph


def _as_path(source: Any) -> Path | None:
    if isinstance(source, os.PathLike):
        path = Path(os.fspath(source))
    elif isinstance(source, str) and not source.startswith(("http://", "https://")):
        path = Path(os.path.expanduser(source))
    else:
        return None
    try:
        return path if path.is_file() else None
    except (OSError, ValueError):  # e.g. a name too long, or with a NUL byte
        return None


@hookimpl
def comfykit_load_workflow(source: Any, config: Config) -> Workflow | None:
    """Claim an existing PNG/WebP/audio/video/... file by its magic bytes; else ``None``."""
    path = _as_path(source)
    if path is None or path.suffix.lower() == ".json":
        return None
    cap = getattr(config, "max_workflow_bytes", DEFAULT_CAP) or DEFAULT_CAP
    embedded = read_embedded(path, cap=cap)
    if embedded is None:
        return None
    return Workflow(graph=workflow_graph(embedded), source=str(path))
