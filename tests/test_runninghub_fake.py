"""The fake RunningHub speaks the protocol of runninghub-protocol.md (raw HTTP, no SDK)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import requests

from comfykit_sync.testing.fake_runninghub import FakeRunningHub, OutputFile, TaskScript

KEY = "k"
GRAPH = {
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat"}, "_meta": {"title": "$p"}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["6", 0]}, "_meta": {"title": "out"}},
    "10": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}, "_meta": {"title": "t"}},
}
pytestmark = pytest.mark.fake_runninghub(api_key=KEY, key_errors={"free": 801})


@pytest.fixture
def hub(fake_runninghub):
    return fake_runninghub


def post(hub, path, **fields):
    reply = requests.post(hub.url + path, json={"apiKey": KEY, **fields}, timeout=5)
    assert reply.status_code == 200
    return reply.json()


def create(hub, **fields):
    return post(hub, "/task/openapi/create", workflowId=hub.add_workflow(GRAPH), **fields)


def until_done(hub, task_id):
    for _ in range(500):  # bounded: 5 s
        state = post(hub, "/task/openapi/status", taskId=task_id)["data"]
        if state in ("SUCCESS", "FAILED"):
            return state
        time.sleep(0.01)
    raise AssertionError("the task did not finish")


def test_workflow_json_is_a_string_inside_json(hub):
    workflow_id = hub.add_workflow(GRAPH)
    assert len(workflow_id) == 19
    reply = post(hub, "/api/openapi/getJsonApiFormat", workflowId=workflow_id)
    assert reply["code"] == 0 and json.loads(reply["data"]["prompt"]) == GRAPH


@pytest.mark.fake_runninghub(api_key=KEY, queue_time=0.2, run_time=0.2)
def test_task_lifecycle_and_outputs(hub):
    reply = create(hub, nodeInfoList=[{"nodeId": "6", "fieldName": "text", "fieldValue": "fox"}])
    data = reply["data"]
    assert data["taskStatus"] == "QUEUED" and json.loads(data["promptTips"])["node_errors"] == {}
    task_id = data["taskId"]
    assert post(hub, "/task/openapi/outputs", taskId=task_id)["code"] == 813
    assert until_done(hub, task_id) == "SUCCESS"
    items = post(hub, "/task/openapi/outputs", taskId=task_id)["data"]
    assert [(i["nodeId"], i["fileType"]) for i in items] == [("9", "png"), ("10", "txt")]
    assert all(i["fileUrl"].startswith(hub.cdn_url) for i in items)
    assert requests.get(items[1]["fileUrl"], timeout=5).text == "fox"  # the override applied
    hub.expire_outputs()
    assert requests.get(items[0]["fileUrl"], timeout=5).status_code == 403
    assert hub.tasks[task_id].node_info_list[0]["fieldValue"] == "fox"


@pytest.mark.fake_runninghub(api_key=KEY, run_time=5)
def test_running_cancel_and_failure(hub):
    task_id = create(hub)["data"]["taskId"]
    assert post(hub, "/task/openapi/outputs", taskId=task_id)["code"] == 804
    assert post(hub, "/task/openapi/cancel", taskId=task_id)["code"] == 0
    assert post(hub, "/task/openapi/status", taskId=task_id)["data"] == "FAILED"
    reply = post(hub, "/task/openapi/outputs", taskId=task_id)
    assert reply["code"] == 805 and "cancelled" in reply["data"]["failedReason"]
    hub.script(TaskScript(run_time=0, failed_reason={"node_id": "6"}))
    failed = create(hub)["data"]["taskId"]
    assert post(hub, "/task/openapi/outputs", taskId=failed)["data"]["failedReason"] == {
        "node_id": "6"
    }


def test_scripted_outputs_status_and_prompt_tips(hub):
    hub.script(
        TaskScript(
            outputs=[OutputFile("9", "mp4", b"v", name="clip.mp4")],
            node_errors={"9": {"errors": []}},
            status_text="",
            run_time=0.1,
        )
    )
    data = create(hub)["data"]
    assert json.loads(data["promptTips"])["node_errors"] == {"9": {"errors": []}}
    assert post(hub, "/task/openapi/status", taskId=data["taskId"])["data"] == ""
    assert until_done(hub, data["taskId"]) == "SUCCESS"
    [item] = post(hub, "/task/openapi/outputs", taskId=data["taskId"])["data"]
    assert item["fileUrl"].split("?")[0].endswith("/clip.mp4")


@pytest.mark.fake_runninghub(api_key=KEY, numeric_ids=True)
def test_numeric_ids_are_sent_as_json_numbers(hub):
    reply = requests.post(
        hub.url + "/task/openapi/create",
        json={"apiKey": KEY, "workflowId": hub.add_workflow(GRAPH)},
        timeout=5,
    )
    assert '"taskId": 1960011122233344455' in reply.text


@pytest.mark.parametrize(
    ("path", "fields", "code"),
    [
        ("/task/openapi/create", {"apiKey": "wrong"}, 802),
        ("/task/openapi/create", {"apiKey": "free"}, 801),
        ("/task/openapi/create", {"workflowId": "1"}, 380),
        (
            "/task/openapi/create",
            {"nodeInfoList": [{"nodeId": "99", "fieldName": "text", "fieldValue": 1}]},
            803,
        ),
        (
            "/task/openapi/create",
            {"nodeInfoList": [{"nodeId": "6", "fieldName": "text", "fieldValue": 1, "x": 1}]},
            803,
        ),
        (
            "/task/openapi/create",
            {"nodeInfoList": [{"nodeId": "6", "fieldName": "nope", "fieldValue": 1}]},
            803,
        ),
        ("/task/openapi/status", {"taskId": "1"}, 807),
        ("/task/openapi/outputs", {"taskId": "1"}, 807),
        ("/task/openapi/cancel", {"taskId": "1"}, 807),
        ("/api/openapi/getJsonApiFormat", {"workflowId": "1"}, 380),
    ],
)
def test_error_codes(hub, path, fields, code):
    body = {"apiKey": KEY, "workflowId": hub.add_workflow(GRAPH), **fields}
    reply = requests.post(hub.url + path, json=body, timeout=5).json()
    assert reply["code"] == code and reply["msg"] and reply["data"] is None


def test_not_json_is_params_invalid(hub):
    reply = requests.post(hub.url + "/task/openapi/create", data=b"{", timeout=5).json()
    assert reply["code"] == 301


@pytest.mark.fake_runninghub(api_key=KEY, concurrency=1, run_time=5, coins=2)
def test_concurrency_and_balance(hub):
    assert create(hub)["code"] == 0
    assert create(hub)["code"] == 421  # one task is still running
    hub.tasks[next(iter(hub.tasks))].cancelled = True
    assert create(hub)["code"] == 0
    hub.tasks[list(hub.tasks)[-1]].cancelled = True
    assert create(hub)["code"] == 812  # two coins, two tasks


@pytest.mark.fake_runninghub(api_key=KEY, max_upload_size=10)
def test_upload(hub):
    def upload(content):
        files = {"file": ("a b.PNG", content, "image/png")}
        reply = requests.post(
            hub.url + "/task/openapi/upload", data={"apiKey": KEY}, files=files, timeout=5
        )
        return reply.json()

    data = upload(b"\x89PNG\r\n\r\n--")["data"]
    assert data["fileName"].startswith("api/") and data["fileName"].endswith(".png")
    assert hub.uploads[data["fileName"]] == b"\x89PNG\r\n\r\n--"
    assert upload(b"x" * 11)["code"] == 809


def test_faults(hub):
    hub.respond("/task/openapi/create", 433, msg="bad prompt")
    assert create(hub) == {"code": 433, "msg": "bad prompt", "data": None}
    hub.fail_requests("/task/openapi/create", status=502, process=True)
    body = {"apiKey": KEY, "workflowId": hub.add_workflow(GRAPH)}
    reply = requests.post(hub.url + "/task/openapi/create", json=body, timeout=5)
    assert reply.status_code == 502 and len(hub.tasks) == 1  # refused, yet created
    hub.fail_requests("/task/openapi/status", status=200, body="<html>")
    reply = requests.post(hub.url + "/task/openapi/status", json={}, timeout=5)
    assert reply.text == "<html>"
    hub.delay_requests("/task/openapi/create", 2)
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            hub.url + "/task/openapi/create",
            json={"apiKey": KEY, "workflowId": hub.add_workflow(GRAPH)},
            timeout=(2, 0.2),
        )
    for _ in range(200):  # bounded: the delayed request took effect
        if len(hub.tasks) == 2:
            break
        time.sleep(0.01)
    assert len(hub.tasks) == 2
    with pytest.raises(ValueError):
        hub.respond("/x", 1, times=0)


def test_respond_and_the_shared_faults_are_one_ordered_list(hub):
    """``respond`` is a ``status`` fault with RunningHub's envelope: it queues up with the
    faults every fake has, the first for a path applying first."""
    create_path = "/task/openapi/create"
    hub.respond(create_path, 421)
    hub.fault("reset", create_path)  # the task is created, its reply cut off
    hub.fault("status", "*", status=503, body={"error": "upstream"}, seconds=0.01)
    assert [f.path for f in hub.pending_faults] == [create_path, create_path, "*"]
    assert create(hub)["code"] == 421 and hub.tasks == {}
    with pytest.raises(requests.RequestException):
        create(hub)
    assert len(hub.tasks) == 1
    late = requests.post(hub.url + "/task/openapi/status", json={"apiKey": KEY}, timeout=5)
    assert (late.status_code, late.json()) == (503, {"error": "upstream"})
    hub.respond(create_path, 812, times=5)
    hub.clear_faults()
    assert create(hub)["code"] == 0 and len(hub.tasks) == 2


def test_requests_are_recorded_with_bodies_per_port(hub):
    url = hub.add_cdn_file("media/a.txt", b"hello")
    assert requests.get(url, timeout=5).content == b"hello"
    assert requests.get(hub.cdn_url + "/files/none", timeout=5).status_code == 404
    create(hub)
    [record] = hub.requests
    assert record.path == "/task/openapi/create" and record.json()["apiKey"] == KEY
    assert [r.path for r in hub.cdn_requests] == ["/files/media/a.txt", "/files/none"]


def test_lifecycle_errors():
    server = FakeRunningHub()
    with pytest.raises(RuntimeError):
        server.url  # noqa: B018 - not started
    with server:
        with pytest.raises(RuntimeError):
            server.start()
    server.stop()  # idempotent


def test_command_line_prints_url_and_workflows():
    proc = subprocess.Popen(
        [sys.executable, "-m", "comfykit_sync.testing.fake_runninghub", "--api-key", KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    try:
        url = proc.stdout.readline().strip()
        workflow_id, path = proc.stdout.readline().split()
        reply = requests.post(
            url + "/api/openapi/getJsonApiFormat",
            json={"apiKey": KEY, "workflowId": workflow_id},
            timeout=5,
        ).json()
        assert reply["code"] == 0 and path.endswith(".json")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        watchdog.cancel()
