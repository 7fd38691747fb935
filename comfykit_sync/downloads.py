"""Streaming outputs to disk: origin-scoped credentials, safe local names, parallel downloads.

A :class:`Fetcher` (the :class:`~comfykit_sync._fetch.OutputFetcher` results hold) opens an
output URL as a binary stream: ``http(s)`` through the :class:`~comfykit_sync.http.HttpClient`
whose origin it is (the kit's, one per server of a pool, or a backend's, so credentials reach
only their own server; other URLs go without any), ``file://`` from the local disk. Nothing is
read whole into memory. A download is written to ``<name>.part`` and renamed on success; the
partial file is removed on failure.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .errors import ConfigurationError
from .http import BodyStream, HttpClient, origin_of
from .media_source import CHUNK, safe_filename

if TYPE_CHECKING:
    from .models import Artifact

_anonymous: HttpClient | None = None
_anonymous_lock = threading.Lock()


def _anonymous_client() -> HttpClient:
    """A shared client with no credentials, for results not built by a kit."""
    global _anonymous
    with _anonymous_lock:
        if _anonymous is None:
            _anonymous = HttpClient("http://localhost")
        return _anonymous


class Fetcher:
    """Opens output URLs as binary streams (``http(s)`` via ``clients``, ``file://`` from disk).

    A URL is fetched with the client for its origin, if any, else with the first client (whose
    credentials then stay home), else with a client that has no credentials at all.
    """

    def __init__(self, *clients: HttpClient) -> None:
        self._clients = clients

    def __repr__(self) -> str:
        return f"Fetcher({', '.join(map(repr, self._clients))})"

    def _client_for(self, url: str) -> HttpClient:
        origin = origin_of(url)
        for client in self._clients:
            if origin_of(client.base_url) == origin:
                return client
        return self._clients[0] if self._clients else _anonymous_client()

    def __call__(self, url: str) -> IO[bytes]:
        """The body of ``url`` as a stream; close it when done (it is a context manager)."""
        parts = urlsplit(url)
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ConfigurationError(f"cannot open a file:// URL on host {parts.netloc!r}")
            return open(url2pathname(parts.path), "rb")  # noqa: SIM115 - the caller closes it
        if parts.scheme not in ("http", "https"):
            raise ConfigurationError(f"cannot download {parts.scheme or 'relative'} URL {url!r}")
        http = self._client_for(url)
        name = unquote(parts.path.rsplit("/", 1)[-1]) or parts.hostname or "output"
        what = f"downloading {name}"
        return io.BufferedReader(BodyStream(http.request("GET", url, what=what, stream=True), what))

    def save(
        self,
        artifacts: Sequence[Artifact],
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        max_workers: int = 4,
    ) -> list[Path]:
        """Download every artifact that has a URL into ``directory`` (see :func:`save_all`)."""
        return save_all(artifacts, directory, self, overwrite=overwrite, max_workers=max_workers)


def artifact_url(source: Artifact | str) -> str:
    """The URL of an artifact (or the URL itself); ``ConfigurationError`` if it has none."""
    url = source if isinstance(source, str) else source.url
    if not url:
        raise ConfigurationError("this artifact has no URL to download")
    return url


def download(fetch: Fetcher, url: str, target: Path) -> Path:
    """Stream ``url`` to ``target`` via ``<target>.part``; parent folders are created."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with fetch(url) as source, open(partial, "wb") as sink:
            shutil.copyfileobj(source, sink, CHUNK)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def local_path(artifact: Artifact, index: int) -> Path:
    """A relative local path for ``artifact`` that cannot leave the target directory.

    The server's file name and subfolder pass through :func:`safe_filename` part by part;
    ``..``, ``.``, empty parts, drive letters and separators are dropped or neutralised.
    """
    folders = [
        safe_filename(part)
        for part in artifact.subfolder.replace("\\", "/").split("/")
        if part not in ("", ".", "..")
    ]
    name = safe_filename(artifact.filename or "")
    if not name and artifact.url:
        name = safe_filename(unquote(urlsplit(artifact.url).path.rsplit("/", 1)[-1]))
    name = name or f"{safe_filename(artifact.var) or 'output'}-{index}"
    return Path(*[f for f in folders if f], name)


def _unique(path: Path, taken: set[Path], overwrite: bool) -> Path:
    """``path``, or ``stem-N.ext`` when taken in this run (or already on disk, unless overwrite)."""
    candidate, n = path, 1
    while candidate in taken or (not overwrite and candidate.exists()):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    taken.add(candidate)
    return candidate


def plan(
    artifacts: Iterable[Artifact], directory: Path, *, overwrite: bool
) -> list[tuple[str, Path]]:
    """(url, target) for every downloadable artifact, with unique targets inside ``directory``."""
    root = directory.resolve()
    taken: set[Path] = set()
    targets: list[tuple[str, Path]] = []
    for index, artifact in enumerate(a for a in artifacts if a.url):
        target = _unique(root / local_path(artifact, index), taken, overwrite)
        if not target.resolve().is_relative_to(root):  # e.g. a symlinked subfolder
            raise ConfigurationError(f"refusing to write outside {root}: {target}")
        targets.append((artifact.url or "", target))
    return targets


def save_all(
    artifacts: Sequence[Artifact],
    directory: str | os.PathLike[str],
    fetch: Fetcher,
    *,
    overwrite: bool = False,
    max_workers: int = 4,
) -> list[Path]:
    """Download every artifact that has a URL into ``directory``, ``max_workers`` at a time.

    Returns the written paths in artifact order. On the first failure the pending downloads are
    cancelled and the error is raised (files already complete stay).
    """
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ConfigurationError(f"max_workers must be a positive int, got {max_workers!r}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    targets = plan(artifacts, root, overwrite=overwrite)
    if not targets:
        return []
    with ThreadPoolExecutor(min(max_workers, len(targets)), "comfykit-download") as pool:
        futures = [pool.submit(download, fetch, url, target) for url, target in targets]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
