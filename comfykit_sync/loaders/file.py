"""Loader for workflow files given as a path (``str`` or ``os.PathLike``).

A file is parsed once and kept while it is unchanged (``_file_cache``); each load returns a
graph of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import WorkflowLoadError
from ..hookspecs import hookimpl
from ..models import Workflow
from ._file_cache import GRAPHS
from .api_format import parse_json, workflow_graph


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".json") or "/" in text or "\\" in text or text.startswith("~")


@hookimpl(trylast=True)
def comfykit_load_workflow(source: Any, config: Config) -> Workflow | None:
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, str) and not source.startswith(("http://", "https://")):
        path = Path(os.path.expanduser(source))
        if not path.is_file() and not _looks_like_path(source):
            return None  # not a file we know: another loader may claim it
    else:
        return None
    where = f"workflow file {str(path)!r}"
    try:
        stat = path.stat()
        if stat.st_size > config.max_workflow_bytes:
            raise WorkflowLoadError(
                f"{where} is {stat.st_size} bytes, over the {config.max_workflow_bytes} limit"
            )
        key = os.path.abspath(path)
        graph = GRAPHS.get(key, stat)
        if graph is not None:
            return Workflow(graph=graph, source=str(path))
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowLoadError(
            f"{where} does not exist (working directory: {os.getcwd()})"
        ) from None
    except IsADirectoryError:
        raise WorkflowLoadError(f"{where} is a directory") from None
    except OSError as exc:
        raise WorkflowLoadError(f"{where} cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # e.g. an embedded NUL byte: no file can have that name
        raise WorkflowLoadError(f"{where} is not a valid path: {exc}") from exc
    graph = workflow_graph(parse_json(data, where), where)
    GRAPHS.put(key, stat, graph)
    return Workflow(graph=graph, source=str(path))
