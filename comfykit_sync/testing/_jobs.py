"""The ``/api/jobs`` routes of ComfyUI servers newer than 0.3.64, for the fake server.

Shapes per ``spec/comfyui-server-2026.md``: a job is built from a queue item (``pending`` or
``in_progress``) or a history entry (``completed``, ``failed``, or ``cancelled`` when the
failure was an interruption); the list answers ``{jobs, pagination}``; one job adds
``outputs``, ``execution_status`` and ``workflow``. Keys whose value is ``None`` are left out,
as the real server prunes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
_PREVIEWABLE = frozenset({"images", "video", "audio", "3d", "text"})


def _pruned(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if value is not None}


def _metadata(extra_data: Mapping[str, Any]) -> tuple[Any, Any]:
    """(create_time, workflow_id) from a prompt's ``extra_data``."""
    pnginfo = extra_data.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, Mapping) else None
    workflow_id = workflow.get("id") if isinstance(workflow, Mapping) else None
    return extra_data.get("create_time"), workflow_id


def from_queue_item(item: Sequence[Any], status: str, *, detail: bool = False) -> dict[str, Any]:
    """A pending or running job from its ``[number, id, prompt, extra_data, outputs]`` item."""
    number, prompt_id, prompt, extra_data = item[0], item[1], item[2], item[3]
    create_time, workflow_id = _metadata(extra_data)
    job = _pruned(
        {
            "id": prompt_id,
            "status": status,
            "priority": number,
            "create_time": create_time,
            "outputs_count": 0,
            "previewable_outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )
    if detail:
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def _output_items(outputs: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(node id, media key, file record) of every file record in a history ``outputs``."""
    found = []
    for node_id, node_output in outputs.items():
        if not isinstance(node_output, Mapping):
            continue
        for key, values in node_output.items():
            if key == "animated" or not isinstance(values, list):
                continue
            found += [(str(node_id), key, v) for v in values if isinstance(v, dict)]
    return found


def from_history(
    prompt_id: str, entry: Mapping[str, Any], *, detail: bool = False
) -> dict[str, Any]:
    """A finished job from its history entry."""
    number, _, prompt, extra_data = entry["prompt"][:4]
    create_time, workflow_id = _metadata(extra_data)
    status_info = entry.get("status") or {}
    started = ended = error = None
    interrupted = False
    for name, data in status_info.get("messages") or []:
        if not isinstance(data, Mapping):
            continue
        if name == "execution_start":
            started = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            ended = data.get("timestamp")
            error = data if name == "execution_error" else error
            interrupted = interrupted or name == "execution_interrupted"
    if status_info.get("status_str") == "error":
        status = "cancelled" if interrupted else "failed"
    else:
        status = "completed"
    outputs = entry.get("outputs") or {}
    items = _output_items(outputs)
    previews = [(node, key, record) for node, key, record in items if key in _PREVIEWABLE]
    preview = None
    if previews:
        saved = [p for p in previews if p[2].get("type") == "output"]
        node, key, record = (saved or previews)[0]
        preview = {**record, "nodeId": node, "mediaType": key}
    job = _pruned(
        {
            "id": prompt_id,
            "status": status,
            "priority": number,
            "create_time": create_time,
            "execution_start_time": started,
            "execution_end_time": ended,
            "execution_error": error,
            "outputs_count": len(items),
            "previewable_outputs_count": len(previews),
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if detail:
        job["outputs"] = outputs
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def find(
    prompt_id: str,
    running: Sequence[Sequence[Any]],
    pending: Sequence[Sequence[Any]],
    history: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any] | None:
    """``GET /api/jobs/{id}``: the job in detail, ``None`` when the id is unknown."""
    if prompt_id in history:
        return from_history(prompt_id, history[prompt_id], detail=True)
    for items, status in ((running, "in_progress"), (pending, "pending")):
        for item in items:
            if item[1] == prompt_id:
                return from_queue_item(item, status, detail=True)
    return None


def listing(
    query: Mapping[str, str],
    running: Sequence[Sequence[Any]],
    pending: Sequence[Sequence[Any]],
    history: Mapping[str, Mapping[str, Any]],
) -> tuple[int, dict[str, Any]]:
    """``GET /api/jobs``: (HTTP status, body) for the query's filters, order and page."""
    wanted = [s.strip().lower() for s in query.get("status", "").split(",") if s.strip()]
    invalid = [s for s in wanted if s not in STATUSES]
    if invalid:
        message = f"Invalid status value(s): {', '.join(invalid)}. Valid values: "
        return 400, {"error": message + ", ".join(STATUSES)}
    sort_by = query.get("sort_by", "created_at").lower()
    sort_order = query.get("sort_order", "desc").lower()
    if sort_by not in ("created_at", "execution_duration"):
        return 400, {"error": "sort_by must be 'created_at' or 'execution_duration'"}
    if sort_order not in ("asc", "desc"):
        return 400, {"error": "sort_order must be 'asc' or 'desc'"}
    try:
        limit = int(query["limit"]) if "limit" in query else None
        offset = max(0, int(query.get("offset", 0)))
    except ValueError:
        return 400, {"error": "limit and offset must be integers"}
    if limit is not None and limit <= 0:
        return 400, {"error": "limit must be a positive integer"}
    jobs = [from_queue_item(item, "in_progress") for item in running]
    jobs += [from_queue_item(item, "pending") for item in pending]
    jobs += [from_history(pid, entry) for pid, entry in history.items()]
    if wanted:
        jobs = [job for job in jobs if job["status"] in wanted]
    if "workflow_id" in query:
        jobs = [job for job in jobs if job.get("workflow_id") == query["workflow_id"]]

    def key(job: dict[str, Any]) -> Any:
        if sort_by == "execution_duration":
            start, end = job.get("execution_start_time"), job.get("execution_end_time")
            return end - start if start and end else 0
        return job.get("create_time", 0)

    jobs.sort(key=key, reverse=sort_order == "desc")
    total = len(jobs)
    page = jobs[offset:] if limit is None else jobs[offset : offset + limit]
    pagination = {
        "offset": offset,
        "limit": limit,
        "total": total,
        "has_more": offset + len(page) < total,
    }
    return 200, {"jobs": page, "pagination": pagination}
