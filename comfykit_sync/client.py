"""``ComfyKit``: the blocking façade that loads, binds, runs and reports a workflow."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy

from ._http import HttpClient, request_deadline
from ._targets import Outputs, select_targets
from .backends.base import Backend, BackendContext, PreparedJob
from .config import Config
from .errors import ComfyKitError, ConfigurationError, ParameterError, UnsupportedSourceError
from .events import EventCallback
from .inspection import WorkflowInfo, inspect_graph
from .job import ON_TIMEOUT, Job, cancel_after_interrupt
from .models import Artifact, ExecuteResult, Workflow
from .params import (
    UploadSource,
    WorkflowSpec,
    apply_params,
    parse_workflow,
    randomize_seeds,
    validate_params,
)
from .plugins import make_plugin_manager
from .registry import BackendRegistry

log = logging.getLogger("comfykit_sync")

#: a caller-chosen prompt id: URL-safe characters only (it goes into URL paths)
_PROMPT_ID = re.compile(r"[A-Za-z0-9_.~-]{1,128}")


def _check_prompt_id(prompt_id: object) -> str:
    """``prompt_id`` if it is a non-empty, URL-safe string; ``ParameterError`` otherwise."""
    if (
        not isinstance(prompt_id, str)
        or not _PROMPT_ID.fullmatch(prompt_id)
        or not prompt_id.strip(".")
    ):
        raise ParameterError(
            f"prompt_id must be 1-128 characters from A-Z a-z 0-9 _ . ~ - (not only dots), "
            f"got {prompt_id!r}",
            params=("prompt_id",),
        )
    return prompt_id


class ComfyKit:
    """Runs ComfyUI workflows on a local server or a cloud backend, synchronously.

    Arguments keep the original ComfyKit's names and environment variables; each setting is
    resolved as argument > environment variable > default (see :class:`Config`). One kit is safe
    to share between threads. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        comfyui_url: str | None = None,
        executor_type: str | None = None,
        api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        runninghub_url: str | None = None,
        runninghub_api_key: str | None = None,
        runninghub_timeout: float | None = None,
        runninghub_retry_count: int | None = None,
        runninghub_instance_type: str | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        **options: Any,
    ) -> None:
        self.config = Config.resolve(
            comfyui_url=comfyui_url,
            executor_type=executor_type,
            api_key=api_key,
            cookies=cookies,
            runninghub_url=runninghub_url,
            runninghub_api_key=runninghub_api_key,
            runninghub_timeout=runninghub_timeout,
            runninghub_retry_count=runninghub_retry_count,
            runninghub_instance_type=runninghub_instance_type,
            **options,
        )
        self._http = HttpClient(
            self.config.comfyui_url,
            token=self.config.api_key,
            cookies=self.config.cookies,
            timeout=self.config.request_timeout,
        )
        self._pm = plugin_manager
        self._registry: BackendRegistry | None = None
        self._backends: dict[str, Backend] = {}
        self._lock = threading.RLock()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"ComfyKit(comfyui_url={self.config.comfyui_url!r}, "
            f"executor_type={self.config.executor_type!r})"
        )

    def __enter__(self) -> ComfyKit:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plugins and backends ---------------------------------------------------------------
    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager (built on first use unless one was injected)."""
        with self._lock:
            if self._pm is None:
                self._pm = make_plugin_manager()
            return self._pm

    @property
    def backends(self) -> BackendRegistry:
        """Registered backend classes by name."""
        with self._lock:
            if self._registry is None:
                self._registry = BackendRegistry(self.plugin_manager)
            return self._registry

    def backend(self, name: str | None = None) -> Backend:
        """The kit's backend object ``name`` (default: from ``executor_type``), created once."""
        name = name or self.config.default_backend
        with self._lock:
            self._check_open()
            if name not in self._backends:
                cls = self.backends.get(name)
                context = BackendContext(self.config, self._http, self.plugin_manager)
                self._backends[name] = cls(context)
            return self._backends[name]

    # -- workflows --------------------------------------------------------------------------
    def load_workflow(self, source: Any) -> Workflow:
        """Load a workflow from a path, URL, dict or any source a plugin understands."""
        if isinstance(source, Workflow):
            return source
        workflow = self.plugin_manager.hook.comfykit_load_workflow(
            source=source, config=self.config, session=self._http
        )
        if workflow is None:
            raise UnsupportedSourceError(
                f"no loader recognised the workflow source {source!r}: expected an existing "
                "file path, an http(s) URL or an API-format dict"
            )
        return workflow

    def list_params(self, workflow: Any) -> WorkflowSpec:
        """The workflow's DSL parameters and output names, without running it."""
        return parse_workflow(self.load_workflow(workflow).graph)

    def inspect(self, workflow: Any) -> WorkflowInfo:
        """The workflow's parameters and outputs (var → node ids), e.g. for a JSON Schema."""
        wf = self.load_workflow(workflow)
        return inspect_graph(wf.graph, wf.source)

    # -- execution --------------------------------------------------------------------------
    def execute(
        self,
        workflow: Any,
        params: Mapping[str, Any] | None = None,
        *,
        raise_on_error: bool = False,
        **options: Any,
    ) -> ExecuteResult:
        """Run ``workflow`` with ``params`` and wait for the result.

        Caller mistakes (unreadable workflow, bad parameters, unknown backend) raise before
        anything is sent. What happens after that is reported in the result: ``status`` is
        ``"failed"`` and ``error`` holds the typed exception (raised instead with
        ``raise_on_error=True``). ``options`` are those of :meth:`submit`, e.g.
        ``outputs=["cover", "9"]`` to run only those outputs and what they depend on.
        """
        result = self.submit(workflow, params, **options).result()
        return result.raise_for_status() if raise_on_error else result

    def execute_json(
        self, workflow: Mapping[str, Any], params: Mapping[str, Any] | None = None, **options: Any
    ) -> ExecuteResult:
        """Like :meth:`execute` for an API-format dict (used directly, never written to disk)."""
        if not isinstance(workflow, Mapping):
            raise UnsupportedSourceError(
                f"execute_json needs a dict, got {type(workflow).__name__}"
            )
        return self.execute(workflow, params, **options)

    def submit(
        self,
        workflow: Any,
        params: Mapping[str, Any] | None = None,
        *,
        backend: str | None = None,
        timeout: float | None = None,
        queue_timeout: float | None = None,
        on_timeout: str = "cancel",
        on_event: EventCallback | None = None,
        outputs: Outputs = None,
        prompt_id: str | None = None,
    ) -> Job:
        """Upload media, queue the workflow and return a :class:`Job` without waiting.

        ``timeout`` bounds the whole job (default: the kit's ``timeout``, or the backend's),
        ``queue_timeout`` the time it may wait in the queue. When one expires the job is
        cancelled on the server, or left running with ``on_timeout="detach"`` (the failed result
        keeps the ``prompt_id`` for :meth:`job`). ``on_event`` receives progress events.

        ``outputs`` runs only these output nodes and what they depend on (ComfyUI's partial
        execution): output names (``$output.<name>``) or node ids, e.g. ``["cover", "9"]``; the
        result holds only the outputs that ran. An entry that is not in the workflow, or a node
        the server says is not an output node, is a :class:`ParameterError`; a backend that
        cannot run part of a workflow (RunningHub) raises :class:`ConfigurationError`.

        ``prompt_id`` chooses the job's id (default: a new UUID), e.g. one derived from a task
        id so that a retry can find the job with :meth:`job`; it must be URL-safe
        (``ParameterError``) and new: ComfyUI runs a prompt again under a reused id. Backends
        whose service picks the ids (RunningHub) refuse it (``ConfigurationError``).
        """
        started = time.monotonic()
        timeout = self._seconds(timeout, "timeout")
        queue_timeout = self._seconds(queue_timeout, "queue_timeout")
        if on_timeout not in ON_TIMEOUT:
            raise ConfigurationError(f"on_timeout must be 'cancel' or 'detach', got {on_timeout!r}")
        if prompt_id is not None:
            prompt_id = _check_prompt_id(prompt_id)
        wf = self.load_workflow(workflow)
        spec = parse_workflow(wf.graph)
        values = validate_params(spec, params)
        runner = self.backend(backend or wf.backend)
        if prompt_id is not None and "prompt_id" not in runner.capabilities:
            raise ConfigurationError(
                f"backend {runner.name!r} chooses its own job ids: prompt_id= is not supported"
            )
        uploads = {name: v for name, v in values.items() if isinstance(v, UploadSource)}
        if uploads and "upload" not in runner.capabilities:
            raise ConfigurationError(
                f"backend {runner.name!r} cannot upload files (parameters: {', '.join(uploads)})"
            )
        deadline = started + (timeout or runner.default_timeout)
        # checks asking the server before the submit: one request_timeout in total
        with request_deadline(min(deadline, time.monotonic() + max(self.config.request_timeout))):
            targets = select_targets(runner, spec, wf.graph, outputs)
            runner.check_params(spec, values)

        def job(prompt_id: str | None, **kwargs: Any) -> Job:
            return Job(
                runner=runner,
                prompt_id=prompt_id,
                spec=spec,
                config=self.config,
                plugin_manager=self.plugin_manager,
                started=started,
                timeout=timeout or runner.default_timeout,
                queue_timeout=queue_timeout,
                on_timeout=on_timeout,
                on_event=on_event,
                **kwargs,
            )

        def failed(error: ComfyKitError, seeds: Mapping[str, int] | None = None) -> Job:
            prompt_id = getattr(error, "prompt_id", None)
            result = ExecuteResult(
                status="failed",
                prompt_id=prompt_id,
                msg=str(error),
                error=error,
                duration=time.monotonic() - started,
                seeds=dict(seeds or {}),
                warnings=spec.warnings,
                backend=runner.name,
            )
            return job(prompt_id, result=result)

        try:
            with request_deadline(deadline):
                for name, source in uploads.items():
                    values[name] = runner.upload(source)
        except ComfyKitError as exc:
            return failed(exc)
        graph = apply_params(wf.graph, spec, values)
        seeds = randomize_seeds(graph, policy=self.config.seed_policy)
        prepared = PreparedJob(
            prompt_id=prompt_id or str(uuid.uuid4()),
            workflow=wf,
            spec=spec,
            graph=graph,
            values=values,
            seeds=seeds,
            targets=targets,
            deadline=deadline,
        )
        try:
            with request_deadline(deadline):
                submission = runner.submit(prepared)
        except ComfyKitError as exc:
            return failed(exc, seeds)
        except KeyboardInterrupt as exc:  # the prompt may have reached the server: cancel it
            raise cancel_after_interrupt(runner, prepared.prompt_id) from exc
        log.debug("submitted prompt %s to %s", submission.prompt_id, runner.name)
        return job(submission.prompt_id, seeds=seeds, warnings=spec.warnings + submission.warnings)

    def job(
        self,
        prompt_id: str,
        workflow: Any = None,
        *,
        backend: str | None = None,
        timeout: float | None = None,
        on_timeout: str = "detach",
        on_event: EventCallback | None = None,
    ) -> Job:
        """Re-attach to a job submitted earlier (by this or another process) by its id.

        An id the backend can never have given (empty, path-like; for RunningHub, not digits)
        is a ``ParameterError`` before anything is sent.

        Pass the ``workflow`` to name outputs by its ``$output`` markers; without it the names
        come from the graph the server recorded, when it has one. ``timeout`` (default: the
        kit's) counts from now; on expiry the job is left running (``on_timeout="detach"``, the
        default) or cancelled on the server (``"cancel"``).
        """
        if on_timeout not in ON_TIMEOUT:
            raise ConfigurationError(f"on_timeout must be 'cancel' or 'detach', got {on_timeout!r}")
        if isinstance(prompt_id, (int, uuid.UUID)) and not isinstance(prompt_id, bool):
            prompt_id = str(prompt_id)
        if not isinstance(prompt_id, str):
            raise ParameterError(
                f"prompt_id must be a str, got {type(prompt_id).__name__}", params=("prompt_id",)
            )
        spec = parse_workflow(self.load_workflow(workflow).graph) if workflow is not None else None
        runner = self.backend(backend)
        runner.check_job_id(prompt_id)
        return Job(
            runner=runner,
            prompt_id=prompt_id,
            spec=spec,
            config=self.config,
            plugin_manager=self.plugin_manager,
            started=time.monotonic(),
            timeout=self._seconds(timeout, "timeout") or runner.default_timeout,
            on_timeout=on_timeout,
            on_event=on_event,
        )

    def _seconds(self, value: float | None, name: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
        return float(value)

    # -- downloads --------------------------------------------------------------------------
    def download(self, source: Artifact | str, path: str | os.PathLike[str]) -> Path:
        """Stream an output (artifact or URL) to ``path``, replacing it; folders are created.

        Credentials go only to the configured server's origin; ``file://`` URLs are copied.
        """
        from .downloads import Fetcher, artifact_url, download

        return download(Fetcher(self._http), artifact_url(source), Path(path))

    # -- lifecycle --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ComfyKitError("this ComfyKit is closed")

    def close(self) -> None:
        """Close backends and HTTP sessions; safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            backends, self._backends = list(self._backends.values()), {}
        for runner in backends:
            try:
                runner.close()
            except Exception as exc:  # closing must go on for the others
                log.warning("closing backend %s failed: %s", runner.name, exc)
        self._http.close()
