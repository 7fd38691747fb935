"""Workflow files parsed once and kept while they are unchanged (path, mtime, size, inode).

A kit that runs the same file again and again would otherwise read, decode and check it for
every job. The graph is kept marshalled: each hit unmarshals a new copy (at C speed), so a
caller that changes the graph it got changes nothing for the next caller. A file modified less
than :data:`SETTLE_SECONDS` before it was read is not kept, since a second change within its
file system's clock resolution would leave mtime (and maybe size) as they were.
"""

from __future__ import annotations

import marshal
import os
import threading
import time
from collections import OrderedDict
from typing import Any

#: files kept at most, and their total marshalled size (the least recently used go first)
MAX_FILES = 128
MAX_BYTES = 32 * 1024 * 1024
SETTLE_SECONDS = 2.0

_Key = tuple[int, int, int, int]


def _key(stat: os.stat_result) -> _Key:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_dev)


class GraphCache:
    """Graphs by absolute path, each valid for one :func:`os.stat` key. Thread-safe."""

    def __init__(self, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> None:
        self._max_files, self._max_bytes = max_files, max_bytes
        self._entries: OrderedDict[str, tuple[_Key, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str, stat: os.stat_result) -> dict[str, Any] | None:
        """A new copy of the graph kept for ``path`` if the file is unchanged, else ``None``."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry[0] != _key(stat):
                return None
            self._entries.move_to_end(path)
            data = entry[1]
        graph: dict[str, Any] = marshal.loads(data)
        return graph

    def put(self, path: str, stat: os.stat_result, graph: dict[str, Any]) -> None:
        """Keep ``graph`` (as read from ``path`` when it had ``stat``) unless the file is too
        fresh or the graph too large; the caller keeps using its own ``graph``."""
        if time.time() - stat.st_mtime < SETTLE_SECONDS:
            return
        try:
            data = marshal.dumps(graph)
        except ValueError:  # not plain JSON data (a loader plugin's objects): not kept
            return
        if len(data) > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[path] = (_key(stat), data)
            self._bytes += len(data)
            while len(self._entries) > self._max_files or self._bytes > self._max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


#: the file loader's cache (one per process: files are the same for every kit)
GRAPHS = GraphCache()
