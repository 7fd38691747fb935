"""One thread per ComfyUI client watches ``/queue`` for every prompt being waited for.

Instead of each waiting thread polling ``/history/{id}`` on its own, a single watcher reads
``/queue`` (one request covers all in-flight prompts) and wakes a waiter when its prompt starts,
moves in the queue, or leaves the queue. Prompts that left are looked up together in the newest
``/history?max_items=N`` entries; a waiter whose entry was not among them fetches its own.
The watcher polls on the proportional schedule of ``_polling`` (every 10 ms at first, then a
tenth of the time elapsed) measured from the moment the youngest prompt that can finish next was
submitted or seen starting, so a fresh or just-started prompt is checked within ~10 ms while long
runs and prompts waiting deep in the queue cost little. It exits when nobody waits and restarts
on demand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._polling import poll
from ..errors import ComfyKitError

if TYPE_CHECKING:
    from .comfyui import ComfyUIClient

log = logging.getLogger(__name__)

FOREVER = 10 * 365 * 24 * 3600.0
#: the shortest time between two ``/queue`` reads
MIN_INTERVAL = 0.01
#: history entries read beyond those of the prompts that left the queue (others may finish)
HISTORY_SLACK = 4


@attrs.define(eq=False)
class Tracked:
    """What the watcher last saw of one prompt; ``changed`` is set whenever that changes."""

    prompt_id: str
    since: float = attrs.field(factory=time.monotonic)
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
        self._batch_history = True

    def track(self, prompt_id: str) -> Tracked:
        """Start watching ``prompt_id`` (it must already be queued)."""
        tracked = Tracked(prompt_id)
        with self._lock:
            self._tracked.append(tracked)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="comfykit-queue-watch", daemon=True
                )
                self._thread.start()
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
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        poll(
            self._tick,
            deadline=time.monotonic() + FOREVER,
            started=self._youngest,
            max_interval=self._max_interval,
            min_interval=MIN_INTERVAL,
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
        asked_at = time.monotonic()
        try:
            running, pending = self._client.queue()
        except ComfyKitError as exc:
            with self._lock:
                tracked = list(self._tracked)
            for t in tracked:
                t.update(t.state, t.position, exc)
            return None
        with self._lock:  # a prompt tracked after the request left may not be in its reply
            tracked = [t for t in self._tracked if t.since <= asked_at]
        left = sum(1 for t in tracked if t.prompt_id not in running and t.prompt_id not in pending)
        entries = self._recent_entries(left) if left else {}
        for t in tracked:
            if t.prompt_id in entries:
                t.update("gone", None, None, entries[t.prompt_id])
            elif t.prompt_id in running:
                t.update("running", None, None)
            elif t.prompt_id in pending:
                t.update("pending", pending.index(t.prompt_id), None)
            else:
                t.update("gone", None, None)
        return None

    def _recent_entries(self, left: int) -> Mapping[str, Mapping[str, Any]]:
        """The newest history entries, read in one request when ``left`` prompts left the queue.

        Saves each of their waiters a ``/history/{id}`` request and a round trip; a waiter whose
        entry is not among them (pushed out by other clients' prompts) fetches its own. A
        server that ignores ``max_items`` is not asked again.
        """
        if not self._batch_history:
            return {}
        wanted = left + HISTORY_SLACK
        try:
            entries = self._client.recent_history(wanted)
        except ComfyKitError as exc:
            log.debug("reading the recent history failed: %s", exc)
            return {}
        if len(entries) > wanted:
            log.info("the server ignores /history?max_items; reading each prompt's entry instead")
            self._batch_history = False
        return entries
