"""One thread per ComfyUI client watches every prompt being waited for.

Instead of each waiting thread polling ``/history/{id}`` on its own, a single watcher
(spec §5, §8) reads

* the newest history entries (``/history?max_items=N``, N adapted to how many prompts finish
  between two reads — twice their smoothed number, so that a burst seldom costs a second read —
  and grown until the reply reaches back to the newest entry of the last read):
  a prompt found there has finished and its waiter gets the entry at once. This is the fast
  path; its cost depends on how many prompts finish, not on how long the queue is;
* ``/queue``, less often (every 0.25 s at first, then a tenth of the time elapsed): where each
  prompt is (queue position, started) and which ones left the queue. A prompt that left without
  showing up in the history is fetched by its waiter — and reported lost if it has no entry
  (deleted, server restart, eviction).

When the client has a ``lost_after`` (a pool's servers), a server that refuses connections
for that long is taken for dead: ComfyUI keeps its queue in memory, so every prompt waited
for there is reported lost (``PromptLostError``) instead of waited for until its deadline.

A server that ignores ``max_items`` (older than 2023) is watched through ``/queue`` alone, at
the fast schedule. The fast schedule is the proportional one of ``polling`` (every 5 ms at
first, then a twentieth of the time elapsed: a prompt that ends after t seconds is noticed
t/40 later on average), measured from the moment the youngest prompt that can finish next was
submitted or seen starting: a fresh or just-started prompt is noticed within ~5 ms, while long
runs and prompts waiting deep in the queue cost little. The thread exits when nobody waits and
restarts on demand. Its requests are bounded by the furthest deadline of the prompts it
watches: it never waits on a frozen server for longer than any of them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ComfyKitError, PromptLostError
from ..http import refused, request_deadline
from ..polling import poll, proportional_interval

if TYPE_CHECKING:
    from .comfyui import ComfyUIClient

log = logging.getLogger(__name__)

FOREVER = 10 * 365 * 24 * 3600.0
#: the shortest time between two reads
MIN_INTERVAL = 0.005
#: the time between two reads, as a share of the time elapsed
RATIO = 0.05
#: the shortest time between two ``/queue`` reads while the history is scanned
QUEUE_MIN_INTERVAL = 0.25
#: the most history entries one scan reads (more finished since: ``/queue`` decides)
SCAN_MAX_ITEMS = 256
#: weight of the latest scan in the smoothed number of prompts a scan finds finished
SCAN_SMOOTHING = 0.3


@attrs.define(eq=False)
class Tracked:
    """What the watcher last saw of one prompt; ``changed`` is set whenever that changes."""

    prompt_id: str
    since: float = attrs.field(factory=time.monotonic)
    deadline: float | None = None  # when its waiter gives up (None: never)
    state: str = "unseen"  # unseen | pending | running | gone
    running_since: float | None = None  # when the watcher first saw it running
    position: int | None = None
    error: ComfyKitError | None = None
    entry: Mapping[str, Any] | None = None  # the history entry, when read with others
    changed: threading.Event = attrs.field(factory=threading.Event)

    def update(
        self,
        state: str,
        position: int | None,
        error: ComfyKitError | None,
        entry: Mapping[str, Any] | None = None,
    ) -> None:
        """Record what the watcher saw; wake the waiter only if something changed."""
        if (state, position, error) == (self.state, self.position, self.error):
            return
        if entry is not None:
            self.entry = entry
        if state == "running" and self.running_since is None:
            self.running_since = time.monotonic()
        self.state, self.position, self.error = state, position, error
        self.changed.set()


class QueueWatch:
    """Tracks prompts and refreshes their queue state from a background thread."""

    def __init__(self, client: ComfyUIClient, *, max_interval: float) -> None:
        self._client = client
        self._max_interval = max_interval
        self._tracked: list[Tracked] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._scan = True  # False once the server is seen ignoring max_items
        self._scan_size = 1  # entries the next scan asks for
        self._finished_per_scan = 0.0  # smoothed number of new entries a scan finds
        self._newest: str | None = None  # newest history id of the last scan ("": none)
        self._next_queue_read = 0.0
        self._next_tick = 0.0
        self._refused_since: float | None = None

    def track(self, prompt_id: str, deadline: float | None = None) -> Tracked:
        """Start watching ``prompt_id`` (it must already be queued) until ``deadline``."""
        tracked = Tracked(prompt_id, deadline=deadline)
        with self._lock:
            self._tracked.append(tracked)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="comfykit-queue-watch", daemon=True
                )
                self._thread.start()
        if self._next_tick - time.monotonic() > MIN_INTERVAL:  # a long sleep: look sooner
            self._wake.set()
        return tracked

    def untrack(self, tracked: Tracked) -> None:
        with self._lock:
            if tracked in self._tracked:
                self._tracked.remove(tracked)

    def _youngest(self) -> float:
        """The reference of the polling schedule: when the youngest prompt that can finish next
        was submitted (not seen yet) or started. Pending prompts cannot finish, so a long queue
        of them is polled slowly; with none running, the oldest tracked prompt counts."""
        with self._lock:
            active = [t.running_since or t.since for t in self._tracked if t.state != "pending"]
            if active:
                return max(active)
            return min((t.since for t in self._tracked), default=time.monotonic())

    def _sleep(self, seconds: float) -> None:
        self._next_tick = time.monotonic() + seconds
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        poll(
            self._tick,
            deadline=time.monotonic() + FOREVER,
            started=self._youngest,
            max_interval=self._max_interval,
            min_interval=MIN_INTERVAL,
            ratio=RATIO,
            sleep=self._sleep,
        )

    def _tick(self) -> bool | None:
        """One refresh; ``True`` ends the thread when nobody is tracked any more.

        Errors are handed to the waiters (who decide: transient ones are waited out until the
        deadline, others end the wait); the thread itself never dies of them.
        """
        with self._lock:
            if not self._tracked:
                self._thread = None
                return True
            deadlines = [t.deadline for t in self._tracked]
        deadline = None if None in deadlines else max(d for d in deadlines if d is not None)
        with request_deadline(deadline):
            self._refresh()
        return None

    def _refresh(self) -> None:
        """Read the queue (when due) and the newest history; update the tracked prompts."""
        left: list[Tracked] = []
        now = time.monotonic()
        if not self._scan or now >= self._next_queue_read:
            try:
                left = self._read_queue()
            except ComfyKitError as exc:
                with self._lock:
                    tracked = list(self._tracked)
                dead_for = self._refusing_for(exc)
                for t in tracked:
                    t.update(t.state, t.position, self._lost(t, dead_for) if dead_for else exc)
                return
            self._refused_since = None
            self._next_queue_read = now + proportional_interval(
                now - self._youngest(),
                min_interval=QUEUE_MIN_INTERVAL,
                max_interval=max(self._max_interval, MIN_INTERVAL),
            )
        entries = self._scan_history() if self._scan else {}
        with self._lock:
            tracked = list(self._tracked)
        for t in tracked:
            if t.prompt_id in entries:
                t.update("gone", None, None, entries[t.prompt_id])
        for t in left:
            if t.prompt_id not in entries:
                t.update("gone", None, None)

    def _refusing_for(self, exc: ComfyKitError) -> float | None:
        """Seconds the server has refused connections, once that is ``lost_after`` or more."""
        lost_after = self._client.lost_after
        if lost_after is None or not refused(exc):
            self._refused_since = None
            return None
        now = time.monotonic()
        if self._refused_since is None:
            self._refused_since = now
        elapsed = now - self._refused_since
        return elapsed if elapsed >= lost_after else None

    def _lost(self, tracked: Tracked, dead_for: float) -> PromptLostError:
        return PromptLostError(
            f"prompt {tracked.prompt_id} is lost: {self._client.http.base_url} has refused "
            f"connections for {dead_for:.1f} s, so its queue went with its process (crash or "
            "restart)",
            prompt_id=tracked.prompt_id,
        )

    def _read_queue(self) -> list[Tracked]:
        """Update running and pending prompts from ``/queue``; return those that left it."""
        asked_at = time.monotonic()
        running, pending = self._client.queue()
        with self._lock:  # a prompt tracked after the request left may not be in its reply
            tracked = [t for t in self._tracked if t.since <= asked_at]
        left = []
        for t in tracked:
            if t.prompt_id in running:
                t.update("running", None, None)
            elif t.prompt_id in pending:
                t.update("pending", pending.index(t.prompt_id), None)
            else:
                left.append(t)
        return left

    def _scan_history(self) -> Mapping[str, Mapping[str, Any]]:
        """The newest history entries, reaching back to the newest one of the last scan.

        Any prompt among them has finished. When they could not be read in full (an error, a
        first scan, more than ``SCAN_MAX_ITEMS`` finished), ``/queue`` is read on the next tick.
        """
        size = self._scan_size
        while True:
            try:
                entries = self._client.recent_history(size)
            except ComfyKitError as exc:
                log.debug("reading the newest history entries failed: %s", exc)
                self._next_queue_read = 0.0
                return {}
            if len(entries) > size:
                log.info("the server ignores /history?max_items: watching /queue alone")
                self._scan = False
                return entries
            ids = list(entries)
            seen_all = self._newest in entries or len(entries) < size
            if seen_all or self._newest is None or size >= SCAN_MAX_ITEMS:
                break
            size = min(2 * size, SCAN_MAX_ITEMS)
        if not seen_all or self._newest is None:
            self._next_queue_read = 0.0
        new = len(ids) - ids.index(self._newest) - 1 if self._newest in entries else len(ids)
        smoothed = self._finished_per_scan + SCAN_SMOOTHING * (new - self._finished_per_scan)
        self._finished_per_scan = smoothed
        self._scan_size = max(1, min(1 + math.ceil(2 * smoothed), SCAN_MAX_ITEMS))
        self._newest = ids[-1] if ids else ""
        return entries
