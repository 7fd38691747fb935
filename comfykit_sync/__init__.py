"""comfykit-sync: run ComfyUI workflows from plain, synchronous Python.

>>> from comfykit_sync import ComfyKit
>>> with ComfyKit() as kit:                                # doctest: +SKIP
...     result = kit.execute("workflow.json", {"prompt": "a cat"})
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .client import ComfyKit
from .config import Config
from .errors import (
    APIError,
    AuthenticationError,
    ComfyKitError,
    ConfigurationError,
    DSLError,
    ExecutionCancelled,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionTimeout,
    InsufficientBalanceError,
    InvalidResponseError,
    JobInterrupted,
    NoCapableServerError,
    NotFoundError,
    ParameterError,
    PluginError,
    PromptLostError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    SubmissionUnknownError,
    TransportError,
    UIConversionError,
    UnsupportedSourceError,
    UploadTooLargeError,
    WorkflowError,
    WorkflowLoadError,
    WorkflowValidationError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:  # loaded on first use (``__getattr__``): ``import comfykit_sync`` stays light
    from .backends.base import JobState
    from .events import (
        Completed,
        Event,
        EventCallback,
        Failed,
        NodeCached,
        NodeExecuted,
        NodeExecuting,
        Progress,
        Queued,
        Started,
    )
    from .hookspecs import hookimpl
    from .inspection import WorkflowInfo
    from .job import Job
    from .models import Artifact, ExecuteResult, OutputItem, Workflow
    from .params import ParamSpec, WorkflowSpec
    from .pool.report import ServerInfo

#: public name -> the module that defines it, imported when the name is first used
_LAZY = {
    "Artifact": "models",
    "Completed": "events",
    "Event": "events",
    "EventCallback": "events",
    "ExecuteResult": "models",
    "Failed": "events",
    "Job": "job",
    "JobState": "backends.base",
    "NodeCached": "events",
    "NodeExecuted": "events",
    "NodeExecuting": "events",
    "OutputItem": "models",
    "ParamSpec": "params",
    "Progress": "events",
    "ServerInfo": "pool.report",
    "Queued": "events",
    "Started": "events",
    "Workflow": "models",
    "WorkflowInfo": "inspection",
    "WorkflowSpec": "params",
    "hookimpl": "hookspecs",
}


def __getattr__(name: str) -> Any:
    """Import a lazily exported name on first use (PEP 562) and keep it in the package; a
    submodule not imported yet is imported, as when the package imported them all."""
    from importlib.util import find_spec

    module = _LAZY.get(name)
    if module is not None:
        value = getattr(import_module(f".{module}", __name__), name)
    elif not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "APIError",
    "Artifact",
    "AuthenticationError",
    "ComfyKit",
    "ComfyKitError",
    "Completed",
    "Config",
    "ConfigurationError",
    "DSLError",
    "Event",
    "EventCallback",
    "ExecuteResult",
    "ExecutionCancelled",
    "ExecutionError",
    "ExecutionInterrupted",
    "ExecutionTimeout",
    "Failed",
    "InsufficientBalanceError",
    "InvalidResponseError",
    "Job",
    "JobInterrupted",
    "JobState",
    "NoCapableServerError",
    "NodeCached",
    "NodeExecuted",
    "NodeExecuting",
    "NotFoundError",
    "OutputItem",
    "ParamSpec",
    "ParameterError",
    "PluginError",
    "Progress",
    "PromptLostError",
    "Queued",
    "RateLimitError",
    "RequestTimeout",
    "ServerError",
    "ServerInfo",
    "Started",
    "SubmissionUnknownError",
    "TransportError",
    "UIConversionError",
    "UnsupportedSourceError",
    "UploadTooLargeError",
    "Workflow",
    "WorkflowError",
    "WorkflowInfo",
    "WorkflowLoadError",
    "WorkflowSpec",
    "WorkflowValidationError",
    "__version__",
    "hookimpl",
]
