"""Media for ``~`` parameters: read once, kept as base64 until the job that uses it is sent.

worker-comfyui takes input files only inline, as ``input.images[] = {name, image}`` with raw
base64 (spec §10). ``upload()`` streams the source in chunks, encodes it, names it after its
content (``ck_<sha256[:16]><ext>``) and returns that name for the node input; ``submit()`` takes
the entries its parameter values name. A size cap keeps the request under RunPod's 10 MB limit.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections import Counter
from collections.abc import Iterable

from comfykit_sync import ParameterError, UploadTooLargeError
from comfykit_sync.backend import HttpClient, UploadSource, open_media

#: bytes read per step; a multiple of 3 so base64 pieces concatenate without padding
CHUNK = 3 * 64 * 1024


def _too_large(name: str, limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        f"upload {name!r} is over {limit} bytes: RunPod takes input files as base64 inside the "
        "/run request, which is capped at 10 MB (raise RUNPOD_MAX_UPLOAD_BYTES only for "
        "smaller workflows, or host the file where the workflow can download it)"
    )


class PendingUploads:
    """Encoded uploads by name, counted per pending use (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        self._uses: dict[str, int] = {}

    def add(self, source: UploadSource, http: HttpClient) -> str:
        """Read and encode ``source``; return the file name to put in the node input."""
        with open_media(source, http, max_bytes=self.max_bytes) as media:
            if media.size > self.max_bytes:
                raise _too_large(media.filename, self.max_bytes)
            digest, pieces, size = hashlib.sha256(), [], 0
            while chunk := media.fileobj.read(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise _too_large(media.filename, self.max_bytes)
                digest.update(chunk)
                pieces.append(base64.b64encode(chunk).decode("ascii"))
            ext = os.path.splitext(media.filename)[1].lower()[:16] or ".bin"
        if size == 0:
            raise ParameterError(f"upload {media.filename!r} is empty")
        name = f"ck_{digest.hexdigest()[:16]}{ext}"
        with self._lock:
            self._data[name] = "".join(pieces)
            self._uses[name] = self._uses.get(name, 0) + 1
        return name

    def take(self, names: Iterable[str]) -> list[dict[str, str]]:
        """``input.images`` entries for the uploaded ``names`` (others are ignored)."""
        entries: list[dict[str, str]] = []
        with self._lock:
            for name, count in Counter(names).items():
                data = self._data.get(name)
                if data is None:
                    continue
                entries.append({"name": name, "image": data})
                self._uses[name] -= count
                if self._uses[name] <= 0:
                    del self._data[name], self._uses[name]
        return entries
