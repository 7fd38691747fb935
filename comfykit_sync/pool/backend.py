"""The pool: one kit, several ComfyUI servers (``comfyui_url=[...]``), each job on one of them.

A pool composes one backend per server (the kit's HTTP or WebSocket backend, each with its own
connections) and places each job (:meth:`ServerPool.place`) before anything is uploaded:

1. **capable** servers have every node class of the graph and every value of its combo inputs
   among the options their ``/object_info`` lists (``needs``); none → ``NoCapableServerError``
   naming what each server lacks, before anything is sent;
2. **healthy** ones first (a server is down from a failed connection until a probe answers);
3. the **least loaded** (its queue plus this kit's jobs sent there since it was read), ties
   going to the server that last ran the same workflow (its models are likely still loaded),
   then to the one chosen least recently.

The job then sticks to its server: its uploads, submit, status, wait, cancel and downloads go
through a view of the pool on that server (:class:`OnServer`). A submit that certainly did not
reach its server moves on to the next capable one; one whose outcome is unknown is resolved on
that same server by its client ``prompt_id`` (``ComfyUIClient.submit``), never sent elsewhere.
A server that refuses connections for ``server_lost_after`` seconds while it runs our jobs has
lost them (``PromptLostError``); the kit resubmits them elsewhere only with ``resubmit_lost``.
A job submitted elsewhere (another process, an older kit) is found by asking every server.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from ..backends.base import (
    Backend,
    BackendContext,
    JobRequest,
    JobState,
    PreparedJob,
    RunOutcome,
    Submission,
)
from ..errors import (
    ComfyKitError,
    ConfigurationError,
    ExecutionTimeout,
    NoCapableServerError,
    PromptLostError,
    TransportError,
    WorkflowValidationError,
)
from .member import REFRESH_AFTER, Member
from .needs import Needs, lacks, needs_of
from .report import ServerInfo, probe

if TYPE_CHECKING:
    from ..backends.comfyui_http import ComfyUIHttpBackend
    from ..events import EventCallback
    from ..params import UploadSource, WorkflowSpec

log = logging.getLogger(__name__)

T = TypeVar("T")

#: prompt ids remembered with their server (older ones are found again by asking the servers)
MAX_REMEMBERED = 65536
#: workflows remembered with the server that last ran them
MAX_WORKFLOWS = 1024
#: validation error types that mean the server lacks a node class or a combo value
MISSING_ON_SERVER = ("value_not_in_list", "invalid_prompt")


@functools.cache
def pool_class(member_class: type[ComfyUIHttpBackend]) -> type[ServerPool]:
    """The pool of ``member_class`` backends: same name and capabilities."""
    common = {"name": member_class.name, "capabilities": member_class.capabilities}
    view = type(f"{member_class.__name__}OnServer", (OnServer,), common)
    namespace = {**common, "member_class": member_class, "view_class": view}
    return type(f"{member_class.__name__}Pool", (ServerPool,), namespace)


class ServerPool(Backend):
    """Runs each job on one of several ComfyUI servers (see the module documentation)."""

    member_class: ClassVar[type[ComfyUIHttpBackend]]
    view_class: ClassVar[type[OnServer]]

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        config = context.config
        clients = context.clients or (context.http,)
        self.members: tuple[Member, ...] = ()
        for server, client in zip(config.servers, clients, strict=True):
            member_config = attrs.evolve(config, comfyui_url=server.url, servers=(server,))
            backend = self.member_class(
                BackendContext(member_config, client, context.plugin_manager, (client,))
            )
            backend.client.lost_after = config.server_lost_after
            member = Member(server.url, backend)
            member.view = self.view_class(self, member)
            self.members += (member,)
        self._jobs: OrderedDict[str, Member] = OrderedDict()
        self._last_ran: OrderedDict[str, Member] = OrderedDict()
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({[m.url for m in self.members]!r})"

    # -- placing jobs -----------------------------------------------------------------------
    def place(self, request: JobRequest) -> Generator[Backend, None, None]:
        """The job's server, then (when the submit certainly did not reach it) the next one."""
        needs = needs_of(request.graph, skip=request.uploads, targets=request.targets)
        tried: list[Member] = []
        while True:
            member = self._choose(needs, request, tried)
            if member is None:
                raise self._unreachable(tried)
            tried.append(member)
            try:
                yield member.view
            finally:
                member.unreserve()

    def _choose(self, needs: Needs, request: JobRequest, tried: list[Member]) -> Member | None:
        """The best server not tried yet, reserved for the job; ``None`` when none is left.

        Raises ``NoCapableServerError`` (or ``TransportError`` when servers that might have
        what it needs cannot be asked) if no server can run the job at all.
        """
        candidates = [m for m in self.members if m.url not in request.exclude and m not in tried]
        capable, lacking, unknown = self._capable(needs, candidates)
        if not capable and not tried and lacking and not unknown:
            # nothing fits: fetch definitions older than REFRESH_AFTER (new nodes or models?)
            capable, lacking, unknown = self._capable(needs, candidates, max_age=REFRESH_AFTER)
        healthy = [m for m in capable if m.healthy]
        if healthy:
            self._each(Member.read_queue_if_stale, [m for m in healthy if m.queue_stale()])
            healthy = [m for m in healthy if m.healthy]  # a read may have found one down
        if healthy:
            return self._least_loaded(healthy, request.workflow_key)
        if capable:  # every capable server is down: try the one down longest (it may be back)
            member = min(capable, key=lambda m: m.down_since or 0.0)
            member.reserve()
            return member
        if tried or not candidates:
            return None
        if unknown:
            reasons = [f"{url}: {why}" for url, why in unknown.items()]
            reasons += [f"{url}: {'; '.join(what)}" for url, what in lacking.items()]
            raise TransportError(
                "no reachable server of the pool can run this workflow: " + " | ".join(reasons),
                sent=False,
            )
        raise NoCapableServerError(
            "no server of the pool can run this workflow: "
            + " | ".join(f"{url} lacks {'; '.join(what)}" for url, what in lacking.items()),
            missing=lacking,
        )

    def _capable(
        self, needs: Needs, members: list[Member], *, max_age: float | None = None
    ) -> tuple[list[Member], dict[str, tuple[str, ...]], dict[str, str]]:
        """(capable members, what the others lack by URL, why some could not be told)."""

        def definitions(member: Member) -> Mapping[str, Any] | None:
            return member.definitions(fetch=member.healthy, max_age=max_age)

        due = [m for m in members if m.healthy and m.definitions_due(max_age)]
        fetched = dict(zip(due, self._each(definitions, due), strict=True))
        capable, lacking, unknown = [], {}, {}
        for member in members:
            found = fetched[member] if member in fetched else member.definitions(fetch=False)
            if found is None:
                unknown[member.url] = member.last_error or "its node definitions are unknown"
                continue
            missing = lacks(needs, found)
            if missing:
                lacking[member.url] = missing
            else:
                capable.append(member)
        return capable, lacking, unknown

    def _least_loaded(self, members: list[Member], workflow_key: str) -> Member:
        with self._lock:
            warm = self._last_ran.get(workflow_key)
            best = min(members, key=lambda m: (m.load(), m is not warm, m.chosen))
            best.reserve()
            best.chosen = next(self._sequence)
            self._last_ran[workflow_key] = best
            self._last_ran.move_to_end(workflow_key)
            if len(self._last_ran) > MAX_WORKFLOWS:
                self._last_ran.popitem(last=False)
        return best

    def _unreachable(self, tried: list[Member]) -> TransportError:
        if not tried:
            return TransportError("no other server of the pool can take the job", sent=False)
        reasons = " | ".join(f"{m.url}: {m.last_error or 'unreachable'}" for m in tried)
        return TransportError(f"no server of the pool took the job: {reasons}", sent=False)

    # -- jobs and their servers -------------------------------------------------------------
    def remember(self, prompt_id: str, member: Member) -> None:
        with self._lock:
            self._jobs[prompt_id] = member
            self._jobs.move_to_end(prompt_id)
            if len(self._jobs) > MAX_REMEMBERED:
                self._jobs.popitem(last=False)

    def forget(self, prompt_id: str) -> None:
        with self._lock:
            self._jobs.pop(prompt_id, None)

    def attach(self, prompt_id: str) -> Backend:
        """The view of the server that has the job (asked in parallel); the pool itself when
        none does, or none could be asked."""
        try:
            member = self._find(prompt_id)
        except TransportError as exc:
            log.warning("prompt %s: %s", prompt_id, exc)
            return self
        return member.view if member is not None else self

    def _find(self, prompt_id: str) -> Member | None:
        """The server that has the job: remembered, or found by asking every server.

        ``None`` when every server answered that it does not know the id; ``TransportError``
        when none knows it and some could not be asked.
        """
        with self._lock:
            member = self._jobs.get(prompt_id)
        if member is not None:
            return member
        answers = self._each(lambda m: _knows(m, prompt_id), self.members)
        asked = list(zip(self.members, answers, strict=True))
        for member, answer in asked:
            if answer is True:
                self.remember(prompt_id, member)
                return member
        failed = [(m, a) for m, a in asked if isinstance(a, ComfyKitError)]
        if failed:
            raise TransportError(
                f"no reachable server of the pool knows prompt {prompt_id}; not asked: "
                + " | ".join(f"{m.url}: {a}" for m, a in failed)
            )
        return None

    def server_for(self, prompt_id: str) -> str | None:
        with self._lock:
            member = self._jobs.get(prompt_id)
        return member.url if member else None

    # -- Backend: a job the pool did not place (re-attached) --------------------------------
    def upload(self, source: UploadSource) -> str:
        raise ConfigurationError(
            "a pool uploads each job's media to the server the job runs on: submit the job "
            "through the kit (kit.submit / kit.execute)"
        )

    def submit(self, job: PreparedJob) -> Submission:
        request = JobRequest(job.prompt_id, job.workflow, job.spec, job.values, job.targets)
        placements = self.place(request)
        try:
            for view in placements:
                try:
                    return view.submit(job)
                except TransportError as exc:
                    if exc.sent is not False:
                        raise
        finally:
            placements.close()
        raise AssertionError("unreachable: place() raises when no server is left")

    def status(self, prompt_id: str) -> JobState:
        member = self._find(prompt_id)
        return member.view.status(prompt_id) if member else JobState("unknown")

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        member = self._find(prompt_id)
        if member is None:
            raise PromptLostError(
                f"no server of the pool knows prompt {prompt_id} "
                f"(asked {', '.join(m.url for m in self.members)})",
                prompt_id=prompt_id,
            )
        return member.view.wait(
            prompt_id, spec, deadline=deadline, queue_deadline=queue_deadline, emit=emit
        )

    def outputs(self, prompt_id: str, spec: WorkflowSpec | None) -> RunOutcome | None:
        member = self._find(prompt_id)
        return member.view.outputs(prompt_id, spec) if member else None

    def cancel(self, prompt_id: str) -> bool:
        member = self._find(prompt_id)
        return member.view.cancel(prompt_id) if member else False

    def output_node_classes(self, class_types: Collection[str]) -> Mapping[str, bool]:
        """From the definitions a server already sent, else asked of the healthy servers."""
        for member in self.members:
            found = member.definitions(fetch=False)
            if found is not None:
                flags = {c: found[c].get("output_node") for c in class_types if c in found}
                return {c: flag for c, flag in flags.items() if isinstance(flag, bool)}
        for member in self.members:
            if member.healthy:
                answer = member.backend.output_node_classes(class_types)
                if answer:
                    return answer
        return {}

    # -- health -----------------------------------------------------------------------------
    def servers(self) -> list[ServerInfo]:
        """Each server's health, read from it now (in parallel)."""

        def report(member: Member) -> ServerInfo:
            info = probe(member.client, self.context.config.client_id, member.last_error)
            if info.healthy:
                member.mark_up()
            return info

        return self._each(report, self.members)

    # -- helpers ----------------------------------------------------------------------------
    def _each(self, fn: Callable[[Member], T], members: Iterable[Member]) -> list[T]:
        """``fn`` of each member, in parallel when there are several (in order), each in a copy
        of the caller's context (so its ``request_deadline`` bounds them too)."""
        members = list(members)
        if len(members) < 2:
            return [fn(m) for m in members]
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=len(self.members), thread_name_prefix="comfykit-pool"
                )
            executor = self._executor
        contexts = [contextvars.copy_context() for _ in members]
        return list(executor.map(lambda ctx, m: ctx.run(fn, m), contexts, members))

    def close(self) -> None:
        for member in self.members:
            member.close()
            try:
                member.backend.close()
            except Exception as exc:  # closing must go on for the others
                log.warning("closing the backend of %s failed: %s", member.url, exc)
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _knows(member: Member, prompt_id: str) -> bool | ComfyKitError:
    """Whether the server has the prompt (queued, running or in history), or why it could not
    be asked."""
    try:
        return member.call(member.client.is_known, prompt_id)
    except ComfyKitError as exc:
        return exc


class OnServer(Backend):
    """A pool's jobs on one of its servers: every call goes to that server's backend, and what
    it shows about the server's health is recorded for routing."""

    def __init__(self, pool: ServerPool, member: Member) -> None:
        super().__init__(member.backend.context)
        self.pool, self.member = pool, member

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.member.url!r})"

    @property
    def default_timeout(self) -> float:
        return self.member.backend.default_timeout

    def upload(self, source: UploadSource) -> str:
        return self.member.call(self.member.backend.upload, source)

    def submit(self, job: PreparedJob) -> Submission:
        try:
            submission = self.member.call(self.member.backend.submit, job)
        except WorkflowValidationError as exc:
            if _names_something_missing(exc):  # the definitions we placed it by are outdated
                self.member.invalidate()
            raise
        self.member.submitted()
        self.pool.remember(submission.prompt_id, self.member)
        return submission

    def status(self, prompt_id: str) -> JobState:
        return self.member.call(self.member.backend.status, prompt_id)

    def wait(
        self,
        prompt_id: str,
        spec: WorkflowSpec | None,
        *,
        deadline: float,
        queue_deadline: float | None = None,
        emit: EventCallback | None = None,
    ) -> RunOutcome:
        try:
            outcome = self.member.backend.wait(
                prompt_id, spec, deadline=deadline, queue_deadline=queue_deadline, emit=emit
            )
        except ExecutionTimeout:
            raise  # the job goes on (or the kit cancels it): it stays where it is
        except PromptLostError as exc:
            self._done(prompt_id)
            if self.member.url in str(exc):
                raise
            raise PromptLostError(f"{exc} (server {self.member.url})", prompt_id=prompt_id) from exc
        self._done(prompt_id)
        return outcome

    def _done(self, prompt_id: str) -> None:
        """The job left the server's queue."""
        self.member.finished()
        self.pool.forget(prompt_id)

    def outputs(self, prompt_id: str, spec: WorkflowSpec | None) -> RunOutcome | None:
        return self.member.call(self.member.backend.outputs, prompt_id, spec)

    def cancel(self, prompt_id: str) -> bool:
        return self.member.call(self.member.backend.cancel, prompt_id)

    def output_node_classes(self, class_types: Collection[str]) -> Mapping[str, bool]:
        return self.member.backend.output_node_classes(class_types)

    def server_for(self, prompt_id: str) -> str | None:
        return self.member.url


def _names_something_missing(error: WorkflowValidationError) -> bool:
    """Whether a rejection says the server lacks a node class or a combo value."""
    body: Mapping[str, Any] = error.body if isinstance(error.body, Mapping) else {}
    top = body.get("error")
    types = {top.get("type") if isinstance(top, Mapping) else None}
    for entry in error.node_errors.values():
        for item in entry.get("errors", []) if isinstance(entry, Mapping) else []:
            if isinstance(item, Mapping):
                types.add(item.get("type"))
    return any(kind in MISSING_ON_SERVER for kind in types)
