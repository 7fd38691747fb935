"""Backend ``comfyui-ws``: submit over HTTP, follow the prompt on the kit's WebSocket.

The kit shares one socket between all its threads (see ``_ws_stream`` for why); it is opened
before the first submit so no event is missed, and each job subscribes to its prompt id before
``POST /prompt``. A job waits on its own event queue and reports progress events:

* completion is ``executing`` with ``node: null`` for the prompt; the outputs and the verdict
  then come from ``/history/{id}``, the authority (a fully cached run sends no ``executed``);
  ``execution_error``/``execution_interrupted`` are only reported once history says so, and the
  non-fatal ``ExecutionBlocked`` notice never ends a job;
* right after submitting, and whenever no event arrived for ``poll_max_interval`` seconds, the
  job asks the server where its prompt is (``ComfyUIClient.state``): that reports the queue
  position, enforces the queue deadline and detects a prompt the server forgot (deleted,
  restarted);
* when the socket drops, events may have been lost, so each waiting job finishes by polling
  with the HTTP backend's :class:`HistoryWaiter` while the reader reconnects.

``Progress.fraction`` is computed from ComfyUI's ``progress_state`` (newer servers)::

    fraction = sum(value) / (sum(max) + unseen)

over the nodes the server reported (running nodes at their step, finished nodes complete),
where ``unseen`` counts the nodes the prompt may run (the submitted graph, or with
``outputs=`` the targets and what they depend on) that are neither reported nor cached yet, as
one step each. It never decreases, and is 1.0 once every node has run (nodes the server skips
because no output needs them keep it a little below). Older servers send only ``progress``:
their events carry the step of the running node and no fraction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

from .._targets import upstream
from ..errors import ComfyKitError, ExecutionTimeout, PromptLostError
from ..events import (
    Event,
    EventCallback,
    NodeCached,
    NodeExecuted,
    NodeExecuting,
    Progress,
    Queued,
    Started,
)
from ..hookspecs import hookimpl
from ..http import request_deadline
from ..params import WorkflowSpec
from ..polling import TRANSIENT_ERRORS
from ._ws_stream import ENDING_EVENTS, Disconnected, EventStream, Message, Subscription
from .base import Backend, BackendContext, PreparedJob, RunOutcome, Submission
from .comfyui import BLOCKED, ComfyUIClient, as_mapping
from .comfyui_http import ComfyUIHttpBackend, HistoryWaiter

log = logging.getLogger(__name__)

#: when a check finds the history of a prompt followed since its submission, wait this long for
#: its final event so that its last events are still reported
FINAL_EVENT_GRACE = 0.5
#: the event a job without listener also wakes for when it has a queue deadline
START = frozenset({"execution_start"})


@attrs.frozen
class _Submitted:
    sub: Subscription
    graph: Mapping[str, Any] = attrs.field(repr=False)
    to_run: frozenset[str] = attrs.field(repr=False)  # the nodes the prompt may run


class ComfyUIWebSocketBackend(ComfyUIHttpBackend):
    """Runs workflows on a ComfyUI server, following them on a shared WebSocket."""

    name = "comfyui-ws"
    capabilities = frozenset({"upload", "cancel", "reattach", "events", "partial", "prompt_id"})

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        config, http = context.config, context.http
        self.stream = EventStream(
            http.websocket_url("/ws", {"clientId": config.client_id}),
            credentials=http.auth.websocket,
            probe=self._probe,
            connect_timeout=config.request_timeout[0],
            max_frame_bytes=config.ws_max_frame_bytes,
        )
        self._submitted: dict[str, _Submitted] = {}
        self._lock = threading.Lock()

    def _probe(self) -> None:
        self.client.http.request(
            "GET", "/system_stats", what="checking the server before reconnecting", attempts=1
        )

    def submit(self, job: PreparedJob) -> Submission:
        epoch = self.stream.open()
        sub = self.stream.subscribe(job.prompt_id, epoch)
        try:
            submission = super().submit(job)
        except BaseException:
            self.stream.unsubscribe(sub)
            raise
        if submission.rejected is not None and self.context.config.on_node_errors != "warn":
            self.stream.unsubscribe(sub)  # the kit cancels the job: nobody waits for it
            return submission
        if submission.prompt_id != job.prompt_id:  # an older server chose its own id
            self.stream.unsubscribe(sub)
            sub = self.stream.subscribe(submission.prompt_id, epoch)
        with self._lock:
            to_run = job.graph if job.targets is None else upstream(job.graph, job.targets)
            self._submitted[submission.prompt_id] = _Submitted(sub, job.graph, frozenset(to_run))
        return submission

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        with self._lock:
            submitted = self._submitted.pop(prompt_id, None)
        sub = submitted.sub if submitted else self._attach(prompt_id)
        if emit is None:  # nobody listens: wake the job for its end (and start: queue deadline)
            sub.wanted = ENDING_EVENTS | (START if queue_deadline is not None else frozenset())
        watch = _PromptWatch(
            self.client,
            sub,
            submitted.graph if submitted else {},
            to_run=submitted.to_run if submitted else frozenset(),
            deadline=deadline,
            queue_deadline=queue_deadline,
            emit=emit,
            max_interval=self.context.config.poll_max_interval,
            check_timeout=self.context.config.cancel_timeout,
            from_submit=submitted is not None,
        )
        try:
            with request_deadline(deadline):
                entry = watch.run()
        finally:
            self.stream.unsubscribe(sub)
        return self.client.outcome(prompt_id, entry)

    def _attach(self, prompt_id: str) -> Subscription:
        """Subscribe to a prompt this backend did not submit; without a socket, it is polled."""
        try:
            epoch = self.stream.open()
        except ComfyKitError as exc:
            log.warning("no WebSocket for prompt %s, polling instead: %s", prompt_id, exc)
            epoch = -1
        return self.stream.subscribe(prompt_id, epoch)

    def close(self) -> None:
        self.stream.close()


class _PromptWatch:
    """Waits for one prompt: on its events while the socket holds, by polling after a drop."""

    def __init__(
        self,
        client: ComfyUIClient,
        sub: Subscription,
        graph: Mapping[str, Any],
        *,
        to_run: Collection[str],
        deadline: float,
        queue_deadline: float | None,
        emit: EventCallback | None,
        max_interval: float,
        check_timeout: float,
        from_submit: bool,
    ) -> None:
        self.client, self.sub, self.graph = client, sub, graph
        self.check_timeout = check_timeout
        self.from_submit = from_submit
        self.prompt_id = sub.prompt_id
        self.deadline, self.queue_deadline = deadline, queue_deadline
        self.max_interval = max_interval
        self.emit: EventCallback = emit or (lambda event: None)
        self.quiet = emit is None
        self.progress = ProgressTracker(to_run)
        self.displays: dict[str, str] = {}  # node id -> display node, as the server said
        self.started = False
        self.position: int | None = None
        self.next_check = self.scheduled_from = 0.0

    def run(self) -> Mapping[str, Any]:
        """The prompt's history entry once it finished.

        The server is asked at once where the prompt is (its queue position, or whether a
        re-attached prompt already finished) — unless nobody listens for events — then only when
        its events stop.
        """
        # Nobody listening for the queue position and no queue deadline: a fresh job only needs
        # the server's word when its events stop (saves a /queue request per job).
        quiet = self.from_submit and self.quiet and self.queue_deadline is None
        self._schedule_check(self.max_interval if quiet else 0.0)
        entry = self._follow_events()
        if entry is None:  # the socket dropped (events may be lost) or history failed: poll
            entry = HistoryWaiter(
                self.client,
                self.prompt_id,
                deadline=self.deadline,
                queue_deadline=None if self.started else self.queue_deadline,
                emit=self._emit_once,
                check_timeout=self.check_timeout,
            ).wait(max_interval=self.max_interval)
        return entry

    def _follow_events(self) -> Mapping[str, Any] | None:
        """Wait on the socket; ``None`` when it dropped."""
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                raise ExecutionTimeout(
                    f"prompt {self.prompt_id} did not finish before the deadline",
                    prompt_id=self.prompt_id,
                )
            item = self.sub.get(min(self.deadline, self.next_check) - now)
            if isinstance(item, Disconnected):
                return None
            if item is None:
                if not self._heard_since_scheduled() and time.monotonic() >= self.next_check:
                    entry = self._check()
                    if entry is not None:
                        if self.from_submit:  # its last events are still on their way
                            self._drain(FINAL_EVENT_GRACE)
                        return entry
            elif self._handle(item):
                return self._final_entry()

    def _schedule_check(self, delay: float, since: float | None = None) -> None:
        """Check the server ``delay`` seconds after ``since`` (now), or at the queue deadline
        if sooner."""
        now = time.monotonic()
        self.scheduled_from = now if since is None else since
        self.next_check = self.scheduled_from + delay
        if self.queue_deadline is not None and not self.started and self.queue_deadline > now:
            self.next_check = min(self.next_check, self.queue_deadline)

    def _heard_since_scheduled(self) -> bool:
        """Whether events not queued for this job (``Subscription.wanted``) came since the check was
        scheduled: they postpone it, as a handled event would."""
        heard = self.sub.last_heard
        if heard <= self.scheduled_from:
            return False
        self._schedule_check(self.max_interval, since=heard)
        return time.monotonic() < self.next_check

    def _check(self) -> Mapping[str, Any] | None:
        """Ask the server where the prompt is: the entry if it finished, else ``None``.

        Reports the queue position, enforces the queue deadline and detects a lost prompt;
        transient errors just wait for the next check. Until the prompt starts, a check ends
        ``check_timeout`` seconds after the queue deadline at the latest, and one that fails
        then fires the queue deadline.
        """
        self._schedule_check(self.max_interval)
        bound = None
        if self.queue_deadline is not None and not self.started:
            bound = max(self.queue_deadline, time.monotonic()) + self.check_timeout
        try:
            with request_deadline(bound):
                state = self.client.state(self.prompt_id)
                if state.finished:
                    return self.client.history(self.prompt_id)
        except TRANSIENT_ERRORS as exc:
            if self._queue_expired():
                raise self._queue_timeout() from exc
            log.debug("checking prompt %s failed, will retry: %s", self.prompt_id, exc)
            return None
        if state.state == "running":
            self._emit_once(Started(self.prompt_id))
        elif state.state == "pending":
            self._emit_once(Queued(self.prompt_id, state.position))
            if self._queue_expired():
                raise self._queue_timeout()
        elif state.state == "unknown":
            raise PromptLostError(
                f"prompt {self.prompt_id} is neither queued, running nor in the history: it was "
                "deleted, or the server restarted",
                prompt_id=self.prompt_id,
            )
        return None

    def _queue_expired(self) -> bool:
        return (
            self.queue_deadline is not None
            and not self.started
            and time.monotonic() >= self.queue_deadline
        )

    def _queue_timeout(self) -> ExecutionTimeout:
        return ExecutionTimeout(
            f"prompt {self.prompt_id} was still queued at its queue deadline",
            prompt_id=self.prompt_id,
            deadline="queue",
        )

    def _final_entry(self) -> Mapping[str, Any] | None:
        """The history entry after the final event (``None``: poll for it instead)."""
        try:
            return self.client.history(self.prompt_id)
        except TRANSIENT_ERRORS as exc:
            log.debug("reading the history of %s failed, polling: %s", self.prompt_id, exc)
            return None

    def _drain(self, seconds: float) -> None:
        """Handle events for up to ``seconds``, returning early after the final one."""
        until = time.monotonic() + seconds
        while True:
            item = self.sub.get(until - time.monotonic())
            if item is None:
                if time.monotonic() >= until:
                    return
            elif isinstance(item, Message) and self._handle(item):
                return

    def _emit_once(self, event: Event) -> None:
        """Emit, except a repeated ``Started`` or a ``Queued`` that tells nothing new (the
        socket, the checks and the polling fallback all report them)."""
        if isinstance(event, Started):
            if self.started:
                return
            self.started = True
        elif isinstance(event, Queued):
            if self.started or event.position == self.position:
                return
            self.position = event.position
        self.emit(event)

    def _handle(self, message: Message) -> bool:
        """Report one event of the prompt; True for the final ``executing`` ``null``."""
        self._schedule_check(self.max_interval)
        kind, data = message.type, message.data
        if kind == "executing":
            if data.get("node") is None:
                return True
            node_id = str(data["node"])
            display = self._display_node(node_id, data.get("display_node"))
            graph_node = self._graph_node(node_id)
            shown = self._graph_node(display) if display else graph_node
            meta = as_mapping(shown.get("_meta"))
            self.emit(
                NodeExecuting(
                    self.prompt_id,
                    node_id,
                    meta.get("title"),
                    graph_node.get("class_type"),
                    display,
                )
            )
        elif kind == "execution_start":
            self._emit_once(Started(self.prompt_id))
        elif kind == "execution_cached":
            nodes = tuple(str(n) for n in data.get("nodes") or ())
            self.progress.cached(nodes)
            if nodes:
                self.emit(NodeCached(self.prompt_id, nodes))
        elif kind == "progress_state":
            step = self.progress.update(data.get("nodes"))
            if step is not None:
                node_id, display, value, maximum, fraction = step
                self.displays[node_id] = display
                self.emit(Progress(self.prompt_id, node_id, value, maximum, fraction, display))
        elif kind == "progress" and not self.progress.has_state:
            node = None if data.get("node") is None else str(data["node"])
            value, maximum = _int(data.get("value")), _int(data.get("max"))
            display = self.displays.get(node) if node else None
            self.emit(Progress(self.prompt_id, node, value, maximum, display_node=display))
        elif kind == "executed" and data.get("node") is not None:
            node_id = str(data["node"])
            display = self._display_node(node_id, data.get("display_node"))
            self.emit(NodeExecuted(self.prompt_id, node_id, display))
        elif kind == "execution_error" and data.get("exception_type") == BLOCKED:
            log.info("prompt %s: %s", self.prompt_id, data.get("exception_message"))
        return False

    def _display_node(self, node_id: str, reported: Any) -> str | None:
        """The display node the server reported for ``node_id`` (remembered for ``progress``
        messages, which carry none), or the one reported before."""
        if reported is not None:
            self.displays[node_id] = str(reported)
        return self.displays.get(node_id)

    def _graph_node(self, node_id: str) -> Mapping[str, Any]:
        node = self.graph.get(node_id)
        return node if isinstance(node, Mapping) else {}


class ProgressTracker:
    """The whole job's progress fraction from ``progress_state`` (formula in the module doc)."""

    def __init__(self, to_run: Collection[str]) -> None:
        self.expected = set(to_run)
        self.nodes: dict[str, tuple[int, int, str]] = {}  # id -> (value, max, display id)
        self.has_state = False
        self.fraction = 0.0

    def cached(self, node_ids: tuple[str, ...]) -> None:
        self.expected.difference_update(node_ids)

    def update(self, nodes: Any) -> tuple[str, str, int, int, float] | None:
        """Take a ``progress_state``; return (node, display node, value, max, fraction) of the
        last node that changed, or ``None`` if nothing did."""
        if not isinstance(nodes, Mapping):
            return None
        self.has_state = True
        changed: tuple[str, str, int, int] | None = None
        for node_id, state in nodes.items():
            if not isinstance(state, Mapping):
                continue
            maximum = max(1, _int(state.get("max")))
            value = maximum if state.get("state") == "finished" else _int(state.get("value"))
            value = min(max(0, value), maximum)
            display = str(state.get("display_node_id") or node_id)
            entry = (value, maximum, display)
            if self.nodes.get(str(node_id)) != entry:
                self.nodes[str(node_id)] = entry
                changed = (str(node_id), display, value, maximum)
        if changed is None:
            return None
        reported = {display for _, _, display in self.nodes.values()}
        unseen = len(self.expected - reported)
        done = sum(value for value, _, _ in self.nodes.values())
        total = sum(maximum for _, maximum, _ in self.nodes.values()) + unseen
        self.fraction = max(self.fraction, done / total if total else 1.0)
        return (*changed, self.fraction)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@hookimpl(trylast=True)
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ComfyUIWebSocketBackend)
