"""Test helpers: a fake ComfyUI server and its pytest fixtures.

``FakeComfyUI`` needs aiohttp (the ``testing`` extra); it is imported on
first access so that importing this package (e.g. by the pytest plugin)
stays cheap and works without aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._records import PromptRecord, RequestRecord, Script

if TYPE_CHECKING:
    from .fake_comfyui import FakeComfyUI

__all__ = ["FakeComfyUI", "PromptRecord", "RequestRecord", "Script"]


def __getattr__(name: str) -> Any:
    if name == "FakeComfyUI":
        from .fake_comfyui import FakeComfyUI

        return FakeComfyUI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
