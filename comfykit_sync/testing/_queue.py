"""The fake server's prompt queue: priorities, workers, the running set and history.

Mirrors ComfyUI's ``PromptQueue`` and ``prompt_worker``: items are ordered by
``number``; ``workers`` of them execute at once; the history entry is written
atomically with leaving the running set, then the final ``executing``
``null`` event is sent. Use from the server's event loop thread only.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from typing import Any

from ._executor import Executor, Job, Outcome, OutputCache
from ._folders import Folders
from ._records import PromptRecord, Script
from ._ws import Hub

MAX_HISTORY = 10000
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")

log = logging.getLogger(__name__)


class PromptQueue:
    """Pending heap, running jobs and history of one fake server."""

    def __init__(
        self,
        folders: Folders,
        hub: Hub,
        *,
        workers: int,
        duration: float,
        cache: bool,
        previews: bool,
    ) -> None:
        self.hub = hub
        self.workers = workers
        self.duration = duration
        self.cache = OutputCache(cache)
        self.executor = Executor(
            folders,
            self.cache,
            self._send_event,
            self._send_image,
            hub.send_text,
            previews=previews,
        )
        self.history: dict[str, dict[str, Any]] = {}
        self.closed = False
        self._pending: list[tuple[float, int, Job]] = []
        self._running: dict[int, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._number = 0
        self._seq = 0

    # ------------------------------------------------------------------ queue

    def info(self) -> dict[str, Any]:
        """``{"exec_info": {"queue_remaining": pending + running}}``."""
        return {"exec_info": {"queue_remaining": len(self._pending) + len(self._running)}}

    def next_number(self, front: bool) -> int:
        """The server-assigned priority: a counter, negated for ``front``."""
        number = -self._number if front else self._number
        self._number += 1
        return number

    def put(
        self,
        *,
        number: float,
        prompt_id: str,
        graph: dict[str, Any],
        extra_data: dict[str, Any],
        outputs: list[str],
        script: Script,
        record: PromptRecord,
    ) -> None:
        """Queue a validated prompt and start it if a worker is free."""
        self._seq += 1
        job = Job(
            number=number,
            seq=self._seq,
            prompt_id=prompt_id,
            graph=graph,
            extra_data=extra_data,
            outputs=outputs,
            script=script,
            record=record,
        )
        heapq.heappush(self._pending, (number, job.seq, job))
        self._changed()
        self._pump()

    def running(self) -> list[Job]:
        return list(self._running.values())

    def pending(self) -> list[Job]:
        """Pending jobs in execution order."""
        return [job for _, _, job in sorted(self._pending)]

    def delete(self, prompt_id: str) -> None:
        """Remove the first pending item with this id (``POST /queue {"delete"}``)."""
        for index, (_, _, job) in enumerate(self._pending):
            if job.prompt_id == prompt_id:
                del self._pending[index]
                heapq.heapify(self._pending)
                job.record.status = "deleted"
                self._changed()
                return

    def clear(self) -> None:
        """Empty the pending queue (``POST /queue {"clear": true}``)."""
        for _, _, job in self._pending:
            job.record.status = "deleted"
        self._pending.clear()
        self._changed()

    def interrupt(self, prompt_id: str | None) -> None:
        """Interrupt the running prompt with this id, or everything running when None."""
        for job in self._running.values():
            if not prompt_id or job.prompt_id == prompt_id:
                job.interrupt.set()

    def history_page(self, max_items: int | None, offset: int) -> dict[str, Any]:
        """ComfyUI's ``get_history`` paging (``offset`` -1 with ``max_items``: the last N)."""
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for index, (prompt_id, entry) in enumerate(self.history.items()):
            if index >= offset:
                out[prompt_id] = entry
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    async def forget(self) -> None:
        """A server restart: pending and running prompts are lost, history and cache too."""
        for job in [*self.pending(), *self.running()]:
            job.record.status = "lost"
        self._pending.clear()
        await self._cancel_tasks()
        self.history.clear()
        self.cache.clear()
        self._number = 0
        self.hub.abort_all()

    async def close(self) -> None:
        """Stop for good: nothing new starts, every job task is cancelled."""
        self.closed = True
        self._pending.clear()
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    # -------------------------------------------------------------- execution

    def _changed(self) -> None:
        """ComfyUI's ``queue_updated``: a ``status`` broadcast to every socket."""
        self.hub.broadcast({"type": "status", "data": {"status": self.info()}})

    def _send_event(self, job: Job, event: str, data: dict[str, Any], broadcast: bool) -> None:
        """To the job's client; to everyone when it has none and ``broadcast`` is set."""
        if job.client_id is not None:
            self.hub.send(job.client_id, {"type": event, "data": data})
        elif broadcast:
            self.hub.broadcast({"type": event, "data": data})

    def _send_image(self, job: Job, ids: dict[str, Any], image: bytes, mime: str) -> None:
        self.hub.send_image(job.client_id, job.prompt_id, ids, image, mime)

    def _pump(self) -> None:
        """Start pending jobs (lowest number first) while a worker is free."""
        while self._pending and len(self._running) < self.workers and not self.closed:
            _, _, job = heapq.heappop(self._pending)
            if job.script.vanish:
                job.record.status = "lost"
                self._changed()
                continue
            self._running[job.seq] = job
            job.record.status = "running"
            job.record.started_at = time.time()
            task = asyncio.get_running_loop().create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._changed()

    async def _run(self, job: Job) -> None:
        script = job.script
        loop = asyncio.get_running_loop()
        timers = []
        if script.interrupt_after is not None:
            timers.append(loop.call_later(script.interrupt_after, job.interrupt.set))
        if script.drop_socket_after is not None and job.client_id is not None:
            timers.append(loop.call_later(script.drop_socket_after, self.hub.drop, job.client_id))
        duration = script.duration if script.duration is not None else self.duration
        try:
            outcome = await self.executor.run(job, duration)
            if script.history_after_final <= 0:
                self._write_history(job, outcome)
            if script.delay_final > 0:
                await asyncio.sleep(script.delay_final)
            if job.client_id is not None:
                final = {"type": "executing", "data": {"node": None, "prompt_id": job.prompt_id}}
                self.hub.send(job.client_id, final)
            if script.history_after_final > 0:
                await asyncio.sleep(script.history_after_final)
                self._write_history(job, outcome)
        except Exception:  # a bug in the fake must not wedge the queue
            log.exception("fake execution of %s crashed", job.prompt_id)
            job.record.status = "lost"
            self._running.pop(job.seq, None)
        finally:
            for timer in timers:
                timer.cancel()
        self._pump()

    def _write_history(self, job: Job, outcome: Outcome) -> None:
        """Store the history entry and leave the running set at once (``task_done``)."""
        self._running.pop(job.seq, None)
        extra = {k: v for k, v in job.extra_data.items() if k not in SENSITIVE_EXTRA_DATA_KEYS}
        if len(self.history) > MAX_HISTORY:
            self.history.pop(next(iter(self.history)))
        self.history[job.prompt_id] = {
            "prompt": [job.number, job.prompt_id, job.graph, extra, job.outputs],
            "outputs": outcome.outputs,
            "status": {
                "status_str": "success" if outcome.completed else "error",
                "completed": outcome.completed,
                "messages": outcome.messages,
            },
            "meta": outcome.meta,
        }
        job.record.status = outcome.status
        job.record.finished_at = time.time()
        self._changed()
