"""Views: submit a workflow and return at once; poll the job by id in later requests."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET, require_POST

from comfykit_sync import ComfyKitError, ExecutionTimeout, ParameterError

from .kit import get_kit


def _wants_json(request: HttpRequest) -> bool:
    return request.accepts("application/json") and not request.accepts("text/html")


def _reply(request: HttpRequest, payload: dict[str, Any], status: int = 200) -> HttpResponse:
    """JSON for API clients, a tiny HTML page for browsers."""
    if _wants_json(request):
        return JsonResponse(payload, status=status)
    html = format_html("<h1>Job {}: {}</h1>", payload.get("job_id") or "", payload["status"])
    if payload["status"] in ("pending", "running"):
        html = format_html('<meta http-equiv="refresh" content="2">{}', html)
    if payload.get("message"):
        html += format_html("\n<p class='error'>{}</p>", payload["message"])
    html += format_html_join(
        "", '\n<img src="{}" alt="output">', ((url,) for url in payload.get("images", []))
    )
    return HttpResponse(html, status=status)


@require_POST
def generate(request: HttpRequest) -> HttpResponse:
    """POST /generate: validate the form, submit the workflow, answer with the job id."""
    params = {k: v for k, v in request.POST.items() if v != "" and k != "csrfmiddlewaretoken"}
    try:
        job = get_kit().submit(
            settings.COMFYKIT_WORKFLOW,
            params,
            timeout=settings.COMFYKIT_JOB_TIMEOUT,
            queue_timeout=settings.COMFYKIT_QUEUE_TIMEOUT,
            on_timeout="detach",
        )
    except ComfyKitError as exc:  # raised before sending: the caller's mistake
        return _reply(request, {"status": "invalid", "message": str(exc)}, 400)
    if job.done() and not job.result().ok:  # failed at once: server unreachable, rejected, ...
        payload = {"job_id": job.prompt_id, "status": "failed", "message": job.result().msg}
        return _reply(request, payload, 502)
    location = reverse("job-status", args=[job.prompt_id])
    if _wants_json(request):
        payload = {"job_id": job.prompt_id, "status": "pending", "url": location}
        response = JsonResponse(payload, status=202)
        response["Location"] = location
        return response
    return HttpResponseRedirect(location, status=303)


def _unknown_job(request: HttpRequest, job_id: str) -> HttpResponse:
    message = f"unknown job {job_id!r}: the ComfyUI server does not know it"
    return _reply(request, {"job_id": job_id, "status": "unknown", "message": message}, 404)


@require_GET
def job_status(request: HttpRequest, job_id: str) -> HttpResponse:
    """GET /jobs/<id>: where the job is; its images once it has finished."""
    try:
        job = get_kit().job(job_id, settings.COMFYKIT_WORKFLOW)
        state = job.status()
        if state.state == "unknown":
            return _unknown_job(request, job_id)
        if not state.finished:  # pending or running
            payload = {"job_id": job_id, "status": state.state, "position": state.position}
            return _reply(request, payload)
        result = job.wait(timeout=settings.COMFYKIT_WAIT_TIMEOUT)
    except ParameterError:  # not a job id at all, e.g. ".."
        return _unknown_job(request, job_id)
    except ExecutionTimeout:  # outputs not readable yet: the client polls again
        return _reply(request, {"job_id": job_id, "status": "running"})
    except ComfyKitError as exc:  # e.g. the ComfyUI server is unreachable
        return _reply(request, {"job_id": job_id, "status": "error", "message": str(exc)}, 502)
    payload = {"job_id": job_id, "status": result.status, "images": result.images}
    payload["message"] = result.msg
    return _reply(request, payload)
