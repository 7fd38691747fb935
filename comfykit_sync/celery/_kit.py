"""The kit of a worker process: built once (from the environment or the app's factory), closed
on worker shutdown, never shared across a fork."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from ..client import ComfyKit
from ..errors import ConfigurationError

log = logging.getLogger(__name__)

KitFactory = Callable[[], ComfyKit]

_factory: KitFactory | None = None
_kit: ComfyKit | None = None
_lock = threading.Lock()


def set_kit_factory(factory: KitFactory | None) -> None:
    """Build the worker's kit with ``factory()`` instead of ``ComfyKit()`` (the environment).

    Call it where the Celery app is configured. A kit already built in this process is closed
    so that the next task uses the new factory; ``None`` restores the default.
    """
    global _factory
    if factory is not None and not callable(factory):
        raise ConfigurationError(f"the kit factory must be callable, got {factory!r}")
    with _lock:
        _factory = factory
    close_worker_kit()


def worker_kit() -> ComfyKit:
    """This process's kit, built on first use and shared by the tasks it runs (thread-safe)."""
    global _kit
    with _lock:
        if _kit is None:
            kit = (_factory or ComfyKit)()
            if not isinstance(kit, ComfyKit):
                raise ConfigurationError(f"the kit factory returned {kit!r}, not a ComfyKit")
            _kit = kit
        return _kit


def close_worker_kit(**_signal_args: Any) -> None:
    """Close this process's kit (connected to Celery's worker shutdown signals); idempotent."""
    global _kit
    with _lock:
        kit, _kit = _kit, None
    if kit is not None:
        kit.close()
        log.info("closed the ComfyKit of process %d", os.getpid())


def _forget_after_fork() -> None:
    """A forked child (a prefork pool process) builds its own kit: the parent's sockets and
    threads are not its to use or close."""
    global _kit, _lock
    _kit, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
