"""``PollingBackend``: the wait loop of every backend that follows a job by asking its status.

A subclass says how to ask (:meth:`PollingBackend.poll`), what its service's status words mean
(``queued_statuses``, ``completed_statuses``, ``failed_statuses``) and how to read a finished
job (:meth:`PollingBackend.outcome`); the base does the rest the same way for every such
backend: the deadlines, ``Queued``/``Started`` events, the status → :class:`JobState` mapping,
a forgotten job, and polling at a rate proportional to the time waited (``poll_job``).

The one rule for a status word the backend does not list: the job is **running**. The server
has the job and does not say it waits, so ``Started`` is emitted, the queue deadline no longer
applies (a job is never cancelled for waiting in a queue it may have left) and the job is
waited for until its deadline.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ..errors import ExecutionTimeout, NotFoundError, PromptLostError
from ..events import Queued, Started
from ..http import remaining_timeout
from ..polling import poll_job
from .base import Backend, JobState, RunOutcome

if TYPE_CHECKING:
    from ..events import Event, EventCallback
    from ..params import WorkflowSpec

#: the sleep between two polls: waits the seconds given, or less when there is news
Pause = Callable[[float], None]


@attrs.frozen
class Polled:
    """One answer of the server about a job: its ``status`` word and the ``reply`` it came in
    (anything the backend needs again in :meth:`PollingBackend.outcome`)."""

    status: str
    reply: Any = attrs.field(default=None, repr=False)


class JobWatch:
    """One wait of a :class:`PollingBackend`: emits ``Queued`` and ``Started`` once each and
    checks the queue deadline until the job starts."""

    def __init__(
        self,
        backend: PollingBackend,
        prompt_id: str,
        *,
        deadline: float,
        queue_deadline: float | None,
        emit: EventCallback | None,
    ) -> None:
        self.backend, self.prompt_id = backend, prompt_id
        self.deadline, self.queue_deadline = deadline, queue_deadline
        self._emit = emit
        #: whether anyone receives the events (a backend may skip gathering them otherwise)
        self.listening = emit is not None
        self.queued = self.started = False

    def emit(self, event: Event) -> None:
        """Pass ``event`` to the caller's callback, if any."""
        if self._emit is not None:
            self._emit(event)

    def start(self) -> None:
        """The job runs (the status said so, or news from elsewhere): ``Started``, once."""
        if not self.started:
            self.started = True
            self.emit(Started(self.prompt_id))

    def check(self) -> RunOutcome | None:
        """Poll once: the outcome of a finished job, else ``None``.

        Raises ``PromptLostError`` when the server does not know the job and
        ``ExecutionTimeout(deadline="queue")`` when it is still queued at its queue deadline.
        """
        backend = self.backend
        timeout = remaining_timeout(backend.http.timeout, self.deadline)
        try:
            polled = backend.poll(self.prompt_id, timeout=timeout)
        except NotFoundError as exc:
            raise backend.lost(self.prompt_id) from exc
        state = backend.state(polled.status).state
        if state in ("completed", "failed"):
            return backend.outcome(self.prompt_id, polled, timeout=timeout)
        if state == "running":
            self.start()
        elif not self.started:  # queued (a status read after the start is stale)
            if not self.queued:
                self.queued = True
                self.emit(Queued(self.prompt_id))
            if self.queue_deadline is not None and time.monotonic() >= self.queue_deadline:
                raise ExecutionTimeout(
                    f"{backend.label} {self.prompt_id} was still queued at its queue deadline",
                    prompt_id=self.prompt_id,
                    deadline="queue",
                )
        return None


class PollingBackend(Backend):
    """A backend that follows each job by polling its status (RunningHub, RunPod, Comfy Cloud).

    Set ``label`` (``"Acme job"``, for messages) and the status words of the service:
    ``queued_statuses`` (→ ``pending``), ``completed_statuses`` (→ ``completed``) and
    ``failed_statuses`` (→ ``failed``, e.g. cancelled ones too); **any other status is
    running**. Implement :meth:`poll` and :meth:`outcome`; :meth:`status` and :meth:`wait` are
    done. ``min_poll_interval`` is the shortest pause between two polls.
    """

    label: ClassVar[str] = "job"
    queued_statuses: ClassVar[frozenset[str]] = frozenset()
    completed_statuses: ClassVar[frozenset[str]] = frozenset()
    failed_statuses: ClassVar[frozenset[str]] = frozenset()
    min_poll_interval: ClassVar[float] = 0.5

    @abc.abstractmethod
    def poll(self, prompt_id: str, *, timeout: tuple[float, float] | None) -> Polled:
        """Ask the server once where the job is (``timeout``: for the request, ``None`` for the
        client's default). Raise ``NotFoundError`` when the server does not know the job."""

    @abc.abstractmethod
    def outcome(
        self, prompt_id: str, polled: Polled, *, timeout: tuple[float, float] | None
    ) -> RunOutcome | None:
        """The outcome of a job whose status is a completed or failed one (``None``: not
        readable yet, poll again)."""

    def state(self, status: str) -> JobState:
        """The :class:`JobState` of a status word (not listed: ``running``)."""
        if status in self.queued_statuses:
            return JobState("pending")
        if status in self.completed_statuses:
            return JobState("completed")
        if status in self.failed_statuses:
            return JobState("failed")
        return JobState("running")

    def lost(self, prompt_id: str) -> PromptLostError:
        """The error for a job the server no longer knows (override to say why it may be)."""
        return PromptLostError(
            f"the server no longer knows {self.label} {prompt_id}", prompt_id=prompt_id
        )

    def status(self, prompt_id: str) -> JobState:
        try:
            polled = self.poll(prompt_id, timeout=None)
        except NotFoundError:
            return JobState("unknown")
        return self.state(polled.status)

    @contextlib.contextmanager
    def follow(self, watch: JobWatch) -> Iterator[Pause]:
        """Where the wait for ``watch``'s job sleeps between polls (default: ``time.sleep``).

        Override it to report news from elsewhere while waiting, e.g. progress from a socket:
        call ``watch.emit(event)`` and ``watch.start()``, and return early when the job ended.
        """
        yield time.sleep

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None = None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        watch = JobWatch(
            self, prompt_id, deadline=deadline, queue_deadline=queue_deadline, emit=emit
        )
        with self.follow(watch) as pause:
            return poll_job(
                watch.check,
                prompt_id=prompt_id,
                deadline=deadline,
                max_interval=self.context.config.poll_max_interval,
                min_interval=self.min_poll_interval,
                label=self.label,
                sleep=pause,
            )
