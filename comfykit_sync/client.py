"""``ComfyKit``: the blocking façade that loads, binds, runs and reports a workflow."""

from __future__ import annotations

import logging
import os
import string
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .config import Config, option_names
from .errors import (
    ComfyKitError,
    ConfigurationError,
    ParameterError,
    TransportError,
    UnsupportedSourceError,
    WorkflowLoadError,
    WorkflowValidationError,
)
from .http import HttpClient, request_deadline

if TYPE_CHECKING:  # the rest is imported on first use: ``import comfykit_sync`` stays light
    from pathlib import Path

    import pluggy

    from ._targets import Outputs
    from .backends.base import Backend, JobRequest, Submission
    from .downloads import Fetcher
    from .events import EventCallback
    from .inspection import WorkflowInfo
    from .job import Job, Placed
    from .models import Artifact, ExecuteResult, Workflow
    from .object_info import ObjectInfoArgument, ObjectInfoSource
    from .params import WorkflowSpec
    from .pool.report import ServerInfo
    from .registry import BackendRegistry
    from .settings import Setting

log = logging.getLogger("comfykit_sync")

#: the characters of a caller-chosen prompt id: URL-safe ones only (it goes into URL paths)
_PROMPT_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_.~-")


def _check_prompt_id(prompt_id: object) -> str:
    """``prompt_id`` if it is a non-empty, URL-safe string; ``ParameterError`` otherwise."""
    if (
        not isinstance(prompt_id, str)
        or not 1 <= len(prompt_id) <= 128
        or not _PROMPT_ID_CHARS.issuperset(prompt_id)
        or not prompt_id.strip(".")
    ):
        raise ParameterError(
            f"prompt_id must be 1-128 characters from A-Z a-z 0-9 _ . ~ - (not only dots), "
            f"got {prompt_id!r}",
            params=("prompt_id",),
        )
    return prompt_id


def _given_object_info(value: ObjectInfoArgument) -> ObjectInfoSource:
    """Node definitions passed as ``object_info=`` (a dict or a JSON file)."""
    from .object_info import GivenObjectInfo, load_object_info

    return GivenObjectInfo(load_object_info(value, "argument object_info"))


class ComfyKit:
    """Runs ComfyUI workflows on a local server or a cloud backend, synchronously.

    Arguments keep the original ComfyKit's names and environment variables; each option is a
    :class:`Config` field, resolved as argument > environment variable > default (``None``: not
    given). Other keyword arguments are settings that installed plugins declare; a name none
    declares is a :class:`ConfigurationError`. ``plugin_manager`` replaces the one built from
    the installed plugins. One kit is safe to share between threads. Use it as a context
    manager, or call :meth:`close`.

    ``comfyui_url`` may name several servers (a list, or ``"url1,url2"``): the kit is then a
    pool that places each job on a capable, healthy, least-loaded server (docs/many-servers.md).
    """

    def __init__(
        self,
        comfyui_url: str | Sequence[str | Mapping[str, Any]] | None = None,
        executor_type: str | None = None,
        api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        runninghub_url: str | None = None,
        runninghub_api_key: str | None = None,
        runninghub_timeout: float | None = None,
        runninghub_retry_count: int | None = None,
        runninghub_instance_type: str | None = None,
        *,
        comfy_org_api_key: str | None = None,
        runninghub_webhook_url: str | None = None,
        timeout: float | None = None,
        request_timeout: float | tuple[float, float] | None = None,
        cancel_timeout: float | None = None,
        poll_max_interval: float | None = None,
        seed_policy: str | None = None,
        on_node_errors: str | None = None,
        upload_subfolder: str | None = None,
        max_workflow_bytes: int | None = None,
        ws_max_frame_bytes: int | None = None,
        resubmit_lost: bool | None = None,
        server_lost_after: float | None = None,
        object_info_cache_dir: str | os.PathLike[str] | None = None,
        client_id: str | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        object_info: ObjectInfoArgument | None = None,
        **plugin_settings: Any,
    ) -> None:
        given = locals()  # the options above are Config's fields, by name
        self._pm = plugin_manager
        self._registry: BackendRegistry | None = None
        self._backends: dict[str, Backend] = {}
        self._lock = threading.RLock()
        self._closed = False
        self.config = Config.resolve(
            **{name: given[name] for name in option_names()},
            declared=self._declared_settings,
            **plugin_settings,
        )
        self._clients = tuple(
            HttpClient(
                server.url,
                token=server.api_key or self.config.api_key,
                cookies=server.cookies or self.config.cookies,
                timeout=self.config.request_timeout,
            )
            for server in self.config.servers
        )
        self._http = self._clients[0]
        self._object_info_given = None if object_info is None else _given_object_info(object_info)
        self._server_object_info: ObjectInfoSource | None = None

    def __repr__(self) -> str:
        urls = [server.url for server in self.config.servers]
        return (
            f"ComfyKit(comfyui_url={urls[0] if len(urls) == 1 else urls!r}, "
            f"executor_type={self.config.executor_type!r})"
        )

    def _declared_settings(self) -> tuple[Setting, ...]:
        """The settings installed plugins declare (``comfykit_register_settings``)."""
        from .registry import SettingRegistry

        return SettingRegistry(self.plugin_manager).settings

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
                from .plugins import make_plugin_manager

                self._pm = make_plugin_manager()
            return self._pm

    @property
    def backends(self) -> BackendRegistry:
        """Registered backend classes by name."""
        with self._lock:
            if self._registry is None:
                from .registry import BackendRegistry

                self._registry = BackendRegistry(self.plugin_manager)
            return self._registry

    def backend(self, name: str | None = None) -> Backend:
        """The kit's backend object ``name`` (default: from ``executor_type``), created once.

        With several ComfyUI servers, a ComfyUI backend is a pool of one such backend per
        server (:class:`~comfykit_sync.pool.ServerPool`).
        """
        name = name or self.config.default_backend
        with self._lock:
            self._check_open()
            if name not in self._backends:
                from .backends.base import BackendContext

                cls = self.backends.get(name)
                if len(self._clients) > 1:
                    from .backends.comfyui_http import ComfyUIHttpBackend
                    from .pool import pool_class

                    if issubclass(cls, ComfyUIHttpBackend):
                        cls = pool_class(cls)
                context = BackendContext(
                    self.config, self._http, self.plugin_manager, self._clients
                )
                self._backends[name] = cls(context)
            return self._backends[name]

    def servers(self) -> list[ServerInfo]:
        """Each ComfyUI server of the kit as it is now: healthy, version, queue depth, this
        kit's jobs in flight there, last error, features (asked in parallel)."""
        from .backends.comfyui_http import ComfyUIHttpBackend
        from .pool import ServerPool
        from .pool.report import probe

        runner = self.backend()
        if isinstance(runner, ServerPool):
            return runner.servers()
        assert isinstance(runner, ComfyUIHttpBackend)
        return [probe(runner.client, self.config.client_id)]

    # -- workflows --------------------------------------------------------------------------
    def load_workflow(
        self, source: Any, *, object_info: ObjectInfoArgument | None = None
    ) -> Workflow:
        """Load a workflow from a path, URL, dict or any source a plugin understands.

        A UI-format workflow (the editor's plain "Save") is converted to the API format with the
        server's node definitions (:meth:`object_info`), or with ``object_info`` (a dict or a
        JSON file of ``/object_info``) when given.
        """
        from .loaders.api_format import UI_FORMAT_HINT
        from .models import Workflow
        from .ui_workflow import is_ui_workflow

        if isinstance(source, Workflow):
            return source
        definitions = (
            self._object_info() if object_info is None else _given_object_info(object_info)
        )
        workflow: Workflow | None = self.plugin_manager.hook.comfykit_load_workflow(
            source=source, config=self.config, session=self._http, object_info=definitions
        )
        if workflow is None:
            raise UnsupportedSourceError(
                f"no loader recognised the workflow source {source!r}: expected an existing "
                "file path, an http(s) URL or a workflow dict"
            )
        if is_ui_workflow(workflow.graph):  # the UI-format loader plugin is blocked
            raise WorkflowLoadError(f"workflow {workflow.source} cannot be run: {UI_FORMAT_HINT}")
        return workflow

    def object_info(self, *, refresh: bool = False) -> Mapping[str, Any]:
        """The node definitions UI-format workflows are converted with (``GET /object_info``).

        Fetched from the server once and kept (on disk too with ``object_info_cache_dir``);
        ``refresh=True`` fetches them again, e.g. after installing custom nodes. A kit built
        with ``object_info=`` returns those and never asks the server.
        """
        source = self._object_info()
        return source.refresh() if refresh else source.get()

    def _object_info(self) -> ObjectInfoSource:
        """The node definitions given to the kit, else the server's (created on first use)."""
        if self._object_info_given is not None:
            return self._object_info_given
        with self._lock:
            if self._server_object_info is None:
                from .object_info import ServerObjectInfo

                self._server_object_info = ServerObjectInfo(
                    self._http, self.config.object_info_cache_dir
                )
            return self._server_object_info

    def list_params(self, workflow: Any) -> WorkflowSpec:
        """The workflow's DSL parameters and output names, without running it."""
        from .params import parse_workflow

        return parse_workflow(self.load_workflow(workflow).graph)

    def inspect(self, workflow: Any) -> WorkflowInfo:
        """The workflow's parameters and outputs (var → node ids), e.g. for a JSON Schema."""
        from .inspection import inspect_graph

        wf = self.load_workflow(workflow)
        return inspect_graph(wf.graph, wf.source)

    # -- execution --------------------------------------------------------------------------
    def execute(
        self,
        workflow: Any,
        params: Mapping[str, Any] | None = None,
        *,
        raise_on_error: bool = False,
        backend: str | None = None,
        timeout: float | None = None,
        queue_timeout: float | None = None,
        on_timeout: str = "cancel",
        on_event: EventCallback | None = None,
        outputs: Outputs = None,
        resubmit_lost: bool | None = None,
        prompt_id: str | None = None,
    ) -> ExecuteResult:
        """Run ``workflow`` with ``params`` and wait for the result.

        Caller mistakes (unreadable workflow, bad parameters, unknown backend) raise before
        anything is sent. What happens after that is reported in the result: ``status`` is
        ``"failed"`` and ``error`` holds the typed exception (raised instead with
        ``raise_on_error=True``). The other options are those of :meth:`submit`, e.g.
        ``outputs=["cover", "9"]`` to run only those outputs and what they depend on.
        """
        job = self.submit(
            workflow,
            params,
            backend=backend,
            timeout=timeout,
            queue_timeout=queue_timeout,
            on_timeout=on_timeout,
            on_event=on_event,
            outputs=outputs,
            resubmit_lost=resubmit_lost,
            prompt_id=prompt_id,
        )
        result = job.result()
        return result.raise_for_status() if raise_on_error else result

    def execute_json(
        self,
        workflow: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        raise_on_error: bool = False,
        backend: str | None = None,
        timeout: float | None = None,
        queue_timeout: float | None = None,
        on_timeout: str = "cancel",
        on_event: EventCallback | None = None,
        outputs: Outputs = None,
        resubmit_lost: bool | None = None,
        prompt_id: str | None = None,
    ) -> ExecuteResult:
        """Like :meth:`execute` for a workflow dict, API or UI format (never written to disk)."""
        if not isinstance(workflow, Mapping):
            raise UnsupportedSourceError(
                f"execute_json needs a dict, got {type(workflow).__name__}"
            )
        return self.execute(
            workflow,
            params,
            raise_on_error=raise_on_error,
            backend=backend,
            timeout=timeout,
            queue_timeout=queue_timeout,
            on_timeout=on_timeout,
            on_event=on_event,
            outputs=outputs,
            resubmit_lost=resubmit_lost,
            prompt_id=prompt_id,
        )

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
        resubmit_lost: bool | None = None,
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
        import uuid

        from ._targets import select_targets
        from .backends.base import JobRequest
        from .job import ON_TIMEOUT, Job
        from .params import UploadSource, shared_spec, validate_params

        started = time.monotonic()
        timeout = self._seconds(timeout, "timeout")
        queue_timeout = self._seconds(queue_timeout, "queue_timeout")
        if on_timeout not in ON_TIMEOUT:
            raise ConfigurationError(f"on_timeout must be 'cancel' or 'detach', got {on_timeout!r}")
        if prompt_id is not None:
            prompt_id = _check_prompt_id(prompt_id)
        wf = self.load_workflow(workflow)
        spec = shared_spec(wf.graph)
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
        with self._checking(deadline):
            targets = select_targets(runner, spec, wf.graph, outputs)
            runner.check_params(spec, values)
        request = JobRequest(prompt_id or str(uuid.uuid4()), wf, spec, values, targets)
        placed = self._place(runner, request, deadline)
        resubmit = None
        if self._resubmits(runner, resubmit_lost):

            def resubmit(exclude: frozenset[str]) -> Placed:
                return self._place(runner, request.excluding(exclude), deadline)

        job = Job(
            runner=placed.runner,
            prompt_id=placed.prompt_id,
            spec=spec,
            config=self.config,
            plugin_manager=self.plugin_manager,
            started=started,
            timeout=timeout or runner.default_timeout,
            queue_timeout=queue_timeout,
            on_timeout=on_timeout,
            on_event=on_event,
            seeds=placed.seeds,
            warnings=spec.warnings + placed.warnings,
            fetch=self._fetcher(),
            resubmit=resubmit,
        )
        if placed.error is not None:
            job.fail(placed.error)
        else:
            log.debug("submitted prompt %s to %s", placed.prompt_id, placed.runner.name)
        return job

    def _resubmits(self, runner: Backend, resubmit_lost: bool | None) -> bool:
        """Whether a job lost with its server is submitted again to another one (pools only)."""
        from .pool import ServerPool

        wanted = self.config.resubmit_lost if resubmit_lost is None else resubmit_lost
        return bool(wanted) and isinstance(runner, ServerPool)

    def _place(self, runner: Backend, request: JobRequest, deadline: float) -> Placed:
        """Upload the job's media to the backend :meth:`Backend.place` picks and submit it
        there, moving on while an attempt certainly reached nothing (connection refused).
        Every request is bounded by the job's ``deadline``.

        Raises caller mistakes (nothing can run the job); returns everything else.
        """
        with request_deadline(deadline):
            return self._place_within(runner, request, deadline)

    def _checking(self, deadline: float) -> AbstractContextManager[None]:
        """The bound of the checks that ask the server before a submit (definitions, placement):
        one ``request_timeout`` in total, within the job's ``deadline``."""
        return request_deadline(min(deadline, time.monotonic() + max(self.config.request_timeout)))

    def _place_within(self, runner: Backend, request: JobRequest, deadline: float) -> Placed:
        from ._naming import name_rejection
        from .backends.base import PreparedJob
        from .job import Placed, cancel_after_interrupt
        from .params import UploadSource, apply_params, randomize_seeds

        placements = runner.place(request)
        target, refused = runner, None
        seeds: Mapping[str, int] = {}
        try:
            while True:
                try:
                    with self._checking(deadline):
                        target = next(placements)
                except StopIteration:
                    assert refused is not None, "Backend.place yielded nothing"
                    return Placed(target, error=refused)
                except ConfigurationError:
                    raise
                except ComfyKitError as exc:
                    return Placed(target, error=exc)
                seeds = {}
                try:
                    values = dict(request.values)
                    for name, value in request.values.items():
                        if isinstance(value, UploadSource):
                            values[name] = target.upload(value)
                    graph = apply_params(request.workflow.graph, request.spec, values)
                    seeds = randomize_seeds(graph, policy=self.config.seed_policy)
                    prepared = PreparedJob(
                        prompt_id=request.prompt_id,
                        workflow=request.workflow,
                        spec=request.spec,
                        graph=graph,
                        values=values,
                        seeds=seeds,
                        targets=request.targets,
                        deadline=deadline,
                    )
                    try:
                        submission = target.submit(prepared)
                    except KeyboardInterrupt as exc:  # it may have reached the server: cancel
                        raise cancel_after_interrupt(target, prepared.prompt_id) from exc
                except TransportError as exc:
                    if exc.sent is not False:
                        return Placed(target, seeds=seeds, error=exc)
                    refused = exc
                    continue
                except WorkflowValidationError as exc:
                    return Placed(target, seeds=seeds, error=name_rejection(exc, request.spec))
                except ComfyKitError as exc:
                    return Placed(target, seeds=seeds, error=exc)
                if submission.rejected is not None:
                    return self._partly_rejected(target, submission, request.spec, seeds)
                return Placed(
                    target,
                    prompt_id=submission.prompt_id,
                    seeds=seeds,
                    warnings=submission.warnings,
                )
        finally:
            placements.close()

    def _partly_rejected(
        self,
        target: Backend,
        submission: Submission,
        spec: WorkflowSpec,
        seeds: Mapping[str, int],
    ) -> Placed:
        """A job queued with some of its nodes refused: by ``on_node_errors``, run it with a
        warning, or fail it (cancelling it on the server, within ``cancel_timeout``)."""
        from ._naming import name_rejection
        from .job import Placed, bounded_cancel

        assert submission.rejected is not None
        prompt_id = submission.prompt_id
        error = name_rejection(submission.rejected, spec)
        error.prompt_id = prompt_id
        if self.config.on_node_errors == "warn":
            log.warning("%s (prompt %s runs without those outputs)", error, prompt_id)
            warnings = (*submission.warnings, str(error))
            return Placed(target, prompt_id=prompt_id, seeds=seeds, warnings=warnings)
        try:
            bounded_cancel(target, prompt_id)
        except ComfyKitError as exc:
            log.warning("could not cancel partially invalid prompt %s: %s", prompt_id, exc)
        return Placed(target, seeds=seeds, error=error)

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
        is a ``ParameterError``, and a backend without the ``"reattach"`` capability a
        ``ConfigurationError``, before anything is sent.

        Pass the ``workflow`` to name outputs by its ``$output`` markers; without it the names
        come from the graph the server recorded, when it has one. ``timeout`` (default: the
        kit's) counts from now; on expiry the job is left running (``on_timeout="detach"``, the
        default) or cancelled on the server (``"cancel"``). A pool asks its servers (in
        parallel) which one has the job.
        """
        import uuid

        from .job import ON_TIMEOUT, Job
        from .params import parse_workflow

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
        if "reattach" not in runner.capabilities:
            raise ConfigurationError(
                f"backend {runner.name!r} cannot re-attach to a job (no 'reattach' capability)"
            )
        runner.check_job_id(prompt_id)
        return Job(
            runner=runner.attach(prompt_id),
            prompt_id=prompt_id,
            spec=spec,
            config=self.config,
            plugin_manager=self.plugin_manager,
            started=time.monotonic(),
            timeout=self._seconds(timeout, "timeout") or runner.default_timeout,
            on_timeout=on_timeout,
            on_event=on_event,
            fetch=self._fetcher(),
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

        Credentials go only to the origin of the server they belong to; ``file://`` URLs are
        copied.
        """
        from pathlib import Path

        from .downloads import artifact_url, download

        return download(self._fetcher(), artifact_url(source), Path(path))

    def _fetcher(self) -> Fetcher:
        """What results built by this kit download with: the client of each ComfyUI server and
        those of its backends, each for its own origin (credentials stay with their server)."""
        from .downloads import Fetcher

        with self._lock:
            backends = [runner.http for runner in self._backends.values()]
        return Fetcher(*self._clients, *backends)

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
        for client in self._clients:
            client.close()
