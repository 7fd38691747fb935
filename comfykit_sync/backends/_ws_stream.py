"""One multiplexed ComfyUI WebSocket per kit, read by one thread that routes events by prompt id.

Why one socket and one reader thread per kit, rather than a socket per job:

* ComfyUI addresses a prompt's events to the socket registered under the prompt's ``client_id``
  and a kit has one ``client_id``; a second socket with the same id *replaces* the first on the
  server, so per-job sockets would steal each other's events.
* A reader that never stops reading is what keeps many concurrent jobs from stalling: it only
  decodes frames and puts them on per-job queues (it never does HTTP while connected and never
  runs user callbacks), so a job that finishes never waits behind another job's ``/history``
  fetch, and the server's send buffer never fills up. It parses frames itself
  (``_ws_frames``), all those of a read under one lock, and an event no subscription of its
  prompt takes (progress, mostly, for a job nobody listens to) is not decoded at all: its type
  and prompt id are read where ComfyUI's ``json.dumps`` puts them (any other layout is
  decoded) and the job just hears it.
* Job threads block on their own :class:`Subscription` queue, so events of different prompts are
  never mixed, and each job does its own HTTP work (history, queue checks, fallback polling).

Events for a prompt id nobody has subscribed to yet (the submit response races with the socket)
are kept for ``EARLY_TTL`` seconds and handed to the subscription when it arrives. When the
socket drops, every subscription receives :data:`DISCONNECTED` (its job may have lost events
and must poll), and the reader reconnects with backoff after a health probe — or exits if no job
is waiting; :meth:`EventStream.open` starts it again on the next job.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import websocket
from websocket._socket import recv as socket_recv

from .._signals import wait_slice
from ..errors import (
    APIError,
    AuthenticationError,
    ComfyKitError,
    NotFoundError,
    ServerError,
    TransportError,
)
from ..http import seconds_left
from ._ws_frames import BINARY, CLOSE, PING, TEXT, FrameReader

log = logging.getLogger(__name__)

#: seconds without any frame before the reader pings; no answer in as long again = dead socket
READ_TIMEOUT = 15.0
#: how long events for a not-yet-subscribed prompt id are kept, and how many
EARLY_TTL = 30.0
EARLY_MAX_PROMPTS = 256
EARLY_MAX_EVENTS = 1000
RECONNECT_MIN_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0
CLOSE_TIMEOUT = 5.0
#: queue broadcasts as ComfyUI's ``json.dumps`` writes them
_STATUS = b'{"type": "status", '
#: events whose data hold only ids, numbers and states (no node output), so that any prompt id
#: in them is theirs: their type must open the message (as ComfyUI writes it, any spacing)
_SERVER_DATA = re.compile(
    rb'\{\s*"type"\s*:\s*"(progress|progress_state|execution_start|execution_cached|'
    rb'execution_success)"\s*,'
)
_PROMPT_ID = re.compile(rb'"prompt_id"\s*:\s*"([^"\\]+)"')
#: ``executing`` a node (the final event has ``node: null``) and ``executed`` (whose node
#: output, anything, comes first): their prompt id is the data's last key, read at the end
_LAST_KEY = re.compile(
    rb'\{\s*"type"\s*:\s*"(executing|executed)"\s*,\s*"data"\s*:\s*\{\s*"node"\s*:\s*"'
)
_LAST_PROMPT_ID = re.compile(rb'"prompt_id"\s*:\s*"([^"\\]+)"\s*\}\s*\}\s*')
#: how far from the end of a frame its last prompt id is looked for
_TAIL = 300


@attrs.frozen
class Message:
    """One decoded text frame: ``{"type": ..., "data": {...}}``."""

    type: str
    data: Mapping[str, Any]


class Disconnected:
    """Marker put on every subscription when the socket drops: events may have been lost."""

    def __repr__(self) -> str:
        return "DISCONNECTED"


DISCONNECTED = Disconnected()
Item = Message | Disconnected


def decode_text(payload: bytes | str) -> Message | None:
    """A text frame as a :class:`Message`; ``None`` if it is not a ComfyUI event object."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return None
    data = obj.get("data")
    return Message(obj["type"], data if isinstance(data, dict) else {})


def binary_kind(payload: bytes) -> int | None:
    """The event type of a binary frame (1 preview, 3 text, 4 preview with metadata), if any."""
    return struct.unpack_from(">I", payload)[0] if len(payload) >= 4 else None


def _handshake_error(exc: websocket.WebSocketBadStatusException, url: str) -> APIError:
    status = exc.status_code
    message = f"opening the WebSocket {url} failed: HTTP {status}"
    if status in (401, 403):
        return AuthenticationError(
            message + " (check api_key / cookies)", status_code=status, url=url
        )
    if status == 404:
        return NotFoundError(
            message + " (no /ws endpoint behind this URL?)", status_code=status, url=url
        )
    if status >= 500:
        return ServerError(message, status_code=status, url=url)
    return APIError(message, status_code=status, url=url)


#: the events that end or fail a prompt (the final ``executing`` ``null`` follows them)
ENDING_EVENTS = frozenset({"execution_error", "execution_interrupted"})


def is_final(message: Message) -> bool:
    """The prompt's final event: ``executing`` with ``node: null``."""
    return message.type == "executing" and message.data.get("node") is None


def _skippable(payload: bytes) -> tuple[str, str] | None:
    """(type, prompt id) of an event that no job may need (progress, nodes run or cached, a
    start or success a job may not wait for), read without decoding it; ``None`` for any other
    frame, or one whose layout does not tell (it is decoded)."""
    found = _SERVER_DATA.match(payload)
    if found is not None:
        kind = found.group(1)
        found = _PROMPT_ID.search(payload, found.end())
    elif (head := _LAST_KEY.match(payload)) is not None:
        kind = head.group(1)
        found = _LAST_PROMPT_ID.search(payload, max(head.end(), len(payload) - _TAIL))
        if found is not None and found.end() != len(payload):
            found = None
    if found is None:
        return None
    try:
        return kind.decode(), found.group(1).decode()
    except UnicodeDecodeError:
        return None


class Subscription:
    """The event queue of one prompt id, filled by the reader thread.

    With ``wanted`` set (nobody listens for progress), only the final event and events of those
    types are queued — waking the job's thread for each event is most of a busy kit's cost —
    but every event still updates ``last_heard``, so the job knows its prompt is alive.
    """

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.wanted: frozenset[str] | None = None
        self.last_heard = time.monotonic()
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()

    def put(self, item: Item) -> None:
        if isinstance(item, Message):
            self.last_heard = time.monotonic()
            if self.wanted is not None and item.type not in self.wanted and not is_final(item):
                return
        self._queue.put(item)

    def get(self, timeout: float) -> Item | None:
        """The next item, waiting at most ``timeout`` seconds (``None`` if none came; in the main
        thread the wait may end sooner, so that Ctrl-C is seen: callers wait in a loop)."""
        try:
            return self._queue.get(timeout=wait_slice(timeout))
        except queue.Empty:
            return None


class EventStream:
    """The kit's socket: opened lazily, shared by all jobs, closed by :meth:`close`.

    ``credentials(url)`` gives the URL to connect to (``url`` plus any credential query) and the
    credential headers of the handshake; only ``url`` is ever logged. ``probe()`` checks the
    server over HTTP before each reconnection attempt (raising a ``ComfyKitError`` if it is down).
    """

    def __init__(
        self,
        url: str,
        *,
        credentials: Callable[[str], tuple[str, Mapping[str, str]]],
        probe: Callable[[], object],
        connect_timeout: float,
        max_frame_bytes: int,
    ) -> None:
        self.url = url
        self._credentials, self._probe = credentials, probe
        self._connect_timeout = connect_timeout
        self._max_frame_bytes = max_frame_bytes
        self._lock = threading.Lock()  # subscriptions, early buffer, connection state
        self._open_lock = threading.Lock()  # connecting; starting and ending the reader
        self._subs: dict[str, list[Subscription]] = {}
        self._early: OrderedDict[str, tuple[float, deque[Message]]] = OrderedDict()
        self._ws: websocket.WebSocket | None = None
        self._thread: threading.Thread | None = None
        self._connected = False
        self._epoch = 0  # counts successful connections
        self._closed = False
        self._stopping = threading.Event()

    # -- used by job threads ----------------------------------------------------------------
    def open(self) -> int:
        """Connect (unless connected or reconnecting) and return the connection's epoch.

        Raises ``TransportError`` or ``APIError`` when the first connection fails. Waiting for
        another thread's connection and connecting are bounded by the connect timeout and by the
        enclosing ``request_deadline``.
        """
        what = f"opening the WebSocket {self.url}"
        if not self._open_lock.acquire(timeout=seconds_left(what, self._connect_timeout)):
            raise TransportError(f"{what}: another thread is still connecting", sent=False)
        try:
            if self._closed:
                raise TransportError("the WebSocket stream is closed")
            if self._thread is None:
                ws = self._connect()
                self._set_connected(ws)
                self._thread = threading.Thread(
                    target=self._run, args=(ws,), name="comfykit-ws-reader", daemon=True
                )
                self._thread.start()
            return self._epoch
        finally:
            self._open_lock.release()

    def subscribe(self, prompt_id: str, epoch: int) -> Subscription:
        """Route ``prompt_id``'s events to a new subscription, starting with any buffered ones.

        ``epoch`` is what :meth:`open` returned before the prompt was submitted; if the socket
        has dropped since, the subscription starts with :data:`DISCONNECTED`.
        """
        sub = Subscription(prompt_id)
        with self._lock:
            self._subs.setdefault(prompt_id, []).append(sub)
            _, early = self._early.pop(prompt_id, (0.0, ()))
            for message in early:
                sub.put(message)
            if not self._connected or self._epoch != epoch:
                sub.put(DISCONNECTED)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.prompt_id, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._subs.pop(sub.prompt_id, None)

    def close(self) -> None:
        """Close the socket and join the reader thread (bounded); idempotent."""
        with self._open_lock:
            if self._closed:
                return
            self._closed = True
            ws, thread = self._ws, self._thread
        self._stopping.set()
        if ws is not None:
            try:
                ws.send_close()
            except (websocket.WebSocketException, OSError):
                pass
            ws.abort()
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_TIMEOUT)

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> websocket.WebSocket:
        timeout = seconds_left(f"opening the WebSocket {self.url}", self._connect_timeout)
        connect_url, credential_headers = self._credentials(self.url)
        headers = dict(credential_headers)
        cookie = headers.pop("Cookie", None)
        ws = websocket.WebSocket(enable_multithread=True)
        try:
            ws.connect(
                connect_url,
                header=headers,
                cookie=cookie,
                suppress_origin=True,
                timeout=timeout,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise _handshake_error(exc, self.url) from exc
        except (websocket.WebSocketException, OSError) as exc:
            detail = str(exc).replace(connect_url, self.url)  # never the credential query
            raise TransportError(
                f"opening the WebSocket {self.url}: {type(exc).__name__}: {detail}",
                url=self.url,
                sent=False,
            ) from exc
        ws.settimeout(READ_TIMEOUT)
        return ws

    def _set_connected(self, ws: websocket.WebSocket) -> None:
        with self._lock:
            self._ws, self._connected = ws, True
            self._epoch += 1

    def _set_disconnected(self, ws: websocket.WebSocket, reason: str) -> None:
        ws.shutdown()
        with self._lock:
            self._connected = False
            waiting = [sub for subs in self._subs.values() for sub in subs]
            for sub in waiting:
                sub.put(DISCONNECTED)
        if waiting and not self._stopping.is_set():
            log.warning(
                "WebSocket %s dropped (%s); %d job(s) fall back to polling; reconnecting",
                self.url,
                reason,
                len(waiting),
            )
        else:
            log.debug("WebSocket %s closed (%s)", self.url, reason)

    def _reconnect(self) -> websocket.WebSocket | None:
        """Connect again (probe first, backing off); ``None`` when closing or no job waits."""
        delay = RECONNECT_MIN_DELAY
        while True:
            with self._open_lock, self._lock:
                if self._closed or not self._subs:
                    self._thread = None
                    return None
            try:
                self._probe()
                ws = self._connect()
            except ComfyKitError as exc:
                log.debug("reconnecting the WebSocket failed: %s", exc)
            else:
                with self._open_lock:
                    if self._closed:
                        ws.shutdown()
                        self._thread = None
                        return None
                    self._set_connected(ws)
                log.info("WebSocket %s reconnected", self.url)
                return ws
            self._stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)

    # -- the reader thread ------------------------------------------------------------------
    def _run(self, ws: websocket.WebSocket | None) -> None:
        try:
            while ws is not None:
                try:
                    reason = self._read(ws)
                except Exception as exc:  # a bug here must not leave jobs waiting for events
                    log.exception("the WebSocket reader failed")
                    reason = f"reader error: {exc!r}"
                self._set_disconnected(ws, reason)
                ws = self._reconnect()
        finally:  # however it ends, the next open() starts a new reader
            with self._open_lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _read(self, ws: websocket.WebSocket) -> str:
        """Read and route frames until the socket fails or closes; return why it ended."""
        sock = ws.sock
        if sock is None:
            return "closed before reading"
        frames = FrameReader(lambda size: socket_recv(sock, size), self._max_frame_bytes)
        awaiting_pong = False
        while not self._stopping.is_set():
            try:
                batch = frames.read()
            except websocket.WebSocketTimeoutException:
                if awaiting_pong:
                    return f"no frame for {2 * READ_TIMEOUT:g} s"
                try:
                    ws.ping()
                except (websocket.WebSocketException, OSError) as exc:
                    return f"ping failed: {exc}"
                awaiting_pong = True
                continue
            except (websocket.WebSocketException, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"
            awaiting_pong = False
            self._route([payload for opcode, payload in batch if opcode == TEXT])
            for opcode, payload in batch:
                if opcode == BINARY:
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("ignoring binary frame of type %s", binary_kind(payload))
                elif opcode in (PING, CLOSE):  # answered, as websocket-client would
                    try:
                        if opcode == PING:
                            ws.pong(payload)
                        else:
                            ws.send_close()
                    except (websocket.WebSocketException, OSError) as exc:
                        return f"answering a control frame failed: {exc}"
                    if opcode == CLOSE:
                        return "closed by the server"
        return "closing"

    def _route(self, texts: list[bytes]) -> None:
        """Hand the text frames of one read to their prompts' subscriptions (or the early
        buffer), in order; never blocks. Only the events some subscription takes are decoded."""
        if not texts:
            return
        now = time.monotonic()
        with self._lock:
            for payload in texts:
                if payload.startswith(_STATUS):  # queue broadcasts: not a prompt's event
                    continue
                event = _skippable(payload)
                if event is not None and self._heard_only(*event, now):
                    continue
                message = decode_text(payload)
                prompt_id = None if message is None else message.data.get("prompt_id")
                if message is None or prompt_id is None:  # the reconnect "executing", ...
                    continue
                subs = self._subs.get(str(prompt_id))
                if subs:
                    for sub in subs:
                        sub.put(message)
                else:
                    self._buffer(str(prompt_id), message)

    def _heard_only(self, kind: str, prompt_id: str, now: float) -> bool:
        """Whether no subscription of the event's prompt takes its type; then they just hear
        it (caller holds the lock). ``False`` when nobody subscribed: it is kept for later."""
        subs = self._subs.get(prompt_id)
        if not subs or any(sub.wanted is None or kind in sub.wanted for sub in subs):
            return False
        for sub in subs:
            sub.last_heard = now
        return True

    def _buffer(self, prompt_id: str, message: Message) -> None:
        """Keep an event of an unsubscribed prompt for a while (caller holds the lock)."""
        now = time.monotonic()
        while self._early and next(iter(self._early.values()))[0] < now - EARLY_TTL:
            self._early.popitem(last=False)
        entry = self._early.get(prompt_id)
        if entry is None:
            if len(self._early) >= EARLY_MAX_PROMPTS:
                self._early.popitem(last=False)
            entry = self._early[prompt_id] = (now, deque(maxlen=EARLY_MAX_EVENTS))
        entry[1].append(message)
