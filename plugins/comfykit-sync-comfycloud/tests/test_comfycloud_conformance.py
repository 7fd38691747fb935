"""The core's backend conformance suite, run against the fake Comfy Cloud."""

from __future__ import annotations

from comfykit_sync.testing.conformance import BackendConformance


class TestComfyCloudConformance(BackendConformance):
    backend_name = "comfycloud"
