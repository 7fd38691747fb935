from __future__ import annotations

from collections.abc import Iterator

import pytest
from recording_server import RecordingServer


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    """A second HTTP server on 127.0.0.1 that records the headers it receives."""
    server = RecordingServer().start()
    yield server
    server.stop()
