"""examples/celery_app: the Flask view and a real worker (``celery -A celery_app.worker``) on a
real redis-server, against the fake ComfyUI."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_support import Worker

from comfykit_sync.celery import prompt_id_for
from comfykit_sync.testing import Script

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

from celery_app.web import create_app  # noqa: E402
from celery_app.worker import make_celery  # noqa: E402


@pytest.fixture
def client(redis_url, fake_comfyui) -> Iterator[Any]:
    env = {"CELERY_BROKER_URL": redis_url, "COMFYUI_BASE_URL": fake_comfyui.url}
    worker = Worker("celery_app.worker", env, name="example", cwd=EXAMPLES).wait_ready()
    celery = make_celery(redis_url)
    try:
        yield create_app(celery).test_client()
    finally:
        worker.stop()
        celery.close()


def poll(client, url: str, *, until: tuple[str, ...]) -> dict[str, Any]:
    for _ in range(1500):  # bounded: ~15 s
        body = client.get(url).get_json()
        if body["status"] in until:
            return body
        time.sleep(0.01)
    raise AssertionError(f"{url} never reached {until}: {body}")


def test_enqueue_then_poll_until_the_images(client, fake_comfyui):
    reply = client.post("/generate", data={"prompt": "a cat", "steps": "4"})
    assert reply.status_code == 202
    task = reply.get_json()
    body = poll(client, task["url"], until=("completed", "failed"))
    assert body["status"] == "completed" and len(body["images"]) == 1
    assert body["prompt_id"] == prompt_id_for(task["task_id"])
    assert fake_comfyui.prompts[body["prompt_id"]].submit_count == 1


def test_a_bad_parameter_is_refused_before_anything_is_queued(client, fake_comfyui):
    reply = client.post("/generate", data={"prompt": "a cat", "steps": "many"})
    assert reply.status_code == 400 and "steps" in reply.get_json()["message"]
    assert not fake_comfyui.prompts


def test_cancel_stops_the_job_on_comfyui(client, fake_comfyui):
    fake_comfyui.script(Script(duration=60))
    task = client.post("/generate", data={"prompt": "a long one"}).get_json()
    running = poll(client, task["url"], until=("running",))
    assert running["prompt_id"] == prompt_id_for(task["task_id"])
    assert client.post(f"/tasks/{task['task_id']}/cancel").status_code == 202
    poll(client, task["url"], until=("cancelled",))
    for _ in range(1500):  # bounded: the worker cancels the job on the server
        if fake_comfyui.prompts[running["prompt_id"]].status == "interrupted":
            break
        time.sleep(0.01)
    assert fake_comfyui.prompts[running["prompt_id"]].status == "interrupted"
