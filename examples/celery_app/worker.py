"""The Celery app the workers run: ``celery -A celery_app.worker worker`` (from ``examples/``).

Broker and result backend: ``CELERY_BROKER_URL`` (default ``redis://127.0.0.1:6379/0``) and
``CELERY_RESULT_BACKEND`` (default: the broker). Each worker process builds one ``ComfyKit``
from the environment (``COMFYUI_BASE_URL``, ``COMFYUI_API_KEY``, …) the first time it runs a
task and closes it when the worker shuts down.
"""

from __future__ import annotations

import os

from celery import Celery

import comfykit_sync.celery  # noqa: F401 - defines the execute_workflow task


def make_celery(broker_url: str | None = None) -> Celery:
    broker = broker_url or os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    app = Celery(
        "comfykit_example",
        broker=broker,
        backend=broker_url or os.environ.get("CELERY_RESULT_BACKEND", broker),
        include=["comfykit_sync.celery"],
    )
    app.conf.update(
        worker_prefetch_multiplier=1,  # a process takes the next job only when it is free
        result_expires=24 * 3600,  # results (and progress) stay readable for a day
        # the longest job may take; a message held longer by a busy worker is delivered again,
        # and the second delivery re-attaches to the same ComfyUI job (it never runs twice)
        broker_transport_options={"visibility_timeout": 3600},
    )
    # To configure the workers' kit in code instead of the environment:
    # comfykit_sync.celery.set_kit_factory(lambda: ComfyKit("http://gpu1:8188", timeout=900))
    return app


app = make_celery()
