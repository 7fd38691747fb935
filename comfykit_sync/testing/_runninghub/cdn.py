"""The fake's CDN port: output files under signed-looking URLs that expire, and test media."""

from __future__ import annotations

import threading
import time
import uuid

from aiohttp import web

OUTPUT_LIFETIME = 86400.0  # RunningHub output URLs are signed for about a day


class Cdn:
    """Files by name under ``/files/``; an output file expires, a test file never does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, tuple[bytes, float | None]] = {}  # name -> (content, expiry)

    def add(self, name: str, content: bytes) -> str:
        """Serve ``content`` as ``/files/<name>`` for good; return that path."""
        with self._lock:
            self._files[name] = (content, None)
        return f"/files/{name}"

    def publish_output(self, filename: str, content: bytes) -> str:
        """Serve an output file under a fresh folder until it expires; return its path and
        query (``/files/<folder>/output/<filename>?Expires=<epoch>``)."""
        name = f"{uuid.uuid4().hex[:12]}/output/{filename}"
        expires = time.time() + OUTPUT_LIFETIME
        with self._lock:
            self._files[name] = (content, expires)
        return f"/files/{name}?Expires={int(expires)}"

    def expire_outputs(self) -> None:
        """Every output URL is expired from now on (the CDN answers 403)."""
        with self._lock:
            for name, (content, expires) in self._files.items():
                if expires is not None:
                    self._files[name] = (content, 0.0)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``GET /files/{name}``: the file, 404 ``NoSuchKey`` or 403 once expired."""
        with self._lock:
            found = self._files.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="NoSuchKey")
        content, expires = found
        if expires is not None and expires < time.time():
            return web.Response(status=403, text="AccessDenied: Request has expired")
        return web.Response(body=content, content_type="application/octet-stream")
