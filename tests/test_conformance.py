"""The built-in backends pass the backend conformance suite."""

from __future__ import annotations

import json

import pytest

from comfykit_sync import ComfyKit
from comfykit_sync.testing import FakeComfyUI, Script
from comfykit_sync.testing.conformance import WORKFLOWS, BackendConformance
from comfykit_sync.testing.fake_runninghub import TaskScript


class ComfyUIControls:
    def __init__(self, server):
        self.server = server

    def set_duration(self, seconds):
        self.server.duration = seconds

    def fail_next(self, message):
        self.server.script(Script(error_node="3", error_message=message))


class TestComfyUIHttp(BackendConformance):
    backend_name = "comfyui-http"

    @pytest.fixture
    def conformance_kit(self, fake_comfyui):
        with ComfyKit(fake_comfyui.url) as kit:
            yield kit

    @pytest.fixture
    def conformance_controls(self, fake_comfyui):
        return ComfyUIControls(fake_comfyui)


class TestComfyUIWebSocket(TestComfyUIHttp):
    backend_name = "comfyui-ws"


class PoolControls:
    """Steers every server of a pool alike (the job may land on any of them)."""

    def __init__(self, servers):
        self.servers = servers

    def set_duration(self, seconds):
        for server in self.servers:
            server.duration = seconds

    def fail_next(self, message):
        for server in self.servers:
            server.script(Script(error_node="3", error_message=message))


class TestComfyUIHttpPool(BackendConformance):
    """A kit over two servers passes the same suite."""

    backend_name = "comfyui-http"

    @pytest.fixture
    def pool_servers(self, fake_comfyui):
        with FakeComfyUI() as other:
            yield fake_comfyui, other

    @pytest.fixture
    def conformance_kit(self, pool_servers):
        with ComfyKit([server.url for server in pool_servers]) as kit:
            yield kit

    @pytest.fixture
    def conformance_controls(self, pool_servers):
        return PoolControls(pool_servers)


class TestComfyUIWebSocketPool(TestComfyUIHttpPool):
    backend_name = "comfyui-ws"


class RunningHubControls:
    def __init__(self, hub):
        self.hub = hub

    def set_duration(self, seconds):
        self.hub.run_time = seconds

    def fail_next(self, message):
        self.hub.script(
            TaskScript(
                failed_reason={
                    "node_id": "3",
                    "node_name": "KSampler",
                    "exception_type": "RuntimeError",
                    "exception_message": message,
                }
            )
        )


class TestRunningHub(BackendConformance):
    backend_name = "runninghub"

    @pytest.fixture
    def conformance_kit(self, fake_runninghub, monkeypatch):
        monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
        with ComfyKit(
            runninghub_url=fake_runninghub.url,
            runninghub_api_key=fake_runninghub.api_key,
            poll_max_interval=0.05,
        ) as kit:
            yield kit

    @pytest.fixture
    def conformance_controls(self, fake_runninghub):
        return RunningHubControls(fake_runninghub)

    @pytest.fixture
    def conformance_workflow(self, fake_runninghub):
        graph = json.loads((WORKFLOWS / "text_to_image.json").read_text())
        return fake_runninghub.add_workflow(graph)

    @pytest.fixture
    def conformance_upload_workflow(self, fake_runninghub):
        graph = json.loads((WORKFLOWS / "image_to_image.json").read_text())
        return fake_runninghub.add_workflow(graph)
