"""Value objects: the loaded workflow, output items and artifacts, and the execution result."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal

import attrs

from ._fetch import OutputFetcher, fetcher_for
from .errors import ComfyKitError, ConfigurationError

if TYPE_CHECKING:
    import os
    from pathlib import Path

Status = Literal["completed", "failed"]


def _artifacts(items: Iterable[Artifact]) -> tuple[Artifact, ...]:
    return tuple(items)


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _state(self: Any) -> dict[str, Any]:
    """Pickle state of a value with a private fetcher: every field but the fetcher."""
    return {a.name: getattr(self, a.name) for a in attrs.fields(type(self)) if a.name != "_fetch"}


def _set_state(self: Any, state: Mapping[str, Any]) -> None:
    for name, value in state.items():
        object.__setattr__(self, name, value)
    object.__setattr__(self, "_fetch", None)


@attrs.frozen
class Workflow:
    """An API-format graph and where it came from.

    A loader may return the UI-format workflow it read (the editor's plain "Save") as ``graph``;
    the kit converts it, so every ``Workflow`` a kit hands on holds the API format.

    ``backend`` is the loader's hint of which backend runs it (``None``: the kit's default);
    ``source_id`` is a backend-specific id (e.g. a RunningHub workflow id).
    """

    graph: Mapping[str, Any] = attrs.field(repr=False)
    source: str
    backend: str | None = None
    source_id: str | None = None


@attrs.frozen
class OutputItem:
    """One item of a node's UI output, as handed to ``comfykit_parse_output``.

    ``node_id`` is the node that produced it (for a node created by expansion, its own id such
    as ``"12.0.0.3"``) and ``display_node`` the workflow node it belongs to (the node itself
    unless created by expansion; ``var`` is named through it). ``value`` is the item itself (a
    file record dict, a text, ...); ``node_output`` the whole UI output dict of the node (for
    flags such as ``animated``); ``url`` the download URL a backend built for file records
    (``None`` when it has none).
    """

    node_id: str
    key: str
    value: Any
    var: str
    node_output: Mapping[str, Any] = attrs.field(repr=False, factory=dict)
    url: str | None = None
    display_node: str = attrs.field(
        default=attrs.Factory(lambda self: self.node_id, takes_self=True)
    )


@attrs.frozen
class Artifact:
    """A classified output: a file (with its URL) or a text, named by its output variable.

    ``kind`` is ``image``, ``video``, ``audio``, ``text``, ``model3d`` or ``file`` for the
    built-in parsers; a parser plugin may use kinds of its own. ``node_id`` is the node that
    produced it and ``display_node`` the workflow node it belongs to (they differ only for
    nodes created by expansion, e.g. ``"12.0.0.3"`` shown on ``"12"``).

    Artifacts built by a kit carry its fetcher (private, not compared, not shown, not pickled),
    so :meth:`open` and :meth:`bytes` use the kit's HTTP client and credential scope; ``kit=``
    uses that kit's instead, and without either the file is fetched with no credentials.
    """

    kind: str
    var: str
    node_id: str
    url: str | None = None
    filename: str | None = None
    subfolder: str = ""
    folder_type: str | None = None
    text: str | None = None
    animated: bool = False
    display_node: str = attrs.field(
        default=attrs.Factory(lambda self: self.node_id, takes_self=True)
    )
    _fetch: OutputFetcher | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)

    __getstate__ = _state
    __setstate__ = _set_state

    def open(self, *, kit: Any = None) -> IO[bytes]:
        """The file as a binary stream (close it, or use ``with``); ``kit`` overrides the fetcher.

        ``file://`` URLs are read from disk; without a kit, http(s) is fetched with no credentials.
        """
        if not self.url:
            raise ConfigurationError("this artifact has no URL to download")
        return fetcher_for(kit, self._fetch)(self.url)

    def bytes(self, *, kit: Any = None) -> builtins.bytes:
        """The whole file in memory (use :meth:`open` or ``kit.download`` for large files)."""
        with self.open(kit=kit) as stream:
            return stream.read()


def _group(artifacts: tuple[Artifact, ...], kind: str) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for art in artifacts:
        if art.kind == kind:
            value = art.text if kind == "text" else art.url
            grouped.setdefault(art.var, []).append(value or "")
    return grouped


@attrs.frozen
class ExecuteResult:
    """What ``execute()`` returns; ``status`` is ``"completed"`` or ``"failed"``.

    The flat lists and ``*_by_var`` dicts are derived from ``artifacts`` (several nodes sharing
    one output name are concatenated, never overwritten). ``error`` holds the typed exception of a
    failed job; ``seeds`` the seed values the job ran with, by node id; ``server`` the base URL
    of the server the job was queued on (``None`` when none took it).

    A result pickles, and :meth:`to_dict` / :meth:`from_dict` turn it into JSON data and back
    (e.g. for a task queue); neither carries the kit's HTTP client: pass ``kit=`` to
    :meth:`from_dict`, :meth:`save` or :meth:`Artifact.open` to download again.
    """

    status: Status
    prompt_id: str | None = None
    duration: float | None = None
    artifacts: tuple[Artifact, ...] = attrs.field(default=(), converter=_artifacts)
    outputs: Mapping[str, Any] | None = None
    msg: str | None = None
    error: ComfyKitError | None = attrs.field(default=None, eq=False)
    seeds: Mapping[str, int] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    backend: str | None = None
    server: str | None = None
    _fetch: OutputFetcher | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)
    images_by_var: dict[str, list[str]] = attrs.field(init=False)
    videos_by_var: dict[str, list[str]] = attrs.field(init=False)
    audios_by_var: dict[str, list[str]] = attrs.field(init=False)
    texts_by_var: dict[str, list[str]] = attrs.field(init=False)
    images: list[str] = attrs.field(init=False)
    videos: list[str] = attrs.field(init=False)
    audios: list[str] = attrs.field(init=False)
    texts: list[str] = attrs.field(init=False)

    __getstate__ = _state
    __setstate__ = _set_state

    def __attrs_post_init__(self) -> None:
        for kind, attr in (
            ("image", "images"),
            ("video", "videos"),
            ("audio", "audios"),
            ("text", "texts"),
        ):
            grouped = _group(self.artifacts, kind)
            object.__setattr__(self, f"{attr}_by_var", grouped)
            object.__setattr__(self, attr, [v for values in grouped.values() for v in values])

    @property
    def ok(self) -> bool:
        """True when the job completed."""
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON data; ``error`` as ``{"type", "module", "message", "fields"}``.

        The derived ``images``, ``images_by_var``, … are included for other readers;
        :meth:`from_dict` recomputes them from the artifacts.
        """
        from ._serialize import result_to_dict

        return result_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, kit: Any = None) -> ExecuteResult:
        """Rebuild a result from :meth:`to_dict`'s data; the error comes back as its own class.

        With ``kit``, :meth:`save` and the artifacts download through that kit (its credentials
        go only to its server); without one, pass ``kit=`` to :meth:`save` later.
        """
        from ._serialize import result_from_dict

        return result_from_dict(data, kit=kit)

    def save(
        self,
        directory: str | os.PathLike[str],
        *,
        kit: Any = None,
        overwrite: bool = False,
        max_workers: int = 4,
    ) -> list[Path]:
        """Download every file output into ``directory``, ``max_workers`` at a time.

        Local names come from the server's (made safe: they never leave ``directory``; a safe
        subfolder is kept); a name already taken gets a ``-N`` suffix unless ``overwrite``.
        ``kit`` overrides the fetcher the result was built with. Returns the paths written.
        """
        return fetcher_for(kit, self._fetch).save(
            self.artifacts, directory, overwrite=overwrite, max_workers=max_workers
        )

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for art in self.artifacts:
            counts[art.kind] = counts.get(art.kind, 0) + 1
        parts = [self.status, f"prompt_id={self.prompt_id!r}"]
        if self.duration is not None:
            parts.append(f"duration={self.duration:.2f}s")
        parts += [f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in counts.items()]
        if self.msg:
            msg = self.msg if len(self.msg) <= 120 else self.msg[:119] + "…"
            parts.append(f"msg={msg!r}")
        return f"ExecuteResult({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """Inline rendering in Jupyter: header, images, videos, audio and texts."""
        from ._notebook import render_html

        return render_html(self)

    def raise_for_status(self) -> ExecuteResult:
        """Raise ``error`` if the job failed; return the result otherwise (for chaining)."""
        if self.status != "completed":
            raise self.error or ComfyKitError(self.msg or "execution failed")
        return self
