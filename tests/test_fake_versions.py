"""The fake ComfyUI plays servers that differ: a newer version (``/api/jobs``), other nodes and
other checkpoint files — with the real servers' shapes (spec/comfyui-server-2026.md)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests
from helpers import T2I

from comfykit_sync.testing import FakeComfyUI, Script

TIMEOUT = 5


def graph(**changes: Any) -> dict[str, Any]:
    prompt = json.loads(T2I.read_text())
    for key, value in changes.items():
        node, field = key.split("__")
        prompt[node]["inputs"][field] = value
    return prompt


def post(server: FakeComfyUI, path: str, body: Any = None) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=TIMEOUT)


def get(server: FakeComfyUI, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=TIMEOUT)


def until(condition: Any, what: str) -> None:
    for _ in range(500):  # bounded: 5 s
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_version_0_3_64_has_no_jobs_routes():
    with FakeComfyUI() as server:
        assert get(server, "/api/jobs").status_code == 404
        assert post(server, f"/api/jobs/{uuid.uuid4()}/cancel").status_code == 404
        assert get(server, "/system_stats").json()["system"]["comfyui_version"] == "0.3.64"
        assert set(get(server, "/features").json()) == {
            "supports_preview_metadata",
            "max_upload_size",
        }
        # any client prompt id is taken as is
        assert post(server, "/prompt", {"prompt": graph(), "prompt_id": "mine"}).ok


def test_a_newer_server_lists_and_describes_jobs():
    with FakeComfyUI(version="0.38.1", duration=5.0) as server:
        assert get(server, "/system_stats").json()["system"]["comfyui_version"] == "0.38.1"
        features = get(server, "/features").json()
        assert features["node_replacements"] is True and "max_upload_size" in features
        server.script(Script(duration=0.0))
        done = post(server, "/prompt", {"prompt": graph(), "extra_data": {"k": 1}}).json()
        until(lambda: done["prompt_id"] in get(server, "/history").json(), "the first job")
        running = post(server, "/prompt", {"prompt": graph(**{"6__text": "r"})}).json()
        running = running["prompt_id"]
        pending = post(server, "/prompt", {"prompt": graph(**{"6__text": "p"})}).json()
        pending = pending["prompt_id"]
        until(lambda: server.prompts[running].status == "running", "the second job to run")

        listing = get(server, "/api/jobs").json()
        statuses = {job["id"]: job["status"] for job in listing["jobs"]}
        assert statuses == {
            done["prompt_id"]: "completed",
            running: "in_progress",
            pending: "pending",
        }
        assert listing["pagination"] == {"offset": 0, "limit": None, "total": 3, "has_more": False}
        first = listing["jobs"][0]
        assert first["id"] == pending  # newest first
        assert isinstance(first["create_time"], int) and first["outputs_count"] == 0
        page = get(server, "/api/jobs?status=pending,in_progress&limit=1&sort_order=asc").json()
        assert [job["id"] for job in page["jobs"]] == [running]
        assert page["pagination"]["has_more"] is True and page["pagination"]["total"] == 2
        assert get(server, "/api/jobs?status=nope").status_code == 400
        assert get(server, "/api/jobs?limit=0").status_code == 400

        detail = get(server, f"/api/jobs/{done['prompt_id']}").json()
        assert detail["status"] == "completed" and detail["outputs_count"] == 1
        assert detail["preview_output"]["mediaType"] == "images"
        assert detail["workflow"]["prompt"]["9"]["class_type"] == "SaveImage"
        assert detail["workflow"]["extra_data"]["k"] == 1
        assert detail["execution_status"]["status_str"] == "success"
        assert "9" in detail["outputs"]
        assert get(server, f"/api/jobs/{pending}").json()["workflow"]["prompt"]
        assert get(server, f"/api/jobs/{uuid.uuid4()}").status_code == 404


def test_a_newer_server_cancels_jobs_by_id():
    with FakeComfyUI(version="0.38.1", duration=5.0) as server:
        running = post(server, "/prompt", {"prompt": graph()}).json()["prompt_id"]
        pending = post(server, "/prompt", {"prompt": graph()}).json()["prompt_id"]
        until(lambda: server.prompts[running].status == "running", "the job to run")
        assert post(server, f"/api/jobs/{pending}/cancel").json() == {"cancelled": True}
        assert server.prompts[pending].status == "deleted"
        assert post(server, f"/api/jobs/{running}/cancel").json() == {"cancelled": True}
        until(lambda: server.prompts[running].status == "interrupted", "the interruption")
        assert get(server, f"/api/jobs/{running}").json()["status"] == "cancelled"
        # idempotent: finished or unknown ids cancel nothing
        assert post(server, f"/api/jobs/{running}/cancel").json() == {"cancelled": False}
        assert post(server, f"/api/jobs/{uuid.uuid4()}/cancel").json() == {"cancelled": False}
        batch = post(server, "/api/jobs/cancel", {"job_ids": [running, "not-a-uuid"]})
        assert batch.status_code == 400 and batch.json()["invalid_ids"] == ["not-a-uuid"]
        assert post(server, "/api/jobs/cancel", {"job_ids": [running]}).json() == {
            "cancelled": False
        }


def test_a_newer_server_refuses_a_prompt_id_that_is_not_a_canonical_uuid():
    with FakeComfyUI(version="0.38.1") as server:
        for bad in ("mine", str(uuid.uuid4()).upper(), uuid.uuid4().hex):
            reply = post(server, "/prompt", {"prompt": graph(), "prompt_id": bad})
            assert reply.status_code == 400
            assert reply.json()["error"]["type"] == "invalid_prompt_id"
        good = str(uuid.uuid4())
        assert (
            post(server, "/prompt", {"prompt": graph(), "prompt_id": good}).json()["prompt_id"]
            == good
        )


def test_servers_with_other_nodes_and_checkpoints():
    with FakeComfyUI(missing_nodes=["VHS_VideoCombine"], checkpoints=["flux.safetensors"]) as s:
        info = get(s, "/object_info").json()
        assert "VHS_VideoCombine" not in info and "SaveImage" in info
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
            "flux.safetensors"
        ]
        assert get(s, "/object_info/VHS_VideoCombine").json() == {}
        refused = post(s, "/prompt", {"prompt": graph()}).json()  # asks for sd15
        errors = refused["node_errors"]["4"]["errors"]
        assert errors[0]["type"] == "value_not_in_list"
        assert post(s, "/prompt", {"prompt": graph(**{"4__ckpt_name": "flux.safetensors"})}).ok
        video = graph(**{"4__ckpt_name": "flux.safetensors"})
        video["11"] = {"class_type": "VHS_VideoCombine", "inputs": {"images": ["8", 0]}}
        error = post(s, "/prompt", {"prompt": video}).json()["error"]
        assert error["type"] == "invalid_prompt" and "VHS_VideoCombine" in error["message"]
    with pytest.raises(ValueError, match="NoSuchNode"):
        FakeComfyUI(missing_nodes=["NoSuchNode"])
