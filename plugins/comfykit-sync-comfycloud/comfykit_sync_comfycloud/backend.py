"""Backend ``comfycloud``: run API-format workflows on Comfy Cloud.

The kit parses the DSL and binds parameters as for a local ComfyUI; this backend uploads media
to ``/api/upload/image``, submits the bound graph to ``/api/prompt`` (once: the cloud takes no
client id to look a job up by), polls ``/api/job/{id}/status`` (queued → ``Queued``, running →
``Started``), then reads the outputs and any error from ``/api/jobs/{id}``. A wait with an
``on_event`` listener also follows the account's WebSocket for node and step events
(:mod:`.events`). Output URLs are ``/api/view`` URLs: the kit downloads them with this backend's
client, which sends the API key to the cloud only — the signed storage URL they redirect to is
fetched without it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from comfykit_sync import (
    APIError,
    ComfyKitError,
    InsufficientBalanceError,
    NotFoundError,
    PromptLostError,
)
from comfykit_sync.backend import (
    Backend,
    BackendContext,
    HttpClient,
    JobWatch,
    Polled,
    PollingBackend,
    PreparedJob,
    RunOutcome,
    Setting,
    Submission,
    UploadSource,
    hookimpl,
)

from .api import (
    CANCELLED_STATES,
    FAILED_STATES,
    LOST_STATES,
    PENDING_STATES,
    SUCCEEDED_STATES,
    CloudAPI,
    JobStatus,
)
from .events import FINAL_MESSAGES, AccountStream, Listener, event_for
from .results import outcome, validation_error
from .settings import SETTINGS, CloudSettings

log = logging.getLogger(__name__)

#: shortest pause between status polls (a cloud API)
MIN_POLL_INTERVAL = 0.05
#: graphs of submitted jobs kept for node titles in events, newest last
MAX_KEPT_GRAPHS = 256


class ComfyCloudBackend(PollingBackend):
    """Runs workflows on Comfy Cloud (``X-API-Key`` authentication)."""

    name = "comfycloud"
    capabilities = frozenset({"upload", "cancel", "reattach", "events"})
    label = "Comfy Cloud job"
    queued_statuses = PENDING_STATES
    completed_statuses = SUCCEEDED_STATES
    failed_statuses = FAILED_STATES | CANCELLED_STATES | LOST_STATES
    min_poll_interval = MIN_POLL_INTERVAL

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self.settings = CloudSettings.from_settings(context.config.settings)
        self.http = HttpClient(
            self.settings.url,
            headers={"X-API-Key": self.settings.api_key},
            ws_query={"token": self.settings.api_key},
            timeout=context.config.request_timeout,
        )
        self.api = CloudAPI(self.http)
        self.stream = AccountStream(self.http, connect_timeout=context.config.request_timeout[0])
        self._graphs: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ComfyCloudBackend({self.http.base_url!r})"

    @property
    def default_timeout(self) -> float:
        return self.settings.timeout or self.context.config.timeout

    # -- submission -------------------------------------------------------------------------
    def upload(self, source: UploadSource) -> str:
        return self.api.upload(source)

    def submit(self, job: PreparedJob) -> Submission:
        partner_key = self.context.config.comfy_org_api_key or self.settings.api_key
        body = {"prompt": dict(job.graph), "extra_data": {"api_key_comfy_org": partner_key}}
        deadline = time.monotonic() + self.context.config.request_timeout[1] * 2
        try:
            reply = self.api.submit(body, deadline=deadline)
        except APIError as exc:
            if exc.status_code == 400:
                raise validation_error(exc.body, status_code=400, url=exc.url) from exc
            if exc.status_code == 402:
                raise InsufficientBalanceError(
                    f"Comfy Cloud refused the job: no credits left ({exc})",
                    status_code=402,
                    url=exc.url,
                    body=exc.body,
                ) from exc
            raise
        prompt_id = str(reply["prompt_id"])
        with self._lock:
            self._graphs[prompt_id] = job.graph
            while len(self._graphs) > MAX_KEPT_GRAPHS:
                self._graphs.popitem(last=False)
        node_errors = reply.get("node_errors")
        if not node_errors:
            return Submission(prompt_id)
        rejected = validation_error(
            {"node_errors": node_errors}, status_code=200, url=self.http.url("/api/prompt")
        )
        return Submission(prompt_id, rejected=rejected)

    # -- state ------------------------------------------------------------------------------
    def poll(self, prompt_id: str, *, timeout: tuple[float, float] | None) -> Polled:
        status = self.api.status(prompt_id, timeout=timeout)
        return Polled(status.status, status)

    def lost(self, prompt_id: str) -> PromptLostError:
        return PromptLostError(
            f"Comfy Cloud does not know job {prompt_id} (deleted, or never created)",
            prompt_id=prompt_id,
        )

    @contextlib.contextmanager
    def follow(self, watch: JobWatch) -> Iterator[Callable[[float], None]]:
        """Between two polls, report what the account's socket says about the job (when someone
        listens), and poll at once when it says the job ended."""
        with self._lock:
            graph = self._graphs.pop(watch.prompt_id, {})
        if not watch.listening:
            yield time.sleep
            return
        listener = self.stream.listen(watch.prompt_id)
        try:
            yield functools.partial(_report, watch, listener, graph)
        finally:
            self.stream.forget(listener)

    def outcome(
        self, prompt_id: str, polled: Polled, *, timeout: tuple[float, float] | None
    ) -> RunOutcome:
        """The outcome of a job in a terminal state (its details come from ``/api/jobs/{id}``)."""
        status: JobStatus = polled.reply
        detail: Mapping[str, Any] = {}
        if status.status != "lost":
            detail = self.api.job(status.job_id, timeout=timeout)
        return outcome(status, detail, self.api.view_url)

    def cancel(self, prompt_id: str) -> bool:
        """Dequeue a pending job; interrupt a running one if it is the account's only one.

        Comfy Cloud's ``/api/interrupt`` stops every running job of the account, so a running
        job that shares the account with other running jobs is left alone (``ComfyKitError``).
        """
        try:
            state = self.api.status(prompt_id)
        except NotFoundError:
            return False
        if state.terminal:
            return False
        if self.api.delete_pending(prompt_id):
            return True
        running, _ = self.api.queue()
        if prompt_id not in running:
            return False  # it finished (or was dequeued) in the meantime
        others = [job for job in running if job != prompt_id]
        if others:
            raise ComfyKitError(
                f"Comfy Cloud job {prompt_id} is running beside {len(others)} other job(s) of "
                "this account, and Comfy Cloud can only interrupt all of them at once: not "
                "cancelled"
            )
        self.api.interrupt()
        return True

    def close(self) -> None:
        self.stream.close()
        self.http.close()


def _report(watch: JobWatch, listener: Listener, graph: Mapping[str, Any], seconds: float) -> None:
    """Wait ``seconds``, reporting the socket messages ``listener`` receives (node titles from
    ``graph``); return early when the job has ended."""
    until = time.monotonic() + seconds
    while (message := listener.next(until - time.monotonic())) is not None:
        if message[0] == "execution_start":
            watch.start()
        elif (event := event_for(watch.prompt_id, message, graph)) is not None:
            watch.start()  # a node runs: the job has started, whatever the status said
            watch.emit(event)
        if message[0] in FINAL_MESSAGES or time.monotonic() >= until:
            return


@hookimpl
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyCloudBackend)


@hookimpl
def comfykit_register_settings(register: Callable[[Setting], None]) -> None:
    for setting in SETTINGS:
        register(setting)
