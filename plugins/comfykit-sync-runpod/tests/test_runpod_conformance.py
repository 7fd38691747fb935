"""The core's backend conformance suite, run against the fake RunPod endpoint."""

from __future__ import annotations

from comfykit_sync.testing.conformance import BackendConformance


class TestRunPodConformance(BackendConformance):
    backend_name = "runpod"
