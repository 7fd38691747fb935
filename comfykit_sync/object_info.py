"""Node definitions (``GET /object_info``) for converting UI-format workflows.

A UI-format workflow (the editor's plain "Save") is converted to the API format with the target
server's node definitions. :class:`ServerObjectInfo` fetches them once per kit and server (one
request however many threads ask at once) and, with a cache directory, keeps them on disk keyed
by server and ComfyUI version (``GET /system_stats``), so a new process costs one small request
instead of the large listing. :class:`GivenObjectInfo` holds definitions the caller passed
(``object_info=``: a dict or a JSON file), for converting offline.

Both are :class:`ObjectInfoSource` objects: what the ``comfykit_load_workflow`` hook receives
as its ``object_info`` argument.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, Union

from .errors import ComfyKitError, ConfigurationError, InvalidResponseError

if TYPE_CHECKING:
    from .http import HttpClient

log = logging.getLogger(__name__)

#: What ``object_info=`` accepts: the definitions, or the path of a JSON file holding them.
ObjectInfoArgument = Union[Mapping[str, Any], str, "os.PathLike[str]"]


class ObjectInfoSource(Protocol):
    """The node definitions UI-format workflows are converted with.

    ``get()`` returns them (``{class_type: definition}`` as ``GET /object_info`` gives it),
    fetching at most once. ``stale`` is true when they were read from the disk cache and may
    predate nodes installed on the server since; ``refresh()`` then fetches them again.
    """

    @property
    def stale(self) -> bool: ...

    def get(self) -> Mapping[str, Any]: ...

    def refresh(self) -> Mapping[str, Any]: ...


def _checked(data: Any, where: str) -> Mapping[str, Any]:
    """``data`` as read-only definitions, if it looks like an ``/object_info`` listing."""
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise ValueError(f"{where} is not an /object_info listing (an object of node definitions)")
    return MappingProxyType(dict(data))


def load_object_info(value: ObjectInfoArgument, origin: str) -> Mapping[str, Any]:
    """Definitions from a dict or a JSON file; ``ConfigurationError`` naming ``origin``."""
    if isinstance(value, Mapping):
        data: Any = value
        where = origin
    elif isinstance(value, (str, os.PathLike)):
        where = f"{origin} file {os.fspath(value)!r}"
        try:
            data = json.loads(Path(value).expanduser().read_bytes())
        except OSError as exc:
            raise ConfigurationError(f"{where} cannot be read: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ConfigurationError(f"{where} is not valid JSON: {exc}") from exc
    else:
        raise ConfigurationError(
            f"{origin} must be a dict or a JSON file path, got {type(value).__name__}"
        )
    try:
        return _checked(data, where)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


class GivenObjectInfo:
    """Definitions the caller passed; nothing is fetched."""

    stale = False

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._definitions = definitions

    def __repr__(self) -> str:
        return f"GivenObjectInfo({len(self._definitions)} node types)"

    def get(self) -> Mapping[str, Any]:
        """The given definitions."""
        return self._definitions

    def refresh(self) -> Mapping[str, Any]:
        """The given definitions (there is nothing to fetch)."""
        return self._definitions


class ServerObjectInfo:
    """A server's definitions, fetched once (single flight) and optionally cached on disk.

    ``cache_dir`` (``None``: memory only) holds one file per server and ComfyUI version.
    """

    def __init__(self, http: HttpClient, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self._http = http
        self._cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        #: names the server in cache files without writing its URL (it may hold credentials)
        self._server_key = hashlib.sha256(http.base_url.encode()).hexdigest()
        self._lock = threading.Lock()
        self._flight: Future[Mapping[str, Any]] | None = None
        self._from_disk = False

    def __repr__(self) -> str:
        return f"ServerObjectInfo({self._http.base_url!r})"

    @property
    def stale(self) -> bool:
        """True while the definitions in memory are the disk cache's, not fetched since."""
        return self._from_disk

    def get(self) -> Mapping[str, Any]:
        """The definitions: from memory, else the disk cache, else ``GET /object_info``."""
        return self._load(refresh=False)

    def refresh(self) -> Mapping[str, Any]:
        """Fetch the definitions again (also replacing the disk cache's copy)."""
        return self._load(refresh=True)

    def _load(self, *, refresh: bool) -> Mapping[str, Any]:
        with self._lock:
            flight = self._flight
            owner = flight is None or (refresh and flight.done())
            if owner:
                flight = self._flight = Future()
        assert flight is not None
        if not owner:
            return flight.result()  # the owner's requests have timeouts: this wait ends
        try:
            definitions, from_disk = self._read(refresh)
        except BaseException as exc:
            with self._lock:
                if self._flight is flight:
                    self._flight = None  # the next call tries again
            flight.set_exception(exc)
            raise
        self._from_disk = from_disk
        flight.set_result(definitions)
        return definitions

    def _read(self, refresh: bool) -> tuple[Mapping[str, Any], bool]:
        path = self._cache_path() if self._cache_dir is not None else None
        if path is not None and not refresh:
            cached = self._read_disk(path)
            if cached is not None:
                return cached, True
        definitions = self._fetch()
        if path is not None:
            self._write_disk(path, definitions)
        return definitions, False

    def _fetch(self) -> Mapping[str, Any]:
        what = "fetching the node definitions (GET /object_info)"
        data = self._http.json("GET", "/object_info", what=what)
        try:
            return _checked(data, f"{what}: the reply")
        except ValueError as exc:
            raise InvalidResponseError(str(exc), url=self._http.url("/object_info")) from None

    def _cache_path(self) -> Path | None:
        """The cache file for this server's version; ``None`` when the version is unknown."""
        try:
            stats = self._http.json("GET", "/system_stats", what="reading the server version")
            version = stats["system"]["comfyui_version"]
        except (ComfyKitError, KeyError, TypeError) as exc:
            log.debug("no disk cache for the node definitions (version unknown): %s", exc)
            return None
        if not isinstance(version, str) or not version:
            return None
        safe_version = re.sub(r"[^A-Za-z0-9._+-]", "_", version)[:64]
        assert self._cache_dir is not None
        return self._cache_dir / f"object_info-{self._server_key[:16]}-{safe_version}.json"

    def _read_disk(self, path: Path) -> Mapping[str, Any] | None:
        try:
            document = json.loads(path.read_bytes())
            if document.get("server_sha256") != self._server_key:
                return None  # another server whose key starts the same, however unlikely
            return _checked(document["object_info"], str(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            log.warning("ignoring the unreadable node definitions cache %s: %s", path, exc)
            return None

    def _write_disk(self, path: Path, definitions: Mapping[str, Any]) -> None:
        document = {"server_sha256": self._server_key, "object_info": dict(definitions)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(document, fh)
                os.replace(temp, path)
            except BaseException:
                os.unlink(temp)
                raise
        except OSError as exc:
            log.warning("could not write the node definitions cache %s: %s", path, exc)
