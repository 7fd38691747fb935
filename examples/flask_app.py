"""Flask example: submit a ComfyUI workflow in one request, poll for its images in others.

Run it (with a ComfyUI server, or ``python -m comfykit_sync demo``'s fake one)::

    COMFYUI_BASE_URL=http://127.0.0.1:8188 flask --app examples/flask_app.py run

    curl -i -d prompt="a cat" -d steps=20 http://127.0.0.1:5000/generate   # 303 -> /jobs/<id>
    curl -H "Accept: application/json" http://127.0.0.1:5000/jobs/<id>

One :class:`ComfyKit` per process is shared by every request thread (it is thread-safe).
Requests never block for the whole job: ``/generate`` submits and returns at once, and
``/jobs/<id>`` re-attaches by id — so any worker process can answer it.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, request, url_for
from markupsafe import escape

import comfykit_sync
from comfykit_sync import ComfyKit, ComfyKitError, ExecutionTimeout, ParameterError

#: The bundled example workflow (params: prompt!, width, height, negative, seed, steps, cfg).
WORKFLOW = os.environ.get(
    "COMFYKIT_WORKFLOW",
    str(Path(comfykit_sync.__file__).parent / "testing" / "workflows" / "text_to_image.json"),
)


def create_app(kit: ComfyKit | None = None, **config: Any) -> Flask:
    """Build the app. Without ``kit`` one is created from config/env and closed at exit."""
    app = Flask(__name__)
    app.config.update(
        COMFYUI_BASE_URL=os.environ.get("COMFYUI_BASE_URL"),  # None: ComfyKit's default
        COMFYKIT_JOB_TIMEOUT=float(os.environ.get("COMFYKIT_JOB_TIMEOUT", "600")),
        COMFYKIT_QUEUE_TIMEOUT=float(os.environ.get("COMFYKIT_QUEUE_TIMEOUT", "120")),
        COMFYKIT_WAIT_TIMEOUT=2.0,  # a poll request waits at most this long for outputs
        COMFYKIT_WORKFLOW=WORKFLOW,
    )
    app.config.update(config)
    if kit is None:
        # api_key / cookies come from COMFYUI_API_KEY / COMFYUI_COOKIES: no secrets in code.
        kit = ComfyKit(app.config["COMFYUI_BASE_URL"], request_timeout=(5, 30))
        atexit.register(kit.close)
    app.extensions["comfykit"] = kit
    app.add_url_rule("/generate", view_func=generate, methods=["POST"])
    app.add_url_rule("/jobs/<job_id>", view_func=job_status, methods=["GET"])
    return app


def _kit() -> ComfyKit:
    return current_app.extensions["comfykit"]


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _reply(payload: dict[str, Any], status: int = 200) -> Response | tuple[Any, int]:
    """JSON for API clients, a tiny HTML page for browsers."""
    if _wants_json():
        return jsonify(payload), status
    parts = [f"<h1>Job {escape(payload.get('job_id', ''))}: {escape(payload['status'])}</h1>"]
    if payload.get("message"):
        parts.append(f"<p class='error'>{escape(payload['message'])}</p>")
    parts += [f'<img src="{escape(url)}" alt="output">' for url in payload.get("images", [])]
    if payload["status"] in ("pending", "running"):
        parts.insert(0, '<meta http-equiv="refresh" content="2">')
    return Response("\n".join(parts), status=status, mimetype="text/html")


def generate() -> Any:
    """POST /generate: validate the form, submit the workflow, answer with the job id."""
    params = {k: v for k, v in request.form.items() if v != ""}
    cfg = current_app.config
    try:
        job = _kit().submit(
            cfg["COMFYKIT_WORKFLOW"],
            params,
            timeout=cfg["COMFYKIT_JOB_TIMEOUT"],
            queue_timeout=cfg["COMFYKIT_QUEUE_TIMEOUT"],
            on_timeout="detach",
        )
    except ComfyKitError as exc:  # raised before sending: the caller's mistake
        return _reply({"status": "invalid", "message": str(exc)}, 400)
    if job.done() and not job.result().ok:  # failed at once: server unreachable, rejected, ...
        result = job.result()
        return _reply({"job_id": job.prompt_id, "status": "failed", "message": result.msg}, 502)
    location = url_for("job_status", job_id=job.prompt_id)
    if _wants_json():
        payload = {"job_id": job.prompt_id, "status": "pending", "url": location}
        return jsonify(payload), 202, {"Location": location}
    return redirect(location, code=303)


def _unknown_job(job_id: str) -> Response | tuple[Any, int]:
    message = f"unknown job {job_id!r}: the ComfyUI server does not know it"
    return _reply({"job_id": job_id, "status": "unknown", "message": message}, 404)


def job_status(job_id: str) -> Any:
    """GET /jobs/<id>: where the job is; its images once it has finished."""
    try:
        job = _kit().job(job_id, current_app.config["COMFYKIT_WORKFLOW"])
        state = job.status()
        if state.state == "unknown":
            return _unknown_job(job_id)
        if not state.finished:  # pending or running
            payload = {"job_id": job_id, "status": state.state, "position": state.position}
            return _reply(payload)
        result = job.wait(timeout=current_app.config["COMFYKIT_WAIT_TIMEOUT"])
    except ParameterError:  # not a job id at all, e.g. ".."
        return _unknown_job(job_id)
    except ExecutionTimeout:  # outputs not readable yet: the client polls again
        return _reply({"job_id": job_id, "status": "running"})
    except ComfyKitError as exc:  # e.g. the ComfyUI server is unreachable
        return _reply({"job_id": job_id, "status": "error", "message": str(exc)}, 502)
    return _reply(
        {
            "job_id": job_id,
            "status": result.status,
            "images": result.images,
            "message": result.msg,
        }
    )
