"""``comfykit_sync.celery`` pieces in one process: the import boundary, options, deadlines, the
worker kit, and the task run eagerly (``Task.apply``) against the fake ComfyUI.

What needs real workers and a real broker — fan-out, crashes, revoke, progress, time limits — is
in test_celery_workers.py.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from celery import Celery
from celery_support import free_port
from helpers import T2I

from comfykit_sync import (
    ComfyKit,
    ConfigurationError,
    ExecuteResult,
    ParameterError,
    ServerError,
    TransportError,
)
from comfykit_sync.celery import (
    PROGRESS,
    close_worker_kit,
    execute_workflow,
    prompt_id_for,
    set_kit_factory,
    validate,
    worker_kit,
)
from comfykit_sync.celery._deadline import job_timeout
from comfykit_sync.testing import Script


def test_importing_comfykit_sync_never_imports_celery():
    code = (
        "import sys, comfykit_sync, comfykit_sync.client, comfykit_sync.models, "
        "comfykit_sync.cli, comfykit_sync.testing.pytest_plugin\n"
        "from comfykit_sync import ComfyKit, ExecuteResult\n"
        "ExecuteResult.from_dict(ExecuteResult(status='completed').to_dict())\n"
        "queue_libs = ('celery', 'kombu', 'billiard', 'redis')\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in queue_libs)\n"
        "assert not leaked, leaked\n"
        "import comfykit_sync.celery\n"
        "assert 'celery' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_prompt_id_is_a_stable_uuid_of_the_task_id():
    first = prompt_id_for("7c9e6679-7425-40de-944b-e07fc1f90ae7")
    assert first == prompt_id_for("7c9e6679-7425-40de-944b-e07fc1f90ae7")
    assert first != prompt_id_for("7c9e6679-7425-40de-944b-e07fc1f90ae8")
    assert uuid.UUID(first).version == 5
    assert prompt_id_for("order-42") == "d4b09506-d1f9-5719-bd0c-4b6b5efcabb2"  # fixed forever


def test_options_are_checked_before_anything_is_queued():
    validate(str(T2I), timeout=60, queue_timeout=5, on_timeout="detach", backend="comfyui-ws")
    with pytest.raises(ConfigurationError, match="timout"):
        validate(str(T2I), timout=60)
    with pytest.raises(ConfigurationError, match="prompt_id"):
        validate(str(T2I), prompt_id="mine")


def test_with_a_kit_every_parameter_set_is_checked(fake_comfyui):
    with ComfyKit(fake_comfyui.url) as kit:
        validate(str(T2I), [{"prompt": "a"}, {"prompt": "b", "steps": 3}], kit=kit)
        with pytest.raises(ParameterError, match="parameter set 1: .*nope") as info:
            validate(str(T2I), [{"prompt": "a"}, {"prompt": "b", "nope": 1}], kit=kit)
    assert info.value.params == ("nope",)
    assert not fake_comfyui.requests  # nothing was sent anywhere


def _task(*, timelimit=None, expires=None, time_limit=None, soft=None, conf_soft=None):
    request = SimpleNamespace(timelimit=timelimit, expires=expires)
    conf = SimpleNamespace(task_time_limit=None, task_soft_time_limit=conf_soft)
    return SimpleNamespace(
        request=request, time_limit=time_limit, soft_time_limit=soft, app=SimpleNamespace(conf=conf)
    )


def test_task_deadlines_become_the_job_timeout():
    assert job_timeout(_task(), None) is None
    assert job_timeout(_task(), 120) == 120
    assert job_timeout(_task(timelimit=(None, 50)), None) == 45  # a tenth of it to spare
    assert job_timeout(_task(timelimit=(50, 600)), 1000) == 45  # the hard limit first
    assert job_timeout(_task(timelimit=(None, 5)), 60) == 4  # at least a second to spare
    assert job_timeout(_task(timelimit=(None, 1)), None) == 0.5  # at most half of it
    assert job_timeout(_task(time_limit=1000), None) == 990  # at most 10 s to spare
    assert job_timeout(_task(conf_soft=30), 200) == 27  # app-wide limits count too
    soon = (datetime.now(timezone.utc) + timedelta(seconds=50)).isoformat()
    assert 45 < job_timeout(_task(expires=soon), 600) <= 50
    assert job_timeout(_task(expires=soon), 10) == 10
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    assert job_timeout(_task(expires=past), None) < 0
    assert job_timeout(_task(timelimit=(None, 100)), "soon") == "soon"  # the kit refuses it


def test_the_worker_kit_is_built_once_by_the_factory_and_closed(fake_comfyui):
    built: list[ComfyKit] = []

    def factory() -> ComfyKit:
        built.append(ComfyKit(fake_comfyui.url))
        return built[-1]

    set_kit_factory(factory)
    try:
        assert worker_kit() is worker_kit() is built[0]
        close_worker_kit()
        assert built[0]._closed
        assert worker_kit() is built[1]
        set_kit_factory(lambda: "not a kit")  # closes the kit the old factory built
        assert built[1]._closed
        with pytest.raises(ConfigurationError, match="not a ComfyKit"):
            worker_kit()
        with pytest.raises(ConfigurationError, match="callable"):
            set_kit_factory("http://127.0.0.1:8188")  # type: ignore[arg-type]
    finally:
        set_kit_factory(None)


def test_without_a_factory_the_kit_comes_from_the_environment(fake_comfyui, monkeypatch):
    monkeypatch.setenv("COMFYUI_BASE_URL", fake_comfyui.url)
    monkeypatch.setenv("COMFYUI_EXECUTOR_TYPE", "websocket")
    set_kit_factory(None)  # whatever an earlier test registered
    try:
        kit = worker_kit()
        assert kit.config.comfyui_url.startswith(fake_comfyui.url)
        assert kit.config.executor_type == "websocket"
    finally:
        close_worker_kit()


@pytest.fixture
def eager(fake_comfyui):
    """A Celery app with an in-memory result backend; tasks run in this process (apply)."""
    app = Celery("unit", broker="memory://", backend="cache+memory://")
    app.set_current()
    set_kit_factory(lambda: ComfyKit(fake_comfyui.url, timeout=30))
    yield app
    set_kit_factory(None)
    app.close()


def run(task_id: str, params: dict, **options) -> ExecuteResult:
    res = execute_workflow.apply(args=(str(T2I), params), kwargs=options, task_id=task_id)
    return ExecuteResult.from_dict(res.get())


def test_the_task_runs_the_job_under_the_derived_prompt_id(eager, fake_comfyui):
    result = run("task-1", {"prompt": "hello"})
    assert result.ok and result.texts == ["hello"]
    assert result.prompt_id == prompt_id_for("task-1")
    assert fake_comfyui.prompts[result.prompt_id].submit_count == 1


def test_a_redelivered_task_re_attaches_instead_of_submitting_again(eager, fake_comfyui):
    fake_comfyui.duration = 0.3
    with ComfyKit(fake_comfyui.url) as kit:  # the attempt whose worker then died
        earlier = kit.submit(T2I, {"prompt": "once"}, prompt_id=prompt_id_for("task-2"))
    result = run("task-2", {"prompt": "once"})
    assert result.ok and result.texts == ["once"] and result.prompt_id == earlier.prompt_id
    assert len(fake_comfyui.prompts) == 1
    assert fake_comfyui.prompts[earlier.prompt_id].submit_count == 1
    again = run("task-2", {"prompt": "once"})  # a finished job is found in the history too
    assert again.ok and fake_comfyui.prompts[earlier.prompt_id].submit_count == 1


def test_the_prompt_id_an_earlier_attempt_stored_is_looked_up_too(eager, fake_comfyui):
    """For jobs whose id the server chose (an older ComfyUI, a cloud backend)."""
    with ComfyKit(fake_comfyui.url) as kit:
        earlier = kit.submit(T2I, {"prompt": "theirs"})
    eager.backend.store_result("task-3", {"prompt_id": earlier.prompt_id}, PROGRESS)
    result = run("task-3", {"prompt": "theirs"})
    assert result.prompt_id == earlier.prompt_id and result.texts == ["theirs"]
    assert prompt_id_for("task-3") not in fake_comfyui.prompts


def test_a_failed_job_is_returned_as_a_failed_result(eager, fake_comfyui):
    fake_comfyui.script(Script(error_node="3", error_message="no VRAM"))
    result = run("task-4", {"prompt": "x"})
    assert result.status == "failed" and "no VRAM" in result.msg
    assert result.prompt_id == prompt_id_for("task-4")


def test_a_callers_mistake_raises_in_the_task(eager, fake_comfyui):
    res = execute_workflow.apply(args=(str(T2I), {"nope": 1}), task_id="task-5")
    assert res.state == "FAILURE" and isinstance(res.result, ParameterError)
    res = execute_workflow.apply(args=(str(T2I), {"prompt": "x"}), kwargs={"prompt_id": "mine"})
    assert res.state == "FAILURE" and isinstance(res.result, ConfigurationError)
    assert not fake_comfyui.prompts


def test_an_unreachable_server_is_retried_then_reported_as_a_failed_result(eager):
    port = free_port()  # nothing listens there
    set_kit_factory(lambda: ComfyKit(f"http://127.0.0.1:{port}", request_timeout=(1, 1)))
    res = execute_workflow.apply(args=(str(T2I), {"prompt": "x"}), task_id="task-6")
    result = ExecuteResult.from_dict(res.get())
    assert res.state == "SUCCESS" and result.status == "failed"
    assert isinstance(result.error, TransportError) and result.error.sent is False
    assert res.task_id == "task-6" and execute_workflow.max_retries == 5


def test_a_submit_that_keeps_failing_ends_as_the_kits_failed_result(eager, fake_comfyui):
    fake_comfyui.fault("status", "/prompt", times=100, status=503)  # nothing is ever queued
    result = run("task-7", {"prompt": "x", "seed": 5})
    assert result.status == "failed" and isinstance(result.error, ServerError)
    assert result.seeds == {"3": 5}  # the result the kit built for the last attempt
    posts = [r for r in fake_comfyui.requests if r.method == "POST" and r.path == "/prompt"]
    assert len(posts) >= 1 + execute_workflow.max_retries  # the first attempt and each retry
    assert not fake_comfyui.prompts
