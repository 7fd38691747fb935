"""Progress events from the Comfy Cloud WebSocket (``/ws?clientId=…&token=<API key>``).

Comfy Cloud sends every message of the account on every socket of the account, whatever the
``clientId``, so one socket per backend serves every job: a reader thread routes each message by
its ``prompt_id`` to the waits listening for it; messages of a job nobody listens to yet are
kept for a while (a job starts before its wait begins). The socket only adds events — nodes and
steps — and wakes a wait early when its job ends: completion itself is always read from the
status endpoint, so a socket that cannot connect, or drops, costs events, never a result. It is
opened by the first wait that listens, and again by the next one after a drop.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any

import websocket

from comfykit_sync.backend import HttpClient
from comfykit_sync.events import Event, NodeCached, NodeExecuted, NodeExecuting, Progress

log = logging.getLogger(__name__)

#: how often the reader looks up from the socket to notice ``close()``
READ_TIMEOUT = 1.0
#: the messages that end a job (its status is then read at once)
FINAL_MESSAGES = frozenset({"execution_success", "execution_error", "execution_interrupted"})
#: messages of jobs nobody listens to yet: kept this long, for this many jobs, this many each
EARLY_SECONDS, EARLY_JOBS, EARLY_MESSAGES = 60.0, 256, 1000

Message = tuple[str, Mapping[str, Any]]


class Listener:
    """The socket messages of one job, for the thread waiting for it."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()

    def put(self, message: Message) -> None:
        self._messages.put(message)

    def next(self, timeout: float) -> Message | None:
        """The next message, waiting at most ``timeout`` seconds (``None`` if none came)."""
        try:
            return self._messages.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None


class AccountStream:
    """The account's socket, shared by the waits of one backend (thread-safe)."""

    def __init__(self, http: HttpClient, *, connect_timeout: float) -> None:
        self.url = http.websocket_url("/ws", {"clientId": uuid.uuid4().hex})  # safe to log
        self._auth = http.auth
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()  # listeners and connection state
        self._open_lock = threading.Lock()  # connecting
        self._listeners: dict[str, list[Listener]] = {}
        self._early: OrderedDict[str, tuple[float, deque[Message]]] = OrderedDict()
        self._ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._closed = False

    def listen(self, prompt_id: str) -> Listener:
        """Route ``prompt_id``'s messages to a new listener, connecting first if needed."""
        listener = Listener(prompt_id)
        with self._lock:
            self._listeners.setdefault(prompt_id, []).append(listener)
            for message in self._early.pop(prompt_id, (0.0, ()))[1]:
                listener.put(message)
        with self._open_lock:
            with self._lock:
                if self._reader is not None or self._closed:
                    return listener
            ws = self._connect()
            if ws is not None:
                with self._lock:
                    self._ws = ws
                    self._reader = threading.Thread(
                        target=self._read, args=(ws,), name="comfycloud-ws", daemon=True
                    )
                    self._reader.start()
        return listener

    def forget(self, listener: Listener) -> None:
        with self._lock:
            listeners = self._listeners.get(listener.prompt_id, [])
            if listener in listeners:
                listeners.remove(listener)
            if not listeners:
                self._listeners.pop(listener.prompt_id, None)

    def close(self) -> None:
        """Close the socket and join the reader (bounded); idempotent."""
        with self._open_lock, self._lock:
            self._closed = True
            ws, reader = self._ws, self._reader
        if ws is not None:
            ws.abort()
        if reader is not None and reader is not threading.current_thread():
            reader.join(READ_TIMEOUT * 2)

    def _connect(self) -> websocket.WebSocket | None:
        connect_url, headers = self._auth.websocket(self.url)
        try:
            ws = websocket.create_connection(
                connect_url, header=headers, timeout=self._connect_timeout, suppress_origin=True
            )
        except (websocket.WebSocketException, OSError) as exc:
            detail = self._auth.redact(str(exc).replace(connect_url, self.url))
            log.warning(
                "no Comfy Cloud WebSocket at %s (%s: %s); events come from polling only",
                self.url,
                type(exc).__name__,
                detail,
            )
            return None
        ws.settimeout(READ_TIMEOUT)
        return ws

    def _read(self, ws: websocket.WebSocket) -> None:
        try:
            while not self._closed:
                try:
                    frame = ws.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except (websocket.WebSocketException, OSError) as exc:
                    if not self._closed:
                        log.info("the Comfy Cloud WebSocket dropped (%s)", type(exc).__name__)
                    return
                self._route(frame)
        finally:
            ws.abort()
            with self._lock:
                if self._reader is threading.current_thread():
                    self._reader = self._ws = None

    def _route(self, frame: Any) -> None:
        if not isinstance(frame, str):
            return  # binary previews are not reported
        try:
            message = json.loads(frame)
        except ValueError:
            return
        data = message.get("data") if isinstance(message, dict) else None
        if not isinstance(data, dict) or not isinstance(message.get("type"), str):
            return
        prompt_id, item = str(data.get("prompt_id")), (message["type"], data)
        with self._lock:
            listeners = list(self._listeners.get(prompt_id, ()))
            if not listeners and data.get("prompt_id") is not None:
                self._keep_early(prompt_id, item)
        for listener in listeners:
            listener.put(item)

    def _keep_early(self, prompt_id: str, item: Message) -> None:
        """Keep a message of a job nobody listens to yet (bounded; the oldest go first)."""
        now = time.monotonic()
        while self._early and (
            len(self._early) >= EARLY_JOBS
            or next(iter(self._early.values()))[0] < now - EARLY_SECONDS
        ):
            self._early.popitem(last=False)
        _, kept = self._early.setdefault(prompt_id, (now, deque(maxlen=EARLY_MESSAGES)))
        kept.append(item)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def event_for(prompt_id: str, message: Message, graph: Mapping[str, Any]) -> Event | None:
    """The progress event of a socket message (``None`` for the others)."""
    kind, data = message
    node = data.get("node")
    if kind == "execution_cached" and data.get("nodes"):
        return NodeCached(prompt_id, tuple(str(n) for n in data["nodes"]))
    if kind == "executing" and node is not None:
        node_id = str(data.get("display_node") or node)
        entry = _mapping(graph.get(node_id))
        meta = _mapping(entry.get("_meta"))
        return NodeExecuting(prompt_id, node_id, meta.get("title"), entry.get("class_type"))
    if kind == "progress":
        value, maximum = data.get("value"), data.get("max")
        if isinstance(value, int) and isinstance(maximum, int):
            return Progress(prompt_id, None if node is None else str(node), value, maximum)
    if kind == "executed" and node is not None:
        return NodeExecuted(prompt_id, str(data.get("display_node") or node))
    return None
