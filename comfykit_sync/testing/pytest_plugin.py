"""pytest fixtures for the fake ComfyUI server (registered as a ``pytest11`` plugin).

Loaded in every pytest run of a project that installs comfykit-sync, so
aiohttp is only imported inside the fixtures.

Configure a test's server with the ``fake_comfyui`` marker, whose keyword
arguments go to :class:`~comfykit_sync.testing.FakeComfyUI`::

    @pytest.mark.fake_comfyui(workers=2, duration=0.2)
    def test_parallel(fake_comfyui): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .fake_comfyui import FakeComfyUI
    from .fake_runninghub import FakeRunningHub


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_comfyui(**kwargs): keyword arguments for the fake_comfyui fixture's server"
    )
    config.addinivalue_line(
        "markers",
        "fake_runninghub(**kwargs): keyword arguments for the fake_runninghub fixture's server",
    )


@pytest.fixture
def fake_comfyui(request: pytest.FixtureRequest) -> Iterator[FakeComfyUI]:
    """A started fake ComfyUI server on 127.0.0.1 (stopped after the test)."""
    from .fake_comfyui import FakeComfyUI

    marker = request.node.get_closest_marker("fake_comfyui")
    with FakeComfyUI(**(marker.kwargs if marker else {})) as server:
        yield server


@pytest.fixture
def fake_comfyui_url(fake_comfyui: FakeComfyUI) -> str:
    """Base URL of the ``fake_comfyui`` server, e.g. ``http://127.0.0.1:54321``."""
    return fake_comfyui.url


@pytest.fixture
def fake_runninghub(request: pytest.FixtureRequest) -> Iterator[FakeRunningHub]:
    """A started fake RunningHub (API and CDN ports on 127.0.0.1), stopped after the test.

    Keyword arguments of the ``fake_runninghub`` marker go to
    :class:`~comfykit_sync.testing.fake_runninghub.FakeRunningHub`.
    """
    from .fake_runninghub import FakeRunningHub

    marker = request.node.get_closest_marker("fake_runninghub")
    with FakeRunningHub(**(marker.kwargs if marker else {})) as server:
        yield server
