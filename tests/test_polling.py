"""The polling schedule, with an injected clock and sleep (no real waiting)."""

from __future__ import annotations

import pytest

from comfykit_sync.errors import PromptLostError, ServerError
from comfykit_sync.polling import DeadlineExceeded, poll


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_interval_grows_with_elapsed_time_and_is_capped():
    clock = FakeClock()
    calls = iter(range(10_000))

    def check():
        return "done" if next(calls) == 400 else None

    assert (
        poll(
            check,
            deadline=clock.now + 3600,
            clock=clock,
            sleep=clock.sleep,
            min_interval=0.02,
            max_interval=2.0,
            ratio=0.1,
        )
        == "done"
    )
    assert clock.sleeps[0] == pytest.approx(0.02)
    assert max(clock.sleeps) == pytest.approx(2.0)
    assert clock.sleeps == sorted(clock.sleeps)
    # the detection delay stays within 10% of the time already waited
    elapsed = 0.0
    for interval in clock.sleeps:
        assert interval <= max(0.02, 0.1 * elapsed) + 1e-9
        elapsed += interval


def test_deadline_stops_the_loop_and_never_oversleeps():
    clock = FakeClock()
    deadline = clock.now + 5
    with pytest.raises(DeadlineExceeded):
        poll(lambda: None, deadline=deadline, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(deadline)


def test_transient_errors_are_retried_until_success():
    clock = FakeClock()
    results = iter([ServerError("503", status_code=503), None, "ok"])

    def check():
        value = next(results)
        if isinstance(value, Exception):
            raise value
        return value

    assert poll(check, deadline=clock.now + 60, clock=clock, sleep=clock.sleep) == "ok"


def test_deadline_keeps_the_last_transient_error():
    clock = FakeClock()

    def check():
        raise ServerError("down", status_code=502)

    with pytest.raises(DeadlineExceeded) as info:
        poll(check, deadline=clock.now + 1, clock=clock, sleep=clock.sleep)
    assert isinstance(info.value.last_error, ServerError)


def test_other_errors_end_the_loop_at_once():
    clock = FakeClock()

    def check():
        raise PromptLostError("gone")

    with pytest.raises(PromptLostError):
        poll(check, deadline=clock.now + 60, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
