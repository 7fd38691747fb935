"""One server of a pool: its backend, whether it is up, how loaded it is, its node definitions.

* **Health.** A call that proves the server unreachable (a connection that failed before
  anything was sent) marks it down; a thread then probes ``GET /system_stats`` with
  exponential backoff (``PROBE_BACKOFF``) and marks it up when it answers. Any call that gets
  an answer marks it up too. A server that comes back may have restarted with other nodes or
  models: its definitions are fetched again.
* **Load.** The server's queue (pending + running) as last read by any ``/queue`` request of its
  client, read again when older than ``LOAD_TTL``, plus this kit's jobs submitted since that
  read, minus those of its jobs seen finishing since, plus the jobs being placed there right
  now (reserved).
* **Definitions.** ``GET /object_info`` (:class:`~comfykit_sync.object_info.ServerObjectInfo`:
  one request however many threads ask, on disk with ``object_info_cache_dir``), fetched again
  after a submit the server rejected for an unknown node or value, after the server was down,
  or when a routing finds nothing capable and they are older than ``REFRESH_AFTER``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ComfyKitError, TransportError
from ..http import deadline_passed
from ..object_info import ServerObjectInfo

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..backends.comfyui_http import ComfyUIHttpBackend

log = logging.getLogger(__name__)

T = TypeVar("T")

#: seconds a queue reading is used before it is read again for a routing decision
LOAD_TTL = 0.5
#: (first, longest) wait between two probes of a server that is down
PROBE_BACKOFF = (0.25, 30.0)
#: seconds the definitions are kept before a routing that found nothing capable fetches them
REFRESH_AFTER = 10.0


class Member:
    """One server of a pool (thread-safe)."""

    def __init__(self, url: str, backend: ComfyUIHttpBackend) -> None:
        self.url = url
        self.backend = backend
        self.client = backend.client
        self.view: Backend = backend  # the pool replaces it with its view of this server
        self.chosen = 0  # when the router last chose it (a sequence number)
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_error: str | None = None
        self._closed = threading.Event()
        self._prober: threading.Thread | None = None
        self._reserved = 0
        self._submitted: deque[float] = deque()  # when each job since the last queue read went
        self._finished: deque[float] = deque()  # when each since was seen finishing
        self._reading = False
        self._definitions_lock = threading.Lock()
        cache_dir = backend.context.config.object_info_cache_dir
        self._source = ServerObjectInfo(self.client.http, cache_dir)
        self._definitions: Mapping[str, Any] | None = None
        self._fetched_at = 0.0
        self._stale = False

    def __repr__(self) -> str:
        return f"Member({self.url!r}, {'up' if self.healthy else 'down'})"

    # -- health -----------------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        return self._down_since is None

    @property
    def down_since(self) -> float | None:
        """``time.monotonic()`` when it was marked down, ``None`` while up."""
        return self._down_since

    @property
    def last_error(self) -> str | None:
        """The last error seen with this server (kept after it recovers)."""
        return self._last_error

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, recording what it tells about the server's health."""
        try:
            result = fn(*args, **kwargs)
        except TransportError as exc:
            if exc.sent is False and not deadline_passed():  # not cut short by the caller's time
                self.mark_down(exc)
            else:
                self.note_error(exc)
            raise
        self.mark_up()
        return result

    def note_error(self, error: BaseException) -> None:
        self._last_error = str(error)

    def mark_down(self, error: BaseException) -> None:
        """Skip this server from now on and probe it until it answers again."""
        with self._lock:
            self._last_error = str(error)
            if self._closed.is_set():
                return
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("%s is down (%s); it is probed until it answers", self.url, error)
            if self._prober is None:
                self._prober = threading.Thread(
                    target=self._probe, name=f"comfykit-probe {self.url}", daemon=True
                )
                self._prober.start()

    def mark_up(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            self._down_since = None
            self._stale = True  # it may have restarted with other nodes or models
        log.info("%s answers again and rejoins the pool", self.url)

    def _probe(self) -> None:
        """Probe until the server answers; stops (atomically with ``mark_down``'s check) only
        while it is up, so a server that goes down again is never left without a prober."""
        delay = PROBE_BACKOFF[0]
        connect, read = self.client.http.timeout
        timeout = (min(connect, 2.0), min(read, 5.0))
        while not self._closed.wait(delay):
            with self._lock:
                if self._down_since is None:
                    self._prober = None
                    return
            try:
                self.client.http.request(
                    "GET",
                    "/system_stats",
                    what="checking whether the server is back",
                    attempts=1,
                    timeout=timeout,
                ).close()
            except ComfyKitError as exc:
                self.note_error(exc)
                delay = min(delay * 2, PROBE_BACKOFF[1])
                continue
            self.mark_up()
            delay = PROBE_BACKOFF[0]
        with self._lock:
            self._prober = None

    def close(self) -> None:
        """Stop probing (the pool closes the backend)."""
        self._closed.set()
        with self._lock:
            prober = self._prober
        if prober is not None and prober is not threading.current_thread():
            prober.join(timeout=5)

    # -- load -------------------------------------------------------------------------------
    def load(self) -> int:
        """Jobs ahead of a new one here (no request; see :meth:`read_queue_if_stale`)."""
        reading = self.client.last_queue
        with self._lock:
            if reading is not None:
                for times in (self._submitted, self._finished):
                    while times and times[0] <= reading[0]:
                        times.popleft()
            queued = (reading[1] if reading else 0) + len(self._submitted) - len(self._finished)
            return max(0, queued) + self._reserved

    def reserve(self) -> None:
        with self._lock:
            self._reserved += 1

    def unreserve(self) -> None:
        with self._lock:
            self._reserved -= 1

    def submitted(self) -> None:
        with self._lock:
            self._submitted.append(time.monotonic())

    def finished(self) -> None:
        with self._lock:
            self._finished.append(time.monotonic())

    def queue_stale(self) -> bool:
        """Whether the last queue reading is older than ``LOAD_TTL`` (or there is none)."""
        reading = self.client.last_queue
        return reading is None or time.monotonic() - reading[0] >= LOAD_TTL

    def read_queue_if_stale(self) -> None:
        """Read the server's queue if the last reading is older than ``LOAD_TTL`` (unless
        another thread is reading it). Errors are recorded, not raised."""
        if not self.queue_stale():
            return
        with self._lock:
            if self._reading:
                return
            self._reading = True
        try:
            self.call(self.client.queue)
        except ComfyKitError as exc:
            log.debug("reading the queue of %s failed: %s", self.url, exc)
        finally:
            with self._lock:
                self._reading = False

    # -- node definitions -------------------------------------------------------------------
    def invalidate(self) -> None:
        """Fetch the definitions again before they are next used."""
        self._stale = True

    def definitions_due(self, max_age: float | None = None) -> bool:
        """Whether :meth:`definitions` would fetch (no request)."""
        if self._definitions is None or self._stale:
            return True
        return max_age is not None and (
            self._source.stale or time.monotonic() - self._fetched_at > max_age
        )

    def definitions(self, *, fetch: bool = True, max_age: float | None = None) -> Mapping | None:
        """The server's node definitions, fetched if needed (and ``fetch``), or when older
        than ``max_age`` seconds (or read from the disk cache); ``None`` when they could not be
        had. Never raises."""
        with self._definitions_lock:
            if fetch and self.definitions_due(max_age):
                first = self._definitions is None and not self._stale
                try:
                    found = self.call(self._source.get if first else self._source.refresh)
                except ComfyKitError as exc:
                    log.debug("no node definitions from %s: %s", self.url, exc)
                    self.note_error(exc)
                else:
                    self._definitions, self._stale = found, False
                    self._fetched_at = time.monotonic()
            return self._definitions
