"""A caller-chosen prompt id (``submit(prompt_id=...)``) and ``kit.job(on_timeout=...)``."""

from __future__ import annotations

import time
import uuid

import pytest
from helpers import T2I

from comfykit_sync import ComfyKit, ConfigurationError, ExecutionTimeout, ParameterError


@pytest.fixture
def kit(fake_comfyui):
    with ComfyKit(fake_comfyui.url, timeout=30) as kit:
        yield kit


@pytest.mark.parametrize("executor", ["http", "websocket"])
def test_the_job_runs_under_the_chosen_id(fake_comfyui, executor):
    chosen = f"task-{uuid.uuid4()}"
    with ComfyKit(fake_comfyui.url, executor_type=executor, timeout=30) as kit:
        result = kit.execute(T2I, {"prompt": "mine"}, prompt_id=chosen)
        assert result.ok and result.prompt_id == chosen
        assert kit.job(chosen, T2I).result().texts == ["mine"]
    record = fake_comfyui.prompts[chosen]
    assert record.submit_count == 1 and record.status == "success"


@pytest.mark.parametrize(
    "bad", ["", "../x", "a/b", "..", ".", "a b", "a?b=c", "ä", "x" * 129, 123, b"abc"]
)
def test_a_bad_prompt_id_is_refused_before_anything_is_sent(kit, fake_comfyui, bad):
    with pytest.raises(ParameterError, match="prompt_id") as info:
        kit.submit(T2I, {"prompt": "x"}, prompt_id=bad)
    assert info.value.params == ("prompt_id",)
    assert not fake_comfyui.requests and not fake_comfyui.prompts


def test_url_safe_ids_are_accepted(kit, fake_comfyui):
    for chosen in ("A-z_0.9~", "x" * 128, str(uuid.uuid5(uuid.NAMESPACE_URL, "t"))):
        assert kit.execute(T2I, {"prompt": "x"}, prompt_id=chosen).prompt_id == chosen
    assert len(fake_comfyui.prompts) == 3


def test_reattach_can_cancel_at_its_timeout(kit, fake_comfyui):
    fake_comfyui.duration = 30
    job = kit.submit(T2I, {"prompt": "long"}, on_timeout="detach")
    for _ in range(500):  # bounded: the job must start within a few seconds
        if job.status().state == "running":
            break
        time.sleep(0.01)
    result = kit.job(job.prompt_id, T2I, timeout=0.3, on_timeout="cancel").result()
    assert isinstance(result.error, ExecutionTimeout) and result.error.cancelled
    for _ in range(500):  # bounded: the server stops the interrupted job soon after
        if fake_comfyui.prompts[job.prompt_id].status == "interrupted":
            break
        time.sleep(0.01)
    assert fake_comfyui.prompts[job.prompt_id].status == "interrupted"


def test_reattach_refuses_a_bad_on_timeout(kit):
    with pytest.raises(ConfigurationError, match="on_timeout"):
        kit.job("abc", on_timeout="later")
