"""Test helpers: fake servers, their pytest fixtures, and what plugin tests build on.

* :class:`FakeComfyUI` (with :class:`Script`, :class:`PromptRecord`, :class:`RequestRecord`): a
  protocol-faithful fake ComfyUI server;
* :class:`BackgroundServer` and :func:`cli_parser`: the thread-and-loop scaffold of every fake
  server, for a plugin's own fake endpoint;
* :mod:`comfykit_sync.testing.conformance`: the backend conformance suite;
* :mod:`comfykit_sync.testing.faults`: the fault injection every fake shares (``FaultInjection``
  for a plugin's own fake).

Like ``comfykit_sync.backend``, these names follow semantic versioning. ``FakeComfyUI`` needs
aiohttp (the ``testing`` extra); it is imported on first access so that importing this package
(e.g. by the pytest plugin) stays cheap and works without aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._records import PromptRecord, RequestRecord, Script
from .background import BackgroundServer, cli_parser

if TYPE_CHECKING:
    from .fake_comfyui import FakeComfyUI

__all__ = [
    "BackgroundServer",
    "FakeComfyUI",
    "PromptRecord",
    "RequestRecord",
    "Script",
    "cli_parser",
]


def __getattr__(name: str) -> Any:
    if name == "FakeComfyUI":
        from .fake_comfyui import FakeComfyUI

        return FakeComfyUI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
