"""The Celery app the test workers run (``celery -A celery_worker_app worker``).

Settings come from the environment the tests give the worker process: ``TEST_REDIS_URL``
(broker and result backend), ``TEST_VISIBILITY_TIMEOUT`` (seconds before a message a dead
worker held is delivered again) and ``COMFYUI_BASE_URL`` (read by the worker's kit).
"""

from __future__ import annotations

import os

from celery import Celery


def make_app(redis_url: str, *, visibility_timeout: float = 3600) -> Celery:
    app = Celery("comfykit_tests", broker=redis_url, backend=redis_url)
    app.conf.update(
        include=["comfykit_sync.celery"],
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        # transport failures are retried at once here (the backoff is Celery's own function)
        task_annotations={"comfykit_sync.execute_workflow": {"retry_backoff": 0}},
    )
    return app


if "TEST_REDIS_URL" in os.environ:
    app = make_app(
        os.environ["TEST_REDIS_URL"],
        visibility_timeout=float(os.environ.get("TEST_VISIBILITY_TIMEOUT", "3600")),
    )
