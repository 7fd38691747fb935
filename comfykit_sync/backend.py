"""The public API for plugin authors: what a backend or a workflow loader is built from.

Everything in ``__all__`` is documented in ``docs/plugins.md`` and follows semantic versioning:
it changes incompatibly only in a new major version. Import from here, not from the modules
the names are defined in::

    from comfykit_sync.backend import Backend, HttpClient, Setting, poll_job

* the backend contract — :class:`Backend`, :class:`BackendContext`, :class:`PreparedJob`,
  :class:`Submission`, :class:`JobState`, :class:`RunOutcome`, :class:`JobRequest` (what
  :meth:`Backend.place` receives), and the values it carries
  (:class:`OutputItem`, :class:`UploadSource`, :class:`WorkflowSpec`, ``EventCallback``);
* the HTTP session — :class:`HttpClient` (deadlines, origin-scoped credentials including custom
  headers and WebSocket query tokens, typed errors, safe retries), :class:`OriginAuth`,
  :func:`decode_json`, :func:`iter_body`, :func:`remaining_timeout`;
* waiting — :func:`poll_job`;
* media — :func:`open_media`, :class:`OpenedMedia`, :func:`safe_filename`,
  :class:`MultipartStream`;
* settings — :class:`Setting`, :class:`Settings` and the parsers :func:`parse_text`,
  :func:`parse_url`, :func:`parse_seconds`, :func:`parse_non_negative_int`, :func:`parse_flag`;
* loaders — :func:`workflow_graph`, :func:`api_graph`, :func:`is_ui_workflow`;
* :data:`hookimpl`, the marker of hook implementations.

For tests, :mod:`comfykit_sync.testing` has :class:`~comfykit_sync.testing.BackgroundServer`
(a fake server's thread and loop) and :mod:`comfykit_sync.testing.conformance` the backend
conformance suite.
"""

from __future__ import annotations

from .backends.base import (
    Backend,
    BackendContext,
    JobRequest,
    JobState,
    PreparedJob,
    RunOutcome,
    Submission,
)
from .events import EventCallback
from .hookspecs import hookimpl
from .http import HttpClient, OriginAuth, decode_json, iter_body, remaining_timeout
from .loaders.api_format import api_graph, workflow_graph
from .media_source import OpenedMedia, open_media, safe_filename
from .models import OutputItem
from .multipart import MultipartStream
from .params import UploadSource, WorkflowSpec
from .polling import poll_job
from .settings import (
    Setting,
    Settings,
    parse_flag,
    parse_non_negative_int,
    parse_seconds,
    parse_text,
    parse_url,
)
from .ui_workflow import is_ui_workflow

__all__ = [
    "Backend",
    "BackendContext",
    "EventCallback",
    "HttpClient",
    "JobRequest",
    "JobState",
    "MultipartStream",
    "OpenedMedia",
    "OriginAuth",
    "OutputItem",
    "PreparedJob",
    "RunOutcome",
    "Setting",
    "Settings",
    "Submission",
    "UploadSource",
    "WorkflowSpec",
    "api_graph",
    "decode_json",
    "hookimpl",
    "is_ui_workflow",
    "iter_body",
    "open_media",
    "parse_flag",
    "parse_non_negative_int",
    "parse_seconds",
    "parse_text",
    "parse_url",
    "poll_job",
    "remaining_timeout",
    "safe_filename",
    "workflow_graph",
]
