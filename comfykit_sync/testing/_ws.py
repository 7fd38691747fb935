"""WebSocket connections of the fake server, addressed by client id (``sid``).

Every connection owns an outbox drained by one task, so messages reach a
socket in exactly the order they were produced and a slow client never
blocks execution. Must be used from the server's event loop thread.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from aiohttp import web

PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
IMAGE_FORMATS = {"image/jpeg": 1, "image/png": 2}  # the format word of a PREVIEW_IMAGE frame


class Connection:
    """One registered socket with its negotiated feature flags."""

    def __init__(
        self, sid: str, ws: web.WebSocketResponse, transport: asyncio.Transport | None
    ) -> None:
        self.sid = sid
        self.ws = ws
        self.transport = transport
        self.flags: dict[str, Any] = {}
        self._outbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    def put(self, payload: str | bytes) -> None:
        """Queue one text or binary frame."""
        self._outbox.put_nowait(payload)

    async def _pump(self) -> None:
        while True:
            payload = await self._outbox.get()
            try:
                if isinstance(payload, str):
                    await self.ws.send_str(payload)
                else:
                    await self.ws.send_bytes(payload)
            except (ConnectionError, RuntimeError):  # the peer went away: drop the rest
                return

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Stop sending (the socket itself is closed by its handler)."""
        self._pump_task.cancel()


class Hub:
    """The sid -> connection registry and the three ways of sending."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def connect(
        self, sid: str, ws: web.WebSocketResponse, transport: asyncio.Transport | None
    ) -> Connection:
        """Register a socket, replacing (not closing) any earlier one with the same sid."""
        connection = Connection(sid, ws, transport)
        self._connections[sid] = connection
        return connection

    def disconnect(self, connection: Connection) -> None:
        """Forget a socket whose handler ended (unless a reconnect already replaced it)."""
        if self._connections.get(connection.sid) is connection:
            del self._connections[connection.sid]
        connection.close()

    def send(self, sid: str, message: dict[str, Any]) -> None:
        """Send to the socket registered under ``sid``; dropped when none is."""
        connection = self._connections.get(sid)
        if connection is not None:
            connection.put(json.dumps(message))

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send to every connected socket."""
        text = json.dumps(message)
        for connection in self._connections.values():
            connection.put(text)

    def send_image(
        self, sid: str | None, prompt_id: str, ids: dict[str, Any], image: bytes, mime: str
    ) -> None:
        """An image frame (a preview, or a picture SaveImageWebsocket sends) to ``sid`` (to
        everyone when None), in each socket's format.

        ``ids`` are the node's ``node_id``, ``display_node_id``, ``parent_node_id`` and
        ``real_node_id`` for the metadata format; ``mime`` is ``image/jpeg`` or ``image/png``.
        """
        targets = list(self._connections.values()) if sid is None else [self._connections.get(sid)]
        for connection in targets:
            if connection is None:
                continue
            if connection.flags.get("supports_preview_metadata"):
                metadata = json.dumps({"prompt_id": prompt_id, **ids, "image_type": mime}).encode()
                header = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(metadata)) + metadata
            else:
                header = struct.pack(">II", PREVIEW_IMAGE, IMAGE_FORMATS[mime])
            connection.put(header + image)

    def send_text(self, node_id: str, text: str) -> None:
        """A TEXT frame (``send_progress_text``: node id, then the text) to every socket."""
        node = node_id.encode()
        frame = struct.pack(">II", TEXT, len(node)) + node + text.encode()
        for connection in self._connections.values():
            connection.put(frame)

    def drop(self, sid: str) -> None:
        """Abruptly close the socket registered under ``sid``, if any."""
        connection = self._connections.get(sid)
        if connection is not None:
            connection.abort()

    def abort_all(self) -> None:
        """Abruptly close every socket (server restart or shutdown)."""
        for connection in list(self._connections.values()):
            connection.abort()
