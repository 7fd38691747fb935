"""Fake execution of one queued prompt: timing, caching and the per-node WebSocket events.

The event sequence follows ComfyUI's ``PromptExecutor.execute_async``:
``execution_start``, ``execution_cached``, per executed node ``executing``
(+ ``progress`` for samplers, ``progress_state``) and ``executed`` for nodes
with UI output, then ``execution_success`` / ``execution_error`` /
``execution_interrupted``. The history write and the final ``executing``
``null`` are the server's job.

Node expansion (``Script.expand_node``) follows ComfyUI's ephemeral nodes: a
node that expands runs (``executing`` with its own id), then the nodes it
created run under ids ``<node>.<call>.<graph>.<n>`` with ``display_node`` and
``parent_node`` naming it; their UI output is recorded under their own ids,
``meta`` mapping them back. Failures name the workflow node (ComfyUI's
``real_node_id``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

import attrs

from ._behaviour import ALWAYS_CHANGED, UI, NodeContext, NodeResult, run_node
from ._folders import Folders
from ._media import jpeg_gray
from ._nodes import CATALOGUE, InputFiles
from ._records import PromptRecord, Script
from ._validation import is_link

SAMPLERS = ("KSampler", "KSamplerAdvanced")
_BLOCKED = object()  # the value of an output slot whose node was blocked


class Interrupt:
    """A one-shot flag a run can sleep on until a deadline (one future and timer per sleep)."""

    def __init__(self) -> None:
        self._set = False
        self._sleepers: set[asyncio.Future[None]] = set()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        for sleeper in self._sleepers:
            if not sleeper.done():
                sleeper.set_result(None)

    async def sleep_until(self, when: float) -> bool:
        """Sleep until loop time ``when`` (always yields once); ``True`` if interrupted."""
        if self._set:
            return True
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_at(when, _wake, sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)
        return self._set


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


@attrs.define(eq=False)
class Job:
    """One queue item: ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``."""

    number: float
    seq: int
    prompt_id: str
    graph: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    script: Script
    record: PromptRecord
    interrupt: Interrupt = attrs.field(factory=Interrupt)
    last_node: str | None = None

    @property
    def client_id(self) -> str | None:
        """The socket id events go to (None: lifecycle events are not sent)."""
        return self.extra_data.get("client_id")

    def queue_item(self) -> list[Any]:
        """The positional item of ``GET /queue``."""
        return [self.number, self.prompt_id, self.graph, self.extra_data, self.outputs]


@attrs.frozen
class CacheEntry:
    """Outputs of a node run, reusable by any later node with the same signature."""

    values: tuple[Any, ...]
    ui: UI | None


@attrs.frozen
class Outcome:
    """How a run ended: ``status`` is "success", "error" or "interrupted".

    ``completed`` is what the history's ``status_str`` / ``completed`` say: ComfyUI
    0.3.64 reports a failure found between nodes (a dependency cycle made by an
    expansion) in the messages only, under ``status_str: "success"``.
    """

    status: str
    messages: list[list[Any]]
    outputs: dict[str, UI]
    meta: dict[str, dict[str, Any]]
    completed: bool


class OutputCache:
    """ComfyUI's classic output cache, keyed by node signature.

    Like ComfyUI it only keeps entries the current prompt can use: each run
    first drops every entry whose signature does not occur in its graph.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._entries: dict[str, CacheEntry] = {}

    def keep_only(self, signatures: set[str]) -> None:
        """Drop entries the starting prompt cannot use."""
        self._entries = {k: v for k, v in self._entries.items() if k in signatures}

    def get(self, signature: str) -> CacheEntry | None:
        """The cached entry for ``signature``, if any."""
        return self._entries.get(signature)

    def put(self, signature: str, entry: CacheEntry) -> None:
        """Remember a node's outputs (no-op when caching is disabled)."""
        if self.enabled:
            self._entries[signature] = entry

    def clear(self) -> None:
        """Forget everything (server restart)."""
        self._entries.clear()


def signatures(
    graph: dict[str, Any], folders: Folders, changed: Collection[str] = ()
) -> dict[str, str]:
    """Per node: a hash of its class, literal inputs, upstream signatures and input files.

    Nodes in ``changed`` get a fresh signature (like an ``IS_CHANGED`` that
    never matches), which also changes the signatures of everything downstream.
    """
    done: dict[str, str] = {}

    def signature(node_id: str, visiting: frozenset[str]) -> str:
        if node_id in done:
            return done[node_id]
        node = graph[node_id]
        parts: list[Any] = [node["class_type"]]
        inputs = node.get("inputs", {})
        for key in sorted(inputs):
            value = inputs[key]
            if is_link(value) and value[0] in graph and value[0] not in visiting:
                parts.append([key, signature(value[0], visiting | {node_id}), value[1]])
            else:
                parts.append([key, value])
        parts.append(_file_state(node, folders))
        if node_id in changed:
            parts.append(uuid.uuid4().hex)
        raw = json.dumps(parts, sort_keys=True, default=str).encode()
        done[node_id] = hashlib.sha256(raw).hexdigest()
        return done[node_id]

    return {node_id: signature(node_id, frozenset()) for node_id in graph}


def _file_state(node: dict[str, Any], folders: Folders) -> list[Any]:
    """Size and mtime of the input files a loader reads (its ``IS_CHANGED``)."""
    definition = CATALOGUE[node["class_type"]]
    state: list[Any] = []
    for name, spec in definition.required.items():
        if isinstance(spec[0], InputFiles):
            path = folders.resolve_annotated(str(node.get("inputs", {}).get(name, "")))
            stat = path.stat() if path else None
            state.append([stat.st_size, stat.st_mtime_ns] if stat else None)
    return state


def execution_order(graph: dict[str, Any], outputs: list[str], cached: set[str]) -> list[str]:
    """Depth-first dependency order from the output nodes.

    Cached nodes are only listed when they are output nodes (their cached UI
    is replayed); their inputs are not needed.
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        if node_id not in cached:
            for source in _sources(graph, node_id):
                if source not in cached:
                    visit(source)
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


def _sources(graph: dict[str, Any], node_id: str) -> list[str]:
    node = graph[node_id]
    inputs = node.get("inputs", {})
    names = CATALOGUE[node["class_type"]].declared_inputs()
    return [inputs[n][0] for n in names if n in inputs and is_link(inputs[n])]


def _format_value(value: Any) -> Any:
    """ComfyUI's ``format_value`` for ``current_inputs``."""
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


class _Interrupted(Exception):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


class _DependencyCycle(Exception):
    """No node can run: the nodes an expansion created depend on each other."""

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


class _NodeFailed(Exception):
    def __init__(self, node_id: str, kind: str, message: str, inputs: dict[str, Any]) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.kind = kind
        self.message = message
        self.inputs = inputs


SendEvent = Callable[[Job, str, dict[str, Any], bool], None]
SendImage = Callable[[Job, dict[str, Any], bytes, str], None]
SendText = Callable[[str, str], None]


class Executor:
    """Runs jobs: shared cache and folders, events handed to the server's callbacks.

    ``send(job, event, data, broadcast)`` must deliver to the job's client, or
    to every socket when the job has no client and ``broadcast`` is true;
    ``send_image(job, ids, image, mime)`` sends a binary image frame the same way (``ids``:
    the node's ids for the metadata format); ``send_text(node_id, text)`` a binary TEXT
    frame to every socket. ``previews`` makes samplers send a preview image per step.
    """

    def __init__(
        self,
        folders: Folders,
        cache: OutputCache,
        send: SendEvent,
        send_image: SendImage,
        send_text: SendText,
        *,
        previews: bool,
    ) -> None:
        self.folders = folders
        self.cache = cache
        self.send = send
        self.send_image = send_image
        self.send_text = send_text
        self.previews = previews

    async def run(self, job: Job, duration: float) -> Outcome:
        """Execute ``job`` for about ``duration`` seconds (cached nodes take no time)."""
        return await _Run(self, job).execute(duration)


class _Run:
    """The state of one execution."""

    def __init__(self, executor: Executor, job: Job) -> None:
        self.executor = executor
        self.job = job
        self.graph = job.graph
        self.nodes: dict[str, Any] = dict(job.graph)  # plus the nodes expansions create
        self.parents: dict[str, str] = {}  # node created by expansion -> the node that made it
        self.script = job.script
        self.messages: list[list[Any]] = []
        self.executed: list[str] = []
        self.values: dict[str, tuple[Any, ...]] = {}
        self.outputs: dict[str, UI] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.signatures: dict[str, str] = {}
        self.cached: dict[str, CacheEntry] = {}  # taken at start: other runs may prune the cache
        self.planned_end = 0.0  # loop time the current sleep ends: lag never accumulates

    def send(self, event: str, data: dict[str, Any], broadcast: bool = False) -> None:
        self.executor.send(self.job, event, data, broadcast)

    def message(self, event: str, data: dict[str, Any], broadcast: bool = False) -> None:
        """An event recorded in the history ``status.messages`` (with ms timestamp)."""
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.messages.append([event, data])
        self.send(event, data, broadcast)

    async def execute(self, duration: float) -> Outcome:
        prompt_id = self.job.prompt_id
        cache = self.executor.cache
        self.message("execution_start", {"prompt_id": prompt_id})
        script = self.script
        forced = [n for n in (script.error_node, script.blocked_node, script.expand_node) if n]
        forced += [n for n, node in self.graph.items() if node["class_type"] in ALWAYS_CHANGED]
        self.signatures = signatures(self.graph, self.executor.folders, forced)
        cache.keep_only(set(self.signatures.values()))
        for node_id, signature in self.signatures.items():
            entry = cache.get(signature)
            if entry is not None:
                self.cached[node_id] = entry
        cached_ids = [n for n in self.graph if n in self.cached]
        self.message("execution_cached", {"nodes": cached_ids, "prompt_id": prompt_id})
        order = execution_order(self.graph, self.job.outputs, set(self.cached))
        to_run = [node_id for node_id in order if node_id not in self.cached]
        share = duration / len(to_run) if to_run else 0.0
        self.planned_end = asyncio.get_running_loop().time()
        status, completed = "success", True
        try:
            for node_id in order:
                if node_id in self.cached:
                    self._replay_cached(node_id)
                else:
                    await self._run_node(node_id, share)
        except _Interrupted as stop:
            status, completed = "interrupted", False
            real = self._real(stop.node_id)
            self.message(
                "execution_interrupted",
                {
                    "prompt_id": prompt_id,
                    "node_id": real,
                    "node_type": self.graph[real]["class_type"],
                    "executed": list(self.executed),
                },
                broadcast=True,
            )
        except _NodeFailed as failure:
            status, completed = "error", False
            self.message("execution_error", self._error_data(failure, cached_ids))
        except _DependencyCycle as cycle:
            status = "error"  # ``completed`` stays: the last node run returned normally
            self.message("execution_error", self._cycle_data(cycle, cached_ids))
        else:
            self.message("execution_success", {"prompt_id": prompt_id})
        self._publish_leftovers()
        return Outcome(status, self.messages, self.outputs, self.meta, completed)

    def _publish_leftovers(self) -> None:
        """ComfyUI's history lists the cached UI of every node of the graph (``caches.ui``), so
        an output node this prompt did not run (not a partial-execution target, or not reached)
        shows its UI from an earlier run with the same inputs."""
        for node_id, entry in self.cached.items():
            if node_id not in self.outputs:
                self._publish(node_id, self._scripted_ui(node_id, entry.ui))

    def _cycle_data(self, cycle: _DependencyCycle, current_outputs: list[str]) -> dict[str, Any]:
        """ComfyUI's report of a cycle found when staging the next node (no inputs, no trace)."""
        return {
            "prompt_id": self.job.prompt_id,
            "node_id": cycle.node_id,
            "node_type": self.graph[cycle.node_id]["class_type"],
            "executed": list(self.executed),
            "exception_message": "Dependency cycle detected",
            "exception_type": "graph.DependencyCycleError",
            "traceback": [],
            "current_inputs": [],
            "current_outputs": current_outputs,
        }

    def _error_data(self, failure: _NodeFailed, current_outputs: list[str]) -> dict[str, Any]:
        real = self._real(failure.node_id)
        node_type = self.graph[real]["class_type"]
        return {
            "prompt_id": self.job.prompt_id,
            "node_id": real,
            "node_type": node_type,
            "executed": list(self.executed),
            "exception_message": f"{failure.message}\n",
            "exception_type": failure.kind,
            "traceback": [
                '  File "/ComfyUI/execution.py", line 496, in execute\n'
                "    output_data, output_ui, has_subgraph, has_pending_tasks = "
                "await get_output_data(prompt_id, unique_id, obj, input_data_all)\n",
                f'  File "/ComfyUI/nodes.py", line 1, in {node_type}\n'
                f"    raise {failure.kind}({failure.message!r})\n",
            ],
            "current_inputs": {k: [_format_value(v)] for k, v in failure.inputs.items()},
            "current_outputs": current_outputs,
        }

    def _real(self, node_id: str) -> str:
        """The workflow node a node created by expansion descends from (ComfyUI's
        ``real_node_id``); a workflow node itself.

        It is also the node's ``display_node``: the fake's expansions never override it.
        """
        while node_id in self.parents:
            node_id = self.parents[node_id]
        return node_id

    def _ids(self, node_id: str) -> dict[str, Any]:
        """The node's ids as ``progress_state`` and preview metadata carry them."""
        return {
            "node_id": node_id,
            "display_node_id": self._real(node_id),
            "parent_node_id": self.parents.get(node_id),
            "real_node_id": self._real(node_id),
        }

    def _value(self, source: str, slot: int) -> Any:
        values = self.values[source] if source in self.values else self.cached[source].values
        return values[slot] if slot < len(values) else None

    def _inputs(self, node_id: str) -> dict[str, Any]:
        """Declared inputs with links replaced by the upstream values."""
        node = self.nodes[node_id]
        inputs = node.get("inputs", {})
        resolved = {}
        for name in CATALOGUE[node["class_type"]].declared_inputs():
            if name in inputs:
                value = inputs[name]
                resolved[name] = self._value(value[0], value[1]) if is_link(value) else value
        return resolved

    def _progress_state(self, node_id: str, state: str, value: int, maximum: int) -> None:
        self.states[node_id] = {
            "value": value,
            "max": maximum,
            "state": state,
            "prompt_id": self.job.prompt_id,
            **self._ids(node_id),
        }
        self.send("progress_state", {"prompt_id": self.job.prompt_id, "nodes": self.states}, True)

    def _publish(self, node_id: str, ui: UI | None) -> None:
        """Record a node's UI output (and its ``meta``) for the history entry."""
        if ui:
            self.outputs[node_id] = ui
            self.meta[node_id] = {
                "node_id": node_id,
                "display_node": self._real(node_id),
                "parent_node": self.parents.get(node_id),
                "real_node_id": self._real(node_id),
            }

    def _executed_event(self, node_id: str, ui: UI | None) -> None:
        data = {
            "node": node_id,
            "display_node": self._real(node_id),
            "output": ui,
            "prompt_id": self.job.prompt_id,
        }
        self.send("executed", data)

    def _scripted_ui(self, node_id: str, ui: UI | None) -> UI | None:
        outputs = self.script.outputs
        return outputs[node_id] if outputs and node_id in outputs else ui

    def _replay_cached(self, node_id: str) -> None:
        """A cached output node: its cached UI again, ``executed`` on newer servers."""
        ui = self._scripted_ui(node_id, self.cached[node_id].ui)
        self._publish(node_id, ui)
        if not self.script.no_cached_executed:
            self._executed_event(node_id, ui)
        self._progress_state(node_id, "finished", 1, 1)

    async def _sleep(self, seconds: float, node_id: str) -> None:
        """Let ``seconds`` more of the run's time pass (measured from its start, so event-loop
        lag does not add up); raises :class:`_Interrupted` as soon as the job is interrupted."""
        self.planned_end += max(seconds, 0.0)
        if await self.job.interrupt.sleep_until(self.planned_end):
            raise _Interrupted(node_id)

    async def _run_node(self, node_id: str, share: float) -> None:
        job = self.job
        class_type = self.nodes[node_id]["class_type"]
        if job.interrupt.is_set():
            raise _Interrupted(node_id)
        self._progress_state(node_id, "running", 0, 1)
        display = self._real(node_id)
        job.last_node = display
        self.send(
            "executing", {"node": node_id, "display_node": display, "prompt_id": job.prompt_id}
        )
        if node_id == self.script.expand_node:
            await self._expand(node_id, share)
        else:
            await self._work(node_id, class_type, share)
        self.executed.append(node_id)
        self._progress_state(node_id, "finished", 1, 1)

    async def _expand(self, node_id: str, share: float) -> None:
        """The node returns a graph of its own: a copy of itself does its work.

        With ``expansion_cycle``, two more created nodes wait on each other, so after the
        copy ran no node can: a dependency cycle, blamed on the expanding node.
        """
        copy = f"{node_id}.0.0.1"
        original = self.nodes[node_id]
        self.nodes[copy] = {"class_type": original["class_type"], "inputs": original["inputs"]}
        self.parents[copy] = node_id
        await self._run_node(copy, share)
        if self.script.expansion_cycle:
            raise _DependencyCycle(node_id)
        self.values[node_id] = self.values[copy]

    async def _work(self, node_id: str, class_type: str, share: float) -> None:
        """What a node does between its ``executing`` and its ``finished`` state."""
        inputs = self._inputs(node_id)
        blocked = any(value is _BLOCKED for value in inputs.values())
        if node_id == self.script.blocked_node:
            blocked = True
            self._send_blocked(node_id, class_type)
        if class_type in SAMPLERS and not blocked:
            await self._sample(node_id, inputs, share)
        else:
            await self._sleep(share, node_id)
        if blocked:
            self.values[node_id] = (_BLOCKED,) * len(CATALOGUE[class_type].outputs)
        else:
            self._compute(node_id, class_type, inputs)

    def _compute(self, node_id: str, class_type: str, inputs: dict[str, Any]) -> None:
        if self._real(node_id) == self.script.error_node:
            raise _NodeFailed(node_id, self.script.error_type, self.script.error_message, inputs)
        signature = self.signatures.get(node_id)  # None for a node created by expansion
        context = NodeContext(
            node_id=node_id,
            class_type=class_type,
            inputs=inputs,
            digest=signature or f"{self.signatures[self._real(node_id)]}/{node_id}",
            prompt=self.graph,
            extra_pnginfo=self.job.extra_data.get("extra_pnginfo"),
            folders=self.executor.folders,
        )
        try:
            result = run_node(context)
        except Exception as ex:  # a node raising is an execution_error, as in ComfyUI
            raise _NodeFailed(node_id, type(ex).__name__, str(ex), inputs) from ex
        self._stream(node_id, result)
        ui = self._scripted_ui(node_id, result.ui)
        self.values[node_id] = result.values
        self._publish(node_id, ui)
        if ui:
            self._executed_event(node_id, ui)
        if signature is not None:
            self.executor.cache.put(signature, CacheEntry(result.values, result.ui))

    def _send_blocked(self, node_id: str, class_type: str) -> None:
        """The non-fatal ExecutionBlocked variant (not recorded in history)."""
        data = {
            "prompt_id": self.job.prompt_id,
            "node_id": node_id,
            "node_type": class_type,
            "executed": list(self.executed),
            "exception_message": f"Execution Blocked: {self.script.blocked_message}",
            "exception_type": "ExecutionBlocked",
            "traceback": [],
            "current_inputs": [],
            "current_outputs": [],
        }
        self.send("execution_error", data, True)

    async def _sample(self, node_id: str, inputs: dict[str, Any], share: float) -> None:
        """Sampler steps: ``progress`` (and optional previews) spread over the node's time."""
        steps = max(1, int(inputs.get("steps", 1)))
        for step in range(1, steps + 1):
            await self._sleep(share / steps, node_id)
            progress = {
                "value": step,
                "max": steps,
                "prompt_id": self.job.prompt_id,
                "node": node_id,
            }
            self.send("progress", progress, True)
            self._progress_state(node_id, "running", step, steps)
            if self.executor.previews:
                self.executor.send_image(self.job, self._ids(node_id), jpeg_gray(), "image/jpeg")

    def _stream(self, node_id: str, result: NodeResult) -> None:
        """What a node sends while it runs: its progress text, its streamed images (each
        after a ``progress`` event counting from 0, as ComfyUI's progress bar does)."""
        if result.progress_text is not None:
            self.executor.send_text(node_id, result.progress_text)
        total = len(result.streamed)
        for step, image in enumerate(result.streamed):
            progress = {"value": step, "max": total, "prompt_id": self.job.prompt_id}
            self.send("progress", {**progress, "node": node_id}, True)
            self._progress_state(node_id, "running", step, total)
            self.executor.send_image(self.job, self._ids(node_id), image, "image/png")
