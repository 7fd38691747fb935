"""The process-wide ComfyKit: created lazily on first use (thread-safe), closed at exit."""

from __future__ import annotations

import atexit
import threading

from django.conf import settings

from comfykit_sync import ComfyKit

_kit: ComfyKit | None = None
_lock = threading.Lock()


def get_kit() -> ComfyKit:
    """The shared kit, built from ``settings.COMFYKIT`` by the first caller."""
    global _kit
    if _kit is None:
        with _lock:
            if _kit is None:  # double-checked: only one thread creates it
                _kit = ComfyKit(**settings.COMFYKIT)
    return _kit


def close_kit() -> None:
    """Close the shared kit (at shutdown, or to rebuild it after a settings change)."""
    global _kit
    with _lock:
        kit, _kit = _kit, None
    if kit is not None:
        kit.close()


atexit.register(close_kit)
