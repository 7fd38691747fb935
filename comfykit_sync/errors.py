"""The exception tree of comfykit-sync.

::

    ComfyKitError
    ├── ConfigurationError (ValueError)      bad setting, unknown backend
    │   └── NoCapableServerError             no server of the pool has the workflow's nodes/files
    ├── PluginError                          a plugin failed to load or broke a hook contract
    ├── WorkflowError (ValueError)           the workflow cannot be used
    │   ├── UnsupportedSourceError           no loader claimed the source
    │   ├── WorkflowLoadError                unreadable, not JSON, UI format, too large
    │   │   └── UIConversionError            a UI-format node that cannot be converted faithfully
    │   ├── DSLError                         a malformed node-title marker (names node and field)
    │   └── ParameterError                   missing / unknown / ill-typed parameter or upload file
    ├── TransportError (ConnectionError)     the server could not be reached, or the link broke
    │   ├── RequestTimeout (TimeoutError)    one request exceeded its timeout
    │   └── SubmissionUnknownError           the submit's reply was lost: the job may be queued
    ├── APIError                             the server answered, but not with what we asked for
    │   ├── InvalidResponseError             non-JSON or malformed reply
    │   ├── WorkflowValidationError          400 / 200 with node_errors, mapped to DSL names
    │   ├── AuthenticationError              401 / 403
    │   ├── NotFoundError (KeyError)         404
    │   ├── RateLimitError                   429 (carries retry_after)
    │   ├── InsufficientBalanceError         the cloud account has no credit left
    │   ├── UploadTooLargeError              an upload is over the service's size limit
    │   └── ServerError                      5xx
    └── ExecutionError                       the job ran and did not complete
        ├── ExecutionTimeout (TimeoutError)  a deadline expired (the job is cancelled)
        ├── ExecutionCancelled               cancelled by the caller
        ├── ExecutionInterrupted             interrupted on the server
        └── PromptLostError                  the server forgot the prompt (restart, deleted)

Caller mistakes (``ConfigurationError``, ``WorkflowError``) are raised before anything is sent;
everything that happens to a submitted job is reported in ``ExecuteResult.error``.

Outside the tree, ``JobInterrupted`` is the ``KeyboardInterrupt`` (Ctrl-C) that stopped a submit
or a wait, raised after the job was cancelled on the server (or that could not be confirmed).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any


def rebuild_error(cls: type[ComfyKitError], args: tuple[Any, ...]) -> ComfyKitError:
    """A ``cls`` error with ``args``, without calling its ``__init__`` (fields are set after)."""
    error = cls.__new__(cls, *args)
    BaseException.__init__(error, *args)  # OSError subclasses take their args in __init__
    return error


class ComfyKitError(Exception):
    """Base class of every error raised or reported by comfykit-sync.

    Errors pickle whatever their ``__init__`` signature: the message and every field come back.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild_error, (type(self), self.args), self.__dict__)


class ConfigurationError(ComfyKitError, ValueError):
    """A setting is invalid, or a backend or option does not exist."""


class NoCapableServerError(ConfigurationError):
    """No server of the pool has every node class and model file the workflow names.

    ``missing`` maps each server's URL to what it lacks (one line per node or input).
    """

    def __init__(
        self, message: str, *, missing: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        super().__init__(message)
        self.missing = dict(missing or {})


class PluginError(ComfyKitError):
    """A plugin failed to load, or broke a hook's contract."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class WorkflowError(ComfyKitError, ValueError):
    """The workflow cannot be used as given."""


class UnsupportedSourceError(WorkflowError):
    """No loader recognised the workflow source."""


class WorkflowLoadError(WorkflowError):
    """The workflow source was recognised but could not be read or is not API format."""


class UIConversionError(WorkflowLoadError):
    """A UI-format workflow holds a node that cannot be converted to API format faithfully.

    ``node_id`` is the node's API id (``outer:inner`` inside subgraphs), ``title`` its title
    in the editor and ``node_type`` its type; the message names all three.
    """

    def __init__(self, reason: str, *, node_id: str, title: str, node_type: str) -> None:
        super().__init__(f"node {node_id} {title!r} (type {node_type!r}): {reason}")
        self.node_id = node_id
        self.title = title
        self.node_type = node_type
        self.reason = reason

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # keyword-only arguments survive pickling
        rebuild = functools.partial(
            type(self), node_id=self.node_id, title=self.title, node_type=self.node_type
        )
        return rebuild, (self.reason,)


class DSLError(WorkflowError):
    """A DSL marker in a node title is malformed or names a missing input."""

    def __init__(
        self, message: str, *, node_id: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.field = field


class ParameterError(WorkflowError):
    """The caller's parameters do not fit the workflow."""

    def __init__(self, message: str, *, params: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.params = params


class TransportError(ComfyKitError, ConnectionError):
    """The server could not be reached, or the connection broke mid-request."""

    def __init__(self, message: str, *, url: str | None = None, sent: bool | None = None) -> None:
        super().__init__(message)
        self.url = url
        #: False when the request provably never reached the server; None when unknown.
        self.sent = sent


class RequestTimeout(TransportError, TimeoutError):
    """A single request took longer than its timeout."""


class SubmissionUnknownError(TransportError):
    """The reply to a submit was lost and the server could not tell, before the job's deadline,
    whether it queued the job: it **may have been queued** (and may run).

    ``prompt_id`` is the id the job has if it was queued: look it up with ``kit.job(prompt_id)``
    instead of submitting again (which could run the workflow twice).
    """

    def __init__(self, message: str, *, prompt_id: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.prompt_id = prompt_id


class APIError(ComfyKitError):
    """The server answered with an error or an unusable reply."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        url: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url
        self.body = body


class InvalidResponseError(APIError):
    """The reply was not JSON, or not the JSON shape the protocol promises."""


class WorkflowValidationError(APIError):
    """ComfyUI rejected (part of) the workflow; ``node_errors`` maps node ids to their errors.

    ``param_errors`` maps the DSL parameter names at fault to their messages (empty when the
    failing inputs are not bound to any parameter). ``prompt_id`` is set when the server queued
    the valid part of the workflow (a 200 with ``node_errors``).
    """

    def __init__(
        self,
        message: str,
        *,
        node_errors: Mapping[str, Any] | None = None,
        prompt_id: str | None = None,
        param_errors: Mapping[str, str] | None = None,
        status_code: int | None = None,
        url: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, status_code=status_code, url=url, body=body)
        self.node_errors = dict(node_errors or {})
        self.prompt_id = prompt_id
        self.param_errors = dict(param_errors or {})


class AuthenticationError(APIError):
    """The server (or a proxy in front of it) refused our credentials (401/403)."""


class NotFoundError(APIError, KeyError):
    """The server does not know the requested resource (404)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RateLimitError(APIError):
    """Too many requests (429); ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InsufficientBalanceError(APIError):
    """The cloud account has no credit (coins, money) left to run the job."""


class UploadTooLargeError(APIError):
    """An upload is over the service's size limit (RunningHub: 30 MB)."""


class ServerError(APIError):
    """The server failed (5xx)."""


class ExecutionError(ComfyKitError):
    """The job was submitted and did not complete.

    The message is one short line; the fields keep everything the server reported about the
    failing node (empty when it reported none):

    * ``node_id``, ``node_type`` -- the workflow node at fault and its class;
    * ``exception_type``, ``exception_message`` -- the exception's type and its full, raw
      message (ComfyUI may add tips on further lines);
    * ``traceback`` -- the server-side traceback lines;
    * ``executed`` -- ids of the nodes that finished before the failure (nodes created by
      expansion included, e.g. ``"12.0.0.3"``);
    * ``current_inputs`` -- input name -> the values the node received (as the server
      formatted them); ``current_outputs`` -- ids of the nodes whose outputs were cached;
    * ``timestamp`` -- when the server reported it (milliseconds since the epoch).
    """

    def __init__(
        self,
        message: str,
        *,
        prompt_id: str | None = None,
        node_id: str | None = None,
        node_type: str | None = None,
        exception_type: str | None = None,
        traceback: tuple[str, ...] = (),
        exception_message: str | None = None,
        executed: tuple[str, ...] = (),
        current_inputs: Mapping[str, Any] | None = None,
        current_outputs: tuple[str, ...] = (),
        timestamp: int | None = None,
    ) -> None:
        super().__init__(message)
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type
        self.traceback = tuple(traceback)
        self.exception_message = exception_message
        self.executed = tuple(executed)
        self.current_inputs = dict(current_inputs or {})
        self.current_outputs = tuple(current_outputs)
        self.timestamp = timestamp


class ExecutionTimeout(ExecutionError, TimeoutError):
    """A deadline expired.

    ``deadline`` says which: ``"total"`` (``timeout``), ``"queue"`` (``queue_timeout``) or
    ``"wait"`` (``Job.wait(timeout)``: the job goes on). ``cancelled`` says whether the job was
    cancelled on the server; ``cancel_confirmed`` whether the server answered the cancel — it
    cancelled the job, or the job had already stopped running. ``cancel_confirmed`` is ``False``
    when the job was detached, or when the server did not answer the cancel in time (frozen,
    unreachable): the job may still run and can be re-attached by ``prompt_id``.
    """

    def __init__(
        self,
        message: str,
        *,
        cancelled: bool = False,
        cancel_confirmed: bool = False,
        deadline: str = "total",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.cancelled = cancelled
        self.cancel_confirmed = cancel_confirmed
        self.deadline = deadline


class ExecutionCancelled(ExecutionError):
    """The job was cancelled at the caller's request."""


class ExecutionInterrupted(ExecutionError):
    """The job was interrupted on the server."""


class PromptLostError(ExecutionError):
    """The server no longer knows the prompt: deleted from the queue, restarted, or evicted."""


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C while submitting or waiting for a job: the job was cancelled on the server first.

    Still a ``KeyboardInterrupt`` (the program stops as usual). ``cancelled`` is ``True`` when
    the server confirmed the cancel, ``False`` when it could not be confirmed (the server could
    not be reached, or no longer had the job queued or running); the message says which.
    """

    def __init__(self, message: str, *, prompt_id: str | None, cancelled: bool) -> None:
        super().__init__(message)
        self.prompt_id = prompt_id
        self.cancelled = cancelled

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
