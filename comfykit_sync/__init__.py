"""comfykit-sync: run ComfyUI workflows from plain, synchronous Python.

>>> from comfykit_sync import ComfyKit
>>> with ComfyKit() as kit:                                # doctest: +SKIP
...     result = kit.execute("workflow.json", {"prompt": "a cat"})
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"

# Imported after ``hookimpl``: the built-in plugin modules import it from here.
from .client import ComfyKit  # noqa: E402
from .config import Config  # noqa: E402
from .errors import (  # noqa: E402
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
from .job import Job  # noqa: E402
from .models import Artifact, ExecuteResult, Workflow  # noqa: E402

__all__ = [
    "APIError",
    "Artifact",
    "AuthenticationError",
    "ComfyKit",
    "ComfyKitError",
    "Config",
    "ConfigurationError",
    "DSLError",
    "ExecuteResult",
    "ExecutionCancelled",
    "ExecutionError",
    "ExecutionInterrupted",
    "ExecutionTimeout",
    "InsufficientBalanceError",
    "InvalidResponseError",
    "Job",
    "JobInterrupted",
    "NotFoundError",
    "ParameterError",
    "PluginError",
    "PromptLostError",
    "RateLimitError",
    "RequestTimeout",
    "ServerError",
    "SubmissionUnknownError",
    "TransportError",
    "UIConversionError",
    "UnsupportedSourceError",
    "UploadTooLargeError",
    "Workflow",
    "WorkflowError",
    "WorkflowLoadError",
    "WorkflowValidationError",
    "__version__",
    "hookimpl",
]
