"""A conformance suite for backends: subclass :class:`BackendConformance` in your tests.

It runs a backend through submit / wait / result / cancel / timeout / failed job / upload /
events / a caller-chosen prompt id against a real (fake) server and checks the ``ExecuteResult``
contract. A subclass sets ``backend_name`` and provides two fixtures::

    class TestMyBackend(BackendConformance):
        backend_name = "my-backend"

        @pytest.fixture
        def conformance_kit(self, my_fake_server):
            with ComfyKit(...) as kit:          # a kit able to run the backend
                yield kit

        @pytest.fixture
        def conformance_controls(self, my_fake_server):
            return MyControls(my_fake_server)   # has set_duration() and fail_next()

Override ``conformance_workflow`` / ``conformance_upload_workflow`` when the backend takes its
workflows from elsewhere (the defaults are the bundled ``text_to_image.json`` with a required
``prompt`` parameter and ``image_to_image.json`` with an upload parameter ``image``).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest

from .. import (
    ComfyKit,
    ConfigurationError,
    ExecuteResult,
    ExecutionCancelled,
    ExecutionError,
    ExecutionTimeout,
    ParameterError,
)
from ..events import Completed, Event, Failed

WORKFLOWS = Path(__file__).parent / "workflows"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81"
    b"\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


class BackendControls(Protocol):
    """How the suite steers the server behind a backend."""

    def set_duration(self, seconds: float) -> None:
        """Make the next jobs run for ``seconds``."""

    def fail_next(self, message: str) -> None:
        """Make the next job fail on the server with ``message``."""


def check_result_contract(result: ExecuteResult, backend: str) -> None:
    """The invariants every ``ExecuteResult`` keeps, whatever the backend."""
    assert result.status in ("completed", "failed")
    assert result.backend == backend
    assert isinstance(result.duration, float) and result.duration >= 0
    for kind in ("images", "videos", "audios", "texts"):
        flat, by_var = getattr(result, kind), getattr(result, f"{kind}_by_var")
        assert isinstance(flat, list) and all(isinstance(v, str) for v in flat)
        assert flat == [v for values in by_var.values() for v in values]
    if result.status == "completed":
        assert result.error is None and result.msg is None
        assert isinstance(result.prompt_id, str) and result.prompt_id
        assert result.outputs is not None
    else:
        assert result.error is not None and result.msg == str(result.error)


class BackendConformance:
    """Base test class: every backend passes these."""

    backend_name: ClassVar[str]
    job_wait_limit: ClassVar[float] = 30.0

    @pytest.fixture
    def conformance_workflow(self) -> Any:
        return WORKFLOWS / "text_to_image.json"

    @pytest.fixture
    def conformance_upload_workflow(self) -> Any:
        return WORKFLOWS / "image_to_image.json"

    def _execute(
        self, kit: ComfyKit, workflow: Any, params: dict[str, Any], **options: Any
    ) -> ExecuteResult:
        options.setdefault("timeout", self.job_wait_limit)
        result = kit.execute(workflow, params, backend=self.backend_name, **options)
        check_result_contract(result, self.backend_name)
        return result

    def _wait_until_live(self, job: Any) -> None:
        for _ in range(300):  # bounded: the job must be accepted within a few seconds
            if job.status().state in ("pending", "running"):
                return
            time.sleep(0.01)
        raise AssertionError("the job never showed up as pending or running")

    def test_execute_completes_with_images(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(0.05)
        result = self._execute(conformance_kit, conformance_workflow, {"prompt": "a fox"})
        assert result.status == "completed", result.msg
        assert result.images and all(a.var for a in result.artifacts)

    def test_submit_wait_result(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(0.2)
        job = conformance_kit.submit(
            conformance_workflow,
            {"prompt": "x"},
            backend=self.backend_name,
            timeout=self.job_wait_limit,
        )
        assert isinstance(job.prompt_id, str) and job.prompt_id
        assert job.status().state in ("pending", "running", "completed")
        result = job.wait()
        check_result_contract(result, self.backend_name)
        assert result.status == "completed", result.msg
        assert job.result() is result and job.status().state == "completed"
        assert result.prompt_id == job.prompt_id
        # the backend's own status() tells a completed job from a failed one
        again = conformance_kit.job(job.prompt_id, backend=self.backend_name)
        assert again.status().state == "completed" and again.done()

    def test_caller_chosen_prompt_id(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(0.05)
        kwargs: dict[str, Any] = {"backend": self.backend_name, "timeout": self.job_wait_limit}
        if "prompt_id" not in conformance_kit.backend(self.backend_name).capabilities:
            with pytest.raises(ConfigurationError, match="prompt_id"):
                conformance_kit.submit(
                    conformance_workflow, {"prompt": "x"}, prompt_id="a", **kwargs
                )
            return
        chosen = f"conformance-{uuid.uuid4()}"
        job = conformance_kit.submit(
            conformance_workflow, {"prompt": "x"}, prompt_id=chosen, **kwargs
        )
        assert job.prompt_id == chosen
        assert job.wait().prompt_id == chosen
        again = conformance_kit.job(chosen, conformance_workflow, backend=self.backend_name)
        assert again.result().status == "completed"

    def test_caller_mistakes_raise_before_sending(
        self, conformance_kit: ComfyKit, conformance_workflow: Any
    ) -> None:
        with pytest.raises(ParameterError):
            conformance_kit.execute(conformance_workflow, {}, backend=self.backend_name)
        with pytest.raises(ParameterError):
            conformance_kit.execute(
                conformance_workflow, {"prompt": "x", "nope": 1}, backend=self.backend_name
            )

    def test_failed_job_carries_the_server_message(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(0.05)
        conformance_controls.fail_next("conformance boom")
        result = self._execute(conformance_kit, conformance_workflow, {"prompt": "x"})
        assert result.status == "failed"
        assert isinstance(result.error, ExecutionError)
        assert result.msg is not None and "conformance boom" in result.msg and result.prompt_id

    def test_cancel(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(5.0)
        job = conformance_kit.submit(
            conformance_workflow,
            {"prompt": "x"},
            backend=self.backend_name,
            timeout=self.job_wait_limit,
        )
        self._wait_until_live(job)
        assert job.cancel()
        result = job.wait()
        check_result_contract(result, self.backend_name)
        assert isinstance(result.error, ExecutionCancelled), result.msg

    def test_timeout_cancels_the_job(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(5.0)
        result = self._execute(conformance_kit, conformance_workflow, {"prompt": "x"}, timeout=0.5)
        assert isinstance(result.error, ExecutionTimeout), result.msg
        assert result.error.cancelled and result.error.deadline == "total"

    def test_upload(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_upload_workflow: Any,
    ) -> None:
        if "upload" not in conformance_kit.backend(self.backend_name).capabilities:
            pytest.skip("this backend declares no upload capability")
        conformance_controls.set_duration(0.05)
        result = self._execute(conformance_kit, conformance_upload_workflow, {"image": PNG})
        assert result.status == "completed", result.msg

    def test_events_end_with_completed_or_failed(
        self,
        conformance_kit: ComfyKit,
        conformance_controls: BackendControls,
        conformance_workflow: Any,
    ) -> None:
        conformance_controls.set_duration(0.1)
        events: list[Event] = []
        result = self._execute(
            conformance_kit, conformance_workflow, {"prompt": "x"}, on_event=events.append
        )
        assert events and isinstance(events[-1], Completed if result.ok else Failed)
        assert all(e.prompt_id == result.prompt_id for e in events)
        conformance_controls.fail_next("event boom")
        events.clear()
        failed = self._execute(
            conformance_kit, conformance_workflow, {"prompt": "x"}, on_event=events.append
        )
        assert isinstance(events[-1], Failed) and events[-1].error is failed.error
