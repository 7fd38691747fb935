"""The Flask side: enqueue a workflow, poll its task by id, cancel it.

``flask --app celery_app.web run`` (from ``examples/``), with the same ``CELERY_BROKER_URL`` as
the workers::

    curl -d prompt="a cat" -d steps=20 http://127.0.0.1:5000/generate   # 202 {"task_id", "url"}
    curl http://127.0.0.1:5000/tasks/<task_id>                          # queued / running / done
    curl -X POST http://127.0.0.1:5000/tasks/<task_id>/cancel

The view never talks to ComfyUI: it checks the parameters against the workflow (no request is
sent), queues a Celery task and reads the task's state from the result backend.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from celery import Celery
from flask import Flask, current_app, jsonify, request, url_for

import comfykit_sync
from comfykit_sync import ComfyKit, ComfyKitError, ExecuteResult
from comfykit_sync.celery import PROGRESS, TASK_NAME, validate

#: The bundled example workflow (params: prompt!, width, height, negative, seed, steps, cfg).
WORKFLOW = os.environ.get(
    "COMFYKIT_WORKFLOW",
    str(Path(comfykit_sync.__file__).parent / "testing" / "workflows" / "text_to_image.json"),
)


def create_app(celery: Celery | None = None, **config: Any) -> Flask:
    """Build the app; ``celery`` defaults to the workers' app (``celery_app.worker.app``)."""
    if celery is None:
        from .worker import app as celery
    app = Flask(__name__)
    app.config.update(COMFYKIT_WORKFLOW=WORKFLOW, COMFYKIT_JOB_TIMEOUT=600.0)
    app.config.update(config)
    app.extensions["celery"] = celery
    kit = ComfyKit()  # only reads workflows here: it never connects to ComfyUI
    atexit.register(kit.close)
    app.extensions["comfykit"] = kit
    app.add_url_rule("/generate", view_func=generate, methods=["POST"])
    app.add_url_rule("/tasks/<task_id>", view_func=task_status, methods=["GET"])
    app.add_url_rule("/tasks/<task_id>/cancel", view_func=cancel, methods=["POST"])
    return app


def _celery() -> Celery:
    return current_app.extensions["celery"]


def generate() -> Any:
    """POST /generate: check the form against the workflow, queue the task, answer its id."""
    params = {k: v for k, v in request.form.items() if v != ""}
    workflow = current_app.config["COMFYKIT_WORKFLOW"]
    options = {"timeout": current_app.config["COMFYKIT_JOB_TIMEOUT"]}
    try:
        validate(workflow, [params], kit=current_app.extensions["comfykit"], **options)
    except ComfyKitError as exc:  # the caller's mistake: nothing was queued
        return jsonify({"status": "invalid", "message": str(exc)}), 400
    task = _celery().tasks[TASK_NAME].apply_async(args=(workflow, params), kwargs=options)
    location = url_for("task_status", task_id=task.id)
    return jsonify({"task_id": task.id, "status": "pending", "url": location}), 202


def task_status(task_id: str) -> Any:
    """GET /tasks/<id>: pending, queued (position), running (node, fraction) or the result."""
    task = _celery().AsyncResult(task_id)
    # state and payload from ONE read of the result backend: read apart (task.state, then
    # task.info) the task may finish in between, and a result would be read as progress
    meta = task.backend.get_task_meta(task.id)
    state, info = meta["status"], meta.get("result")
    if state == PROGRESS:  # submitted / queued (position) / running (node, value, max, fraction)
        progress = {k: v for k, v in info.items() if k != "state"}
        return jsonify({"task_id": task_id, "status": info["state"], **progress})
    if state == "SUCCESS":
        result = ExecuteResult.from_dict(info)
        payload = {"status": result.status, "images": result.images, "message": result.msg}
        return jsonify({"task_id": task_id, "prompt_id": result.prompt_id, **payload})
    if state == "REVOKED":
        return jsonify({"task_id": task_id, "status": "cancelled"})
    if state == "FAILURE":
        return jsonify({"task_id": task_id, "status": "error", "message": str(info)}), 500
    # PENDING: queued for a worker (Celery also says PENDING for ids it does not know)
    return jsonify({"task_id": task_id, "status": state.lower()})


def cancel(task_id: str) -> Any:
    """POST /tasks/<id>/cancel: revoke the task; the worker cancels its job on ComfyUI."""
    _celery().control.revoke(task_id, terminate=True)
    return jsonify({"task_id": task_id, "status": "cancelling"}), 202
