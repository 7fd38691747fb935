"""The backend contract: what the kit asks of every execution service.

One backend object exists per kit and is shared by all threads, so implementations must be
thread-safe. Methods that talk to the server raise typed errors from ``errors.py``; the kit turns
anything raised after submission into a failed ``ExecuteResult``.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import re
from collections.abc import Collection, Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ..errors import ParameterError

if TYPE_CHECKING:
    import pluggy

    from ..config import Config
    from ..errors import ComfyKitError
    from ..events import EventCallback
    from ..http import HttpClient
    from ..models import OutputItem, Workflow
    from ..params import UploadSource, WorkflowSpec


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_job_id(prompt_id: str, *, what: str = "prompt_id") -> None:
    """Raise ``ParameterError`` for an id no server can have given a job: empty, path-like
    (``/``, ``\\``, ``.``, ``..``) or with control characters.

    Anything else is accepted (ComfyUI takes any client-chosen ``prompt_id``); such an id is
    percent-encoded wherever it goes into a URL.
    """
    problem = None
    if not prompt_id.strip():
        problem = "is empty"
    elif "/" in prompt_id or "\\" in prompt_id or prompt_id in (".", ".."):
        problem = "looks like a path, not a job id"
    elif _CONTROL.search(prompt_id):
        problem = "contains control characters"
    if problem:
        raise ParameterError(f"{what} {prompt_id!r} {problem}", params=(what,))


@attrs.frozen
class BackendContext:
    """What a backend gets from its kit: settings, the HTTP client and the plugin manager.

    ``clients`` holds one HTTP client per ComfyUI server of the kit (``config.servers``; the
    first is ``http``), for a backend that works with all of them (the pool).
    """

    config: Config
    http: HttpClient
    plugin_manager: pluggy.PluginManager
    clients: tuple[HttpClient, ...] = ()


@attrs.frozen
class PreparedJob:
    """A workflow with the caller's parameters bound, ready to submit.

    ``values`` are the bound parameter values by name (uploads already resolved to server names);
    ``prompt_id`` is minted by the client so that an ambiguous submit can be checked.
    ``targets`` are the output node ids to run (with what they depend on) when the caller asked
    for only some outputs (``outputs=``), ``None`` to run every output; only backends with the
    ``"partial"`` capability get a job with targets.
    ``deadline`` (a ``time.monotonic()`` value) is the job's: submission, including finding out
    whether a submit whose reply was lost took effect, gives up then (``None``: the backend's
    default timeout from now).
    """

    prompt_id: str
    workflow: Workflow
    spec: WorkflowSpec
    graph: Mapping[str, Any] = attrs.field(repr=False)
    values: Mapping[str, Any] = attrs.field(repr=False)
    seeds: Mapping[str, int]
    targets: tuple[str, ...] | None = None
    deadline: float | None = None


class JobRequest:
    """What the kit knows of a job before placing it on a server (see :meth:`Backend.place`).

    ``graph`` is the workflow with the caller's parameter values bound, except uploads, whose
    values the chosen server assigns: ``uploads`` lists the (node id, input) pairs they set.
    ``workflow_key`` tells runs of the same workflow apart from others (a digest of the graph
    as loaded); ``exclude`` lists server URLs not to place the job on (it was lost there).
    Computed on first use, so a backend that ignores the request costs nothing.
    """

    def __init__(
        self,
        prompt_id: str,
        workflow: Workflow,
        spec: WorkflowSpec,
        values: Mapping[str, Any],
        targets: tuple[str, ...] | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        self.prompt_id = prompt_id
        self.workflow, self.spec, self.values = workflow, spec, values
        self.targets = targets
        self.exclude = exclude

    def __repr__(self) -> str:
        return f"JobRequest({self.prompt_id!r}, {self.workflow.source!r})"

    def excluding(self, servers: Collection[str]) -> JobRequest:
        """The same request, not to be placed on ``servers`` either."""
        return JobRequest(
            self.prompt_id,
            self.workflow,
            self.spec,
            self.values,
            self.targets,
            self.exclude | frozenset(servers),
        )

    @functools.cached_property
    def uploads(self) -> frozenset[tuple[str, str]]:
        from ..params import UploadSource

        return frozenset(
            (target.node_id, target.field)
            for name, value in self.values.items()
            if isinstance(value, UploadSource)
            for target in self.spec.params[name].targets
        )

    @functools.cached_property
    def graph(self) -> Mapping[str, Any]:
        from ..params import UploadSource, apply_params

        known = {k: v for k, v in self.values.items() if not isinstance(v, UploadSource)}
        return apply_params(self.workflow.graph, self.spec, known)

    @functools.cached_property
    def workflow_key(self) -> str:
        text = json.dumps(self.workflow.graph, sort_keys=True, default=str)
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


@attrs.frozen
class Submission:
    """A queued job: the id the server uses and any warnings from submission."""

    prompt_id: str
    warnings: tuple[str, ...] = ()


#: the states of a job that has ended on the server
FINISHED_STATES = frozenset({"completed", "failed"})


@attrs.frozen
class JobState:
    """Where a job is: ``pending`` (with queue ``position``), ``running``, ``completed``,
    ``failed`` or ``unknown`` (the server does not know it).

    ``completed`` and ``failed`` say what the job's result will say; :attr:`finished` is true
    for both.
    """

    state: str
    position: int | None = None

    @property
    def finished(self) -> bool:
        """True once the job has ended on the server (``completed`` or ``failed``)."""
        return self.state in FINISHED_STATES


@attrs.frozen
class RunOutcome:
    """A finished job: raw outputs, items to classify, and the error if it did not succeed."""

    prompt_id: str
    outputs: Mapping[str, Any]
    items: tuple[OutputItem, ...] = ()
    error: ComfyKitError | None = None


class Backend(abc.ABC):
    """Base class of execution backends; subclasses set ``name`` and ``capabilities``."""

    name: ClassVar[str]
    #: optional features: "upload", "cancel", "events", "reattach", "partial" (runs only the
    #: output nodes in ``PreparedJob.targets``), "prompt_id" (jobs are submitted under
    #: ``PreparedJob.prompt_id``, so a caller may choose the id)
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: BackendContext) -> None:
        self.context = context
        #: the client for this backend's server, which also downloads its outputs (default: the
        #: kit's); a backend for another service sets its own
        self.http: HttpClient = context.http

    @abc.abstractmethod
    def upload(self, source: UploadSource) -> str:
        """Upload a media file; return the value to put in the node input."""

    @abc.abstractmethod
    def submit(self, job: PreparedJob) -> Submission:
        """Queue the job. Raise ``WorkflowValidationError`` when the server rejects it.

        When it cannot tell whether the job was queued (the reply was lost and the server could
        not be asked before ``job.deadline``), raise ``SubmissionUnknownError`` with the id the
        job would have: never report "not queued" for a job that may have been.
        """

    @abc.abstractmethod
    def status(self, prompt_id: str) -> JobState:
        """Where the job is now."""

    @abc.abstractmethod
    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        """Block until the job finishes.

        ``deadline`` (a ``time.monotonic`` value) bounds the whole wait, ``queue_deadline`` the
        time the job may stay queued. Raises ``ExecutionTimeout`` with ``deadline="total"`` or
        ``"queue"`` (without cancelling: the kit decides) and ``PromptLostError`` when the server
        forgot the job. ``emit`` receives progress events (it never raises).
        """

    @abc.abstractmethod
    def outputs(self, prompt_id: str, spec: WorkflowSpec | None) -> RunOutcome | None:
        """The outcome of a finished job, or ``None`` while it is not finished."""

    @abc.abstractmethod
    def cancel(self, prompt_id: str) -> bool:
        """Cancel the job (dequeue if pending, interrupt if running); True if it was live.

        Raise a typed error when the server did not answer: ``False`` means the server said the
        job was no longer running.
        """

    def place(self, request: JobRequest) -> Generator[Backend, None, None]:
        """Where to run one job, best first.

        The kit uploads the job's media to the first backend yielded and submits the job
        there; when that fails before anything reached the server (a ``TransportError`` with
        ``sent=False``), it asks for the next one. The backend that accepted the job serves
        every later call for it (status, wait, cancel, downloads). A backend that runs every
        job itself yields only itself (the default); a pool of servers yields one per server.
        Raises ``ConfigurationError`` when no server can run the job at all.
        """
        yield self

    def attach(self, prompt_id: str) -> Backend:
        """The backend that serves a job submitted earlier, e.g. by another process (the
        default: this one). A pool finds the server that has the job."""
        return self

    def server_for(self, prompt_id: str) -> str | None:
        """The base URL of the server that has (or ran) the job, ``None`` when unknown."""
        return None

    def check_params(self, spec: WorkflowSpec, values: Mapping[str, Any]) -> None:  # noqa: B027
        """Raise ``ParameterError`` for bound values the server is known to refuse (e.g. a
        server file name it does not list). Called before anything is sent; ``values`` are
        those of :class:`PreparedJob` before uploads. Default: nothing to check."""

    def check_job_id(self, prompt_id: str) -> None:
        """Raise ``ParameterError`` for an id this backend never gives a job (``kit.job()``
        calls it before anything is sent). The default refuses empty and path-like ids."""
        check_job_id(prompt_id)

    def output_node_classes(self, class_types: Collection[str]) -> Mapping[str, bool]:
        """Whether each node class is an output node on the server, for the classes the backend
        can tell (the default: none).

        The kit asks before submitting a job with ``targets``, to refuse a target the server
        would ignore. Must not raise: a class that cannot be looked up is left out.
        """
        return {}

    @property
    def default_timeout(self) -> float:
        """Seconds a job may take when the caller gives no ``timeout`` (the kit's ``timeout``)."""
        return self.context.config.timeout

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release sockets and threads; idempotent."""
