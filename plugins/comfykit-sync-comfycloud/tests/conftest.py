"""Fixtures: a fake Comfy Cloud and a kit configured for it through the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cc_constants import KEY
from comfykit_sync_comfycloud.testing import FakeComfyCloud, FakeComfyCloudControls

from comfykit_sync import ComfyKit


@pytest.fixture
def cloud() -> Iterator[FakeComfyCloud]:
    with FakeComfyCloud(api_key=KEY) as server:
        yield server


@pytest.fixture
def cloud_env(cloud: FakeComfyCloud, monkeypatch: pytest.MonkeyPatch) -> FakeComfyCloud:
    monkeypatch.setenv("COMFY_CLOUD_URL", cloud.api_url)
    monkeypatch.setenv("COMFY_CLOUD_API_KEY", KEY)
    monkeypatch.delenv("COMFY_CLOUD_TIMEOUT", raising=False)
    return cloud


@pytest.fixture
def kit(cloud_env: FakeComfyCloud) -> Iterator[ComfyKit]:
    with ComfyKit(poll_max_interval=0.05, request_timeout=(2.0, 5.0)) as kit:
        yield kit


@pytest.fixture
def conformance_kit(kit: ComfyKit) -> ComfyKit:
    """A kit able to run the ``comfycloud`` backend (for ``BackendConformance``)."""
    return kit


@pytest.fixture
def conformance_controls(cloud: FakeComfyCloud) -> FakeComfyCloudControls:
    """``set_duration`` / ``fail_next`` on the fake cloud."""
    return FakeComfyCloudControls(cloud)
