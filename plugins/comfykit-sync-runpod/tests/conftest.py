"""Fixtures: a fake RunPod endpoint and kits configured for it through the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from comfykit_sync_runpod.testing import FakeRunPod, FakeRunPodControls
from rp_constants import ENDPOINT, KEY

from comfykit_sync import ComfyKit


@pytest.fixture
def runpod() -> Iterator[FakeRunPod]:
    with FakeRunPod(api_key=KEY, endpoint_id=ENDPOINT, run_time=0.05) as server:
        yield server


@pytest.fixture
def runpod_env(runpod: FakeRunPod, monkeypatch: pytest.MonkeyPatch, tmp_path) -> FakeRunPod:
    monkeypatch.setenv("RUNPOD_API_URL", runpod.api_url)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", ENDPOINT)
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)
    monkeypatch.setenv("RUNPOD_OUTPUT_DIR", str(tmp_path / "out"))
    return runpod


@pytest.fixture
def kit(runpod_env: FakeRunPod) -> Iterator[ComfyKit]:
    with ComfyKit(poll_max_interval=0.05, request_timeout=(2.0, 5.0)) as kit:
        yield kit


@pytest.fixture
def conformance_kit(kit: ComfyKit) -> ComfyKit:
    """A kit able to run the ``runpod`` backend (for ``BackendConformance``)."""
    return kit


@pytest.fixture
def conformance_controls(runpod: FakeRunPod) -> FakeRunPodControls:
    """``set_duration`` / ``fail_next`` on the fake endpoint."""
    return FakeRunPodControls(runpod)
