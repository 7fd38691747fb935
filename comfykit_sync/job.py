"""``Job``: a handle on a submitted workflow — status, wait, result, cancel, re-attach.

A job has two kinds of deadline: its own (``timeout`` for the whole job, ``queue_timeout`` for
the time spent queued), which end the job — cancelled on the server, or left running with
``on_timeout="detach"`` — and the caller's ``wait(timeout)``, which only stops waiting and
raises ``ExecutionTimeout(deadline="wait")`` while the job goes on.

A job placed on a pool of servers may be lost with its server (crash, restart); with
``resubmit_lost`` the kit hands the job a ``resubmit`` function, and the job is submitted again
on a server it was not lost on, within its own deadline.

Every request made for a job is bounded by what is left of the deadline it serves (see
``_http.request_deadline``): waiting by the job's (or the caller's) deadline, the cancel after a
deadline expired by ``cancel_timeout`` of its own, ``status()`` by one ``request_timeout`` in
total — so a frozen server never holds a caller past them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from .backends.base import JobState, RunOutcome
from .downloads import Fetcher
from .errors import (
    ComfyKitError,
    ExecutionCancelled,
    ExecutionInterrupted,
    ExecutionTimeout,
    JobInterrupted,
    PluginError,
    PromptLostError,
    TransportError,
)
from .events import Completed, EventCallback, Failed, emitter
from .http import request_deadline
from .models import Artifact, ExecuteResult

if TYPE_CHECKING:
    import pluggy

    from .backends.base import Backend
    from .config import Config
    from .params import WorkflowSpec

log = logging.getLogger(__name__)

ON_TIMEOUT = ("cancel", "detach")


class Placed:
    """Where the kit placed a job: the backend that took it, its id, seeds and warnings — or
    the error that ended the attempt (with the seeds of the graph sent, if it got that far)."""

    def __init__(
        self,
        runner: Backend,
        *,
        prompt_id: str | None = None,
        seeds: Mapping[str, int] | None = None,
        warnings: tuple[str, ...] = (),
        error: ComfyKitError | None = None,
    ) -> None:
        self.runner, self.prompt_id, self.error = runner, prompt_id, error
        self.seeds = dict(seeds or {})
        self.warnings = warnings


#: submits a lost job again, on none of the given servers
Resubmit = Callable[[frozenset[str]], Placed]


def bounded_cancel(runner: Backend, prompt_id: str) -> bool:
    """``runner.cancel(prompt_id)`` within the kit's ``cancel_timeout`` (a bound of its own)."""
    with request_deadline(time.monotonic() + runner.context.config.cancel_timeout):
        return runner.cancel(prompt_id)


def cancel_after_interrupt(runner: Backend, prompt_id: str) -> JobInterrupted:
    """Cancel ``prompt_id`` after Ctrl-C; the ``KeyboardInterrupt`` to raise says whether the
    server confirmed it."""
    try:
        cancelled = bounded_cancel(runner, prompt_id)
        note = "the server did not have it queued or running"
    except ComfyKitError as exc:
        cancelled, note = False, str(exc)
    if cancelled:
        message = f"prompt {prompt_id} was cancelled on the server"
    else:
        message = f"prompt {prompt_id}: the cancel could not be confirmed ({note})"
    return JobInterrupted(message, prompt_id=prompt_id, cancelled=cancelled)


class Job:
    """A workflow submitted to a backend. Safe to use from several threads."""

    def __init__(
        self,
        *,
        runner: Backend,
        prompt_id: str | None,
        spec: WorkflowSpec | None,
        config: Config,
        plugin_manager: pluggy.PluginManager,
        started: float,
        timeout: float,
        queue_timeout: float | None = None,
        on_timeout: str = "cancel",
        on_event: EventCallback | None = None,
        seeds: Mapping[str, int] | None = None,
        warnings: tuple[str, ...] = (),
        result: ExecuteResult | None = None,
        fetch: Fetcher | None = None,
        resubmit: Resubmit | None = None,
    ) -> None:
        self._runner, self._prompt_id, self._spec = runner, prompt_id, spec
        self._config, self._pm = config, plugin_manager
        self._started, self._timeout = started, timeout
        self._deadline = started + timeout
        self._queue_deadline = None if queue_timeout is None else started + queue_timeout
        self._on_timeout = on_timeout
        self._emit = emitter(on_event)
        self._listening = on_event is not None
        self._seeds = dict(seeds or {})
        self._warnings = warnings
        self._result = result
        self._cancel_requested = False
        self._lock = threading.Lock()
        # results download with the kit's clients and the backend's (each for its own origin)
        self._fetch = fetch or Fetcher(runner.http)
        self._resubmit = resubmit
        self._lost_on: set[str] = set()
        if result is not None and result.error is not None:
            self._emit(Failed(prompt_id=prompt_id or "", error=result.error))

    def __repr__(self) -> str:
        state = self._result.status if self._result else "running"
        return f"Job(prompt_id={self._prompt_id!r}, backend={self._runner.name!r}, {state})"

    def fail(self, error: ComfyKitError) -> None:
        """End the job with ``error`` before it was queued (or when its submit failed)."""
        self._prompt_id = getattr(error, "prompt_id", None)
        self._result = self._failed(error)

    @property
    def prompt_id(self) -> str | None:
        """The server's id of the job (``None`` if it was never queued)."""
        return self._prompt_id

    @property
    def backend(self) -> str:
        return self._runner.name

    @property
    def server(self) -> str | None:
        """The base URL of the server that has the job (``None`` when none took it)."""
        return self._runner.server_for(self._prompt_id) if self._prompt_id else None

    def done(self) -> bool:
        """True once the job has ended: its result is known to this handle, or the server says
        it completed or failed (no ``wait()`` needed). While the result is not known this asks
        the server; it is False when the server cannot be asked (the error is logged)."""
        if self._result is not None or self._prompt_id is None:
            return True
        try:
            return self.status().finished
        except ComfyKitError as exc:
            log.debug("could not ask the server about prompt %s: %s", self._prompt_id, exc)
            return False

    def status(self) -> JobState:
        """Where the job is now: ``pending`` (with position), ``running``, ``completed``,
        ``failed`` or ``unknown`` (the server does not know the id).

        Once this handle has the result, its status (``completed`` or ``failed``) is returned
        without asking the server. Asking the server takes at most one ``request_timeout`` (the
        larger of the pair) in total, retries included; a server that does not answer in time
        raises ``RequestTimeout`` (a ``TransportError``).
        """
        if self._result is not None:
            return JobState(self._result.status)
        if self._prompt_id is None:
            return JobState("failed")
        with request_deadline(time.monotonic() + max(self._config.request_timeout)):
            return self._runner.status(self._prompt_id)

    def cancel(self) -> bool:
        """Cancel the job on the server (only this job); True if it was pending or running.

        The job's result then reports ``ExecutionCancelled`` (or what the server recorded, if
        the job finished first). Takes at most ``cancel_timeout`` seconds; a server that does
        not answer in time raises ``RequestTimeout``.
        """
        if self._result is not None or self._prompt_id is None:
            return False
        self._cancel_requested = True
        return self._cancel()

    def result(self) -> ExecuteResult:
        """Wait for the job (until its own deadline) and return its result."""
        return self.wait()

    def wait(self, timeout: float | None = None) -> ExecuteResult:
        """Wait at most ``timeout`` seconds (default: until the job's deadline).

        Raises ``ExecutionTimeout(deadline="wait")`` if the job is still running when
        ``timeout`` expires; the job itself goes on and can be waited for again.
        """
        wait_until = None if timeout is None else time.monotonic() + timeout
        lock_wait = -1 if wait_until is None else max(0.0, wait_until - time.monotonic())
        if not self._lock.acquire(timeout=lock_wait):
            raise self._wait_timeout(timeout)
        try:
            if self._result is None:
                self._result = self._collect(wait_until, timeout)
            return self._result
        finally:
            self._lock.release()

    # -- internals --------------------------------------------------------------------------
    def _wait_timeout(self, timeout: float | None) -> ExecutionTimeout:
        return ExecutionTimeout(
            f"prompt {self._prompt_id} is still running after waiting {timeout:g} s; "
            "it goes on and can be waited for again",
            prompt_id=self._prompt_id,
            deadline="wait",
        )

    def _collect(self, wait_until: float | None, timeout: float | None) -> ExecuteResult:
        while True:
            result = self._collect_once(wait_until, timeout)
            if result is not None:
                return result

    def _resubmitted(self) -> bool:
        """Whether a job its server lost was submitted again elsewhere (``resubmit_lost``)."""
        lost_on = self.server
        if self._resubmit is None or self._cancel_requested or lost_on is None:
            return False
        self._lost_on.add(lost_on)
        try:
            placed = self._resubmit(frozenset(self._lost_on))
        except ComfyKitError as exc:  # no other server can run it
            placed = Placed(self._runner, error=exc)
        if placed.error is not None or placed.prompt_id is None:
            log.warning(
                "prompt %s was lost with %s and could not be submitted again: %s",
                self._prompt_id,
                lost_on,
                placed.error,
            )
            return False
        note = (
            f"prompt {self._prompt_id} was lost with {lost_on} and submitted again to "
            f"{placed.runner.server_for(placed.prompt_id)} (it ran again from the start)"
        )
        log.warning(note)
        self._runner, self._prompt_id = placed.runner, placed.prompt_id
        self._seeds = placed.seeds
        self._warnings += (note, *placed.warnings)
        return True

    def _collect_once(
        self, wait_until: float | None, timeout: float | None
    ) -> ExecuteResult | None:
        """The result, or ``None`` when the job was lost and submitted again."""
        assert self._prompt_id is not None
        deadline = self._deadline if wait_until is None else min(self._deadline, wait_until)
        try:
            with request_deadline(deadline):
                outcome = self._runner.wait(
                    self._prompt_id,
                    self._spec,
                    deadline=deadline,
                    queue_deadline=self._queue_deadline,
                    emit=self._emit if self._listening else None,
                )
        except ExecutionTimeout as exc:
            if exc.deadline == "total" and deadline < self._deadline:
                raise self._wait_timeout(timeout) from exc
            return self._timed_out(exc)
        except (ExecutionInterrupted, PromptLostError) as exc:
            if isinstance(exc, PromptLostError) and self._resubmitted():
                return None
            return self._failed(self._as_cancelled(exc))
        except ComfyKitError as exc:
            return self._failed(exc)
        except KeyboardInterrupt as exc:
            raise self._interrupted() from exc
        if isinstance(outcome.error, ExecutionInterrupted):
            outcome = attrs.evolve(outcome, error=self._as_cancelled(outcome.error))
        return self._from_outcome(outcome)

    def _as_cancelled(self, error: ComfyKitError) -> ComfyKitError:
        """An interruption or disappearance we asked for is a cancellation."""
        if not self._cancel_requested:
            return error
        cancelled = ExecutionCancelled(
            f"prompt {self._prompt_id} was cancelled", prompt_id=self._prompt_id
        )
        cancelled.__cause__ = error
        return cancelled

    def _timed_out(self, exc: ExecutionTimeout) -> ExecuteResult:
        which = "queue_timeout" if exc.deadline == "queue" else "timeout"
        limit = (
            self._timeout
            if exc.deadline == "total"
            else (self._queue_deadline or self._deadline) - self._started
        )
        cancelled = confirmed = False
        if self._on_timeout == "detach":
            note = "it was left running (detached); re-attach with kit.job(id)"
        else:
            try:
                cancelled = self._cancel()
            except ComfyKitError as failure:
                log.warning("could not cancel prompt %s: %s", self._prompt_id, failure)
                if isinstance(failure, TransportError):
                    why = (
                        f"the server did not answer the cancel within "
                        f"{self._config.cancel_timeout:g} s ({failure}): it is unreachable or "
                        "not responding"
                    )
                else:
                    why = f"the cancel failed ({failure})"
                note = f"{why}, and the job may still run; re-attach with kit.job(id)"
            else:
                confirmed = True
                note = (
                    "it was cancelled on the server"
                    if cancelled
                    else "it had already stopped running on the server"
                )
        error = ExecutionTimeout(
            f"prompt {self._prompt_id} exceeded its {which} of {limit:g} s; {note}",
            cancelled=cancelled,
            cancel_confirmed=confirmed,
            deadline=exc.deadline,
            prompt_id=self._prompt_id,
        )
        error.__cause__ = exc
        return self._failed(error)

    def _cancel(self) -> bool:
        assert self._prompt_id is not None
        return bounded_cancel(self._runner, self._prompt_id)

    def _interrupted(self) -> JobInterrupted:
        """Cancel the job after Ctrl-C in :meth:`wait`."""
        self._cancel_requested = True
        assert self._prompt_id is not None
        return cancel_after_interrupt(self._runner, self._prompt_id)

    def _failed(self, error: ComfyKitError) -> ExecuteResult:
        self._emit(Failed(prompt_id=self._prompt_id or "", error=error))
        return ExecuteResult(
            status="failed",
            prompt_id=self._prompt_id,
            duration=time.monotonic() - self._started,
            msg=str(error),
            error=error,
            seeds=self._seeds,
            warnings=self._warnings,
            backend=self._runner.name,
            server=self.server,
        )

    def _from_outcome(self, outcome: RunOutcome) -> ExecuteResult:
        error = outcome.error
        artifacts: list[Artifact] = []
        hook = self._pm.hook.comfykit_parse_output
        for item in outcome.items:
            try:
                artifact = hook(output=item, config=self._config)
            except Exception as exc:  # a parser plugin broke: report it, keep the other outputs
                error = error or PluginError(
                    f"an output parser failed on node {item.node_id} ({item.key}): "
                    f"{type(exc).__name__}: {exc}"
                )
                continue
            if artifact is not None:
                display = artifact.display_node
                if display == artifact.node_id == item.node_id:  # a parser unaware of the field
                    display = item.display_node
                artifacts.append(attrs.evolve(artifact, display_node=display, fetch=self._fetch))
        if error is not None:
            self._emit(Failed(prompt_id=outcome.prompt_id, error=error))
        else:
            self._emit(Completed(prompt_id=outcome.prompt_id))
        return ExecuteResult(
            status="completed" if error is None else "failed",
            prompt_id=outcome.prompt_id,
            duration=time.monotonic() - self._started,
            artifacts=tuple(artifacts),
            outputs=outcome.outputs,
            msg=None if error is None else str(error),
            error=error,
            seeds=self._seeds,
            warnings=self._warnings,
            backend=self._runner.name,
            server=self.server,
            fetch=self._fetch,
        )
