from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[object]:
    """A real ``redis-server`` on a free loopback port for the Celery tests (session-wide)."""
    if shutil.which("redis-server") is None:
        pytest.fail("the Celery tests need redis-server: apt-get install -y redis-server")
    from celery_support import RedisServer

    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The URL of an empty database of ``redis_server``."""
    return redis_server.fresh_url()
