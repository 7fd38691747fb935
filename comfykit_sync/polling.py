"""The one polling loop: check until a result appears or the deadline passes (tenacity).

The interval grows with the time already waited (``ratio`` of elapsed time, between
``min_interval`` and ``max_interval``), so the detection delay stays a small fraction of the job's
run time while long jobs are polled at a modest rate. Transient errors (transport problems, 5xx,
429) are retried on the same schedule; any other exception ends the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from .errors import ExecutionTimeout, RateLimitError, ServerError, TransportError

T = TypeVar("T")

TRANSIENT_ERRORS = (TransportError, ServerError, RateLimitError)


class DeadlineExceeded(Exception):
    """Internal: the polling deadline passed; ``last_error`` is the last transient error seen."""

    def __init__(self, last_error: BaseException | None) -> None:
        super().__init__("deadline exceeded")
        self.last_error = last_error


def proportional_interval(
    elapsed: float, *, min_interval: float, max_interval: float, ratio: float = 0.1
) -> float:
    """``ratio`` × ``elapsed``, clamped to [``min_interval``, ``max_interval``]."""
    return min(max(elapsed * ratio, min_interval), max_interval)


class ProportionalWait(tenacity.wait.wait_base):
    """Wait ``ratio`` × elapsed, clamped to [min_interval, max_interval] and to the deadline."""

    def __init__(
        self,
        *,
        started: Callable[[], float],
        deadline: float,
        min_interval: float,
        max_interval: float,
        ratio: float,
        clock: Callable[[], float],
    ) -> None:
        self.started, self.deadline = started, deadline
        self.min_interval, self.max_interval, self.ratio = min_interval, max_interval, ratio
        self.clock = clock

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        now = self.clock()
        elapsed = now - self.started()
        wait = proportional_interval(
            elapsed,
            min_interval=self.min_interval,
            max_interval=self.max_interval,
            ratio=self.ratio,
        )
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RateLimitError) and exc.retry_after:
            wait = max(wait, exc.retry_after)
        return max(0.0, min(wait, self.deadline - now))


def poll(
    check: Callable[[], T | None],
    *,
    deadline: float,
    started: float | Callable[[], float] | None = None,
    min_interval: float = 0.02,
    max_interval: float = 2.0,
    ratio: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``check`` until it returns something other than ``None``; return that.

    ``deadline`` and ``started`` are ``clock()`` values (``started`` may be a callable, read at
    every wait, when the reference point moves). Raises :class:`DeadlineExceeded` when the
    deadline passes first; non-transient exceptions from ``check`` propagate unchanged.
    """
    origin = clock() if started is None else started
    since = origin if callable(origin) else (lambda: origin)

    def expired(retry_state: tenacity.RetryCallState) -> T:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        raise DeadlineExceeded(exc) from exc

    retrying = tenacity.Retrying(
        retry=(
            tenacity.retry_if_result(lambda result: result is None)
            | tenacity.retry_if_exception_type(TRANSIENT_ERRORS)
        ),
        wait=ProportionalWait(
            started=since,
            deadline=deadline,
            min_interval=min_interval,
            max_interval=max_interval,
            ratio=ratio,
            clock=clock,
        ),
        stop=lambda retry_state: clock() >= deadline,
        sleep=sleep,
        retry_error_callback=expired,
    )
    result = retrying(check)
    assert result is not None  # every None is retried until ``expired`` raises
    return result


def poll_job(
    check: Callable[[], T | None],
    *,
    prompt_id: str,
    deadline: float,
    max_interval: float,
    min_interval: float = 0.02,
    label: str = "prompt",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """:func:`poll` for a job: the deadline becomes ``ExecutionTimeout`` naming ``label`` and id.

    The timeout is raised from the last transient error seen, if any, and carries the id so the
    caller can cancel (or re-attach to) the job. ``sleep(seconds)`` waits between checks; one
    that returns early (e.g. when a socket reports news) makes the next check come sooner.
    """
    try:
        return poll(
            check,
            deadline=deadline,
            min_interval=min(min_interval, max_interval),
            max_interval=max_interval,
            sleep=sleep,
        )
    except DeadlineExceeded as exc:
        raise ExecutionTimeout(
            f"{label} {prompt_id} did not finish before the deadline", prompt_id=prompt_id
        ) from exc.last_error
