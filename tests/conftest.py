from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from recording_server import RecordingServer

# Property tests explore new inputs on every local run; in CI (CI=true) they replay a fixed
# sequence so a landing never depends on the luck of the draw. Bugs they find get a
# regression test of their own.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    """A second HTTP server on 127.0.0.1 that records the headers it receives."""
    server = RecordingServer().start()
    yield server
    server.stop()
