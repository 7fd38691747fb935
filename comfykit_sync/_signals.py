"""Waits that Ctrl-C can break.

CPython runs signal handlers in the main thread only, and a process-directed SIGINT may be
delivered to any thread: when another thread takes it, a main thread blocked in a lock or queue
wait is not woken and notices the ``KeyboardInterrupt`` only when its wait ends. So the main
thread never blocks longer than :data:`MAIN_THREAD_SLICE` at a time; other threads (which never
get ``KeyboardInterrupt``) wait as long as they are asked to.
"""

from __future__ import annotations

import threading

#: longest single wait of the main thread, in seconds
MAIN_THREAD_SLICE = 0.2


def wait_slice(timeout: float) -> float:
    """``timeout`` (never negative), capped at :data:`MAIN_THREAD_SLICE` in the main thread;
    callers wait in a loop until their own deadline."""
    timeout = max(0.0, timeout)
    if threading.current_thread() is threading.main_thread():
        return min(timeout, MAIN_THREAD_SLICE)
    return timeout
