"""The Flask and Django examples (examples/) against the fake ComfyUI server."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from comfykit_sync import ComfyKit

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

pytest.importorskip("flask")
pytest.importorskip("django")

#: (method, path, form, accept) -> (status code, headers, body text)
Call = Callable[..., tuple[int, Any, str]]


@pytest.fixture
def flask_call(fake_comfyui) -> Iterator[Call]:
    from flask_app import create_app

    with ComfyKit(fake_comfyui.url, timeout=30) as kit:
        client = create_app(kit).test_client()

        def call(method: str, path: str, data: Any = None, accept: str = "text/html"):
            response = client.open(path, method=method, data=data, headers={"Accept": accept})
            return response.status_code, response.headers, response.get_data(as_text=True)

        yield call


@pytest.fixture(scope="module")
def django_env() -> Iterator[None]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")
    import django
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    setup_test_environment()  # allows the test client's "testserver" host
    yield
    teardown_test_environment()


@pytest.fixture
def django_call(django_env, fake_comfyui) -> Iterator[Call]:
    from django.test import Client, override_settings
    from django_app.kit import close_kit, get_kit

    close_kit()
    with override_settings(COMFYKIT={"comfyui_url": fake_comfyui.url, "timeout": 30}):
        assert get_kit().config.comfyui_url.startswith(fake_comfyui.url.rstrip("/"))
        client = Client()

        def call(method: str, path: str, data: Any = None, accept: str = "text/html"):
            send = client.post if method == "POST" else client.get
            response = send(path, data or {}, headers={"Accept": accept})
            return response.status_code, response.headers, response.content.decode()

        yield call
    close_kit()


@pytest.fixture(params=["flask", "django"])
def call(request) -> Call:
    return request.getfixturevalue(f"{request.param}_call")


def poll(call: Call, url: str, accept: str = "application/json") -> tuple[int, Any, str]:
    for _ in range(200):  # bounded: ~10 s
        status, headers, body = call("GET", url, accept=accept)
        if "pending" not in body and "running" not in body:
            return status, headers, body
        time.sleep(0.05)
    raise AssertionError(f"job at {url} did not finish")


def test_submit_poll_and_show_images_as_html(call, fake_comfyui):
    fake_comfyui.duration = 0.3
    status, headers, _ = call("POST", "/generate", {"prompt": "a cat", "steps": "12"})
    assert status == 303
    url = headers["Location"]
    job_id = url.rstrip("/").rsplit("/", 1)[-1]
    assert fake_comfyui.prompts[job_id]  # really queued on the server
    status, _, body = call("GET", url)
    assert status == 200 and ("pending" in body or "running" in body)
    status, _, body = poll(call, url, accept="text/html")
    assert status == 200 and "completed" in body
    assert body.count("<img ") >= 1 and "/view?" in body


def test_submit_and_poll_as_json(call, fake_comfyui):
    import json

    status, headers, body = call(
        "POST", "/generate", {"prompt": "a dog", "width": "256"}, accept="application/json"
    )
    assert status == 202, body
    data = json.loads(body)
    assert data["status"] == "pending" and headers["Location"] == data["url"]
    status, _, body = poll(call, data["url"])
    result = json.loads(body)
    assert status == 200 and result["status"] == "completed"
    assert result["job_id"] == data["job_id"] and result["images"]
    assert all("/view?" in url for url in result["images"])


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"width": "256"}, "prompt"),  # required parameter missing
        ({"prompt": "x", "width": "wide"}, "width"),  # not an int
        ({"prompt": "x", "colour": "red"}, "colour"),  # unknown parameter
    ],
)
def test_bad_params_are_a_400_with_the_message(call, fake_comfyui, form, expected):
    status, _, body = call("POST", "/generate", form)
    assert status == 400 and expected in body
    assert not fake_comfyui.prompts  # nothing was sent
    status, _, body = call("POST", "/generate", form, accept="application/json")
    assert status == 400 and expected in body and '"invalid"' in body


def test_unknown_job_id(call):
    status, _, body = call("GET", "/jobs/no-such-job")
    assert status == 404 and "unknown job" in body and "no-such-job" in body
    status, _, body = call("GET", "/jobs/..%2E")  # not a job id at all
    assert status == 404 and "unknown job" in body
    status, _, body = call("GET", "/jobs/no-such-job", accept="application/json")
    assert status == 404 and '"unknown"' in body
