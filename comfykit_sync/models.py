"""Value objects: the loaded workflow, output items and artifacts, and the execution result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .errors import ComfyKitError

Status = Literal["completed", "failed"]


@attrs.frozen
class Workflow:
    """An API-format graph and where it came from.

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

    ``value`` is the item itself (a file record dict, a text, ...); ``node_output`` the whole UI
    output dict of the node (for flags such as ``animated``); ``url`` the download URL a backend
    built for file records (``None`` when it has none).
    """

    node_id: str
    key: str
    value: Any
    var: str
    node_output: Mapping[str, Any] = attrs.field(repr=False, factory=dict)
    url: str | None = None


ArtifactKind = Literal["image", "video", "audio", "text", "model3d", "file"]


@attrs.frozen
class Artifact:
    """A classified output: a file (with its URL) or a text, named by its output variable."""

    kind: str
    var: str
    node_id: str
    url: str | None = None
    filename: str | None = None
    subfolder: str = ""
    folder_type: str | None = None
    text: str | None = None
    animated: bool = False


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
    failed job; ``seeds`` the seed values the job ran with, by node id.
    """

    status: Status
    prompt_id: str | None = None
    duration: float | None = None
    artifacts: tuple[Artifact, ...] = ()
    outputs: Mapping[str, Any] | None = None
    msg: str | None = None
    error: ComfyKitError | None = attrs.field(default=None, eq=False)
    seeds: Mapping[str, int] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = ()
    backend: str | None = None
    images_by_var: dict[str, list[str]] = attrs.field(init=False)
    videos_by_var: dict[str, list[str]] = attrs.field(init=False)
    audios_by_var: dict[str, list[str]] = attrs.field(init=False)
    texts_by_var: dict[str, list[str]] = attrs.field(init=False)
    images: list[str] = attrs.field(init=False)
    videos: list[str] = attrs.field(init=False)
    audios: list[str] = attrs.field(init=False)
    texts: list[str] = attrs.field(init=False)

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

    def raise_for_status(self) -> ExecuteResult:
        """Raise ``error`` if the job failed; return the result otherwise (for chaining)."""
        if self.status != "completed":
            raise self.error or ComfyKitError(self.msg or "execution failed")
        return self
