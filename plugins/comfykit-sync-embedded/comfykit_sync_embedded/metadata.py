"""Read a file's embedded metadata and pick the workflow to run (spec §12, §15.2)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from comfykit_sync import WorkflowLoadError
from comfykit_sync.backend import api_graph, is_ui_workflow

from ._io import Corrupt, Reader, TooLarge
from .errors import EmbeddedWorkflowError
from .formats import Entry
from .formats.id3 import Unsupported, read_mp3
from .formats.matroska import read_matroska
from .formats.misc import read_glb, read_safetensors, read_svg
from .formats.mp4 import read_mp4
from .formats.png import read_png
from .formats.vorbis import read_flac, read_ogg
from .formats.webp import read_webp
from .sniff import EXTENSIONS, HEAD_BYTES, describe, sniff

DEFAULT_CAP = 64 * 1024 * 1024
DECODE_ROUNDS = 3

READERS: dict[str, Callable[[Reader], list[Entry]]] = {
    "png": read_png,
    "webp": read_webp,
    "flac": read_flac,
    "mp3": read_mp3,
    "ogg": read_ogg,
    "mp4": read_mp4,
    "matroska": read_matroska,
    "svg": read_svg,
    "glb": read_glb,
    "safetensors": read_safetensors,
}
FORMAT_NAMES = {
    "png": "PNG",
    "webp": "WebP",
    "flac": "FLAC",
    "mp3": "MP3",
    "ogg": "Ogg",
    "mp4": "MP4",
    "matroska": "WebM/Matroska",
    "svg": "SVG",
    "glb": "GLB",
    "safetensors": "safetensors",
}
NO_METADATA_HINT = (
    "likely causes: the file was saved by a ComfyUI started with --disable-metadata (RunPod "
    "worker-comfyui always is), its metadata was stripped by an editor or an upload, or it was "
    "not made by ComfyUI. Use the workflow's JSON file instead (in ComfyUI: Workflow → Save, "
    "or Export (API))"
)


class Embedded(NamedTuple):
    """What a file carries: its format and every metadata value, by lower-cased key."""

    path: str
    format: str
    values: dict[str, Entry]


def read_embedded(path: str | os.PathLike[str], cap: int = DEFAULT_CAP) -> Embedded | None:
    """Read ``path``'s metadata; ``None`` if the file is not a supported container.

    Raises ``EmbeddedWorkflowError`` (``corrupt``, ``too_large``, ``unsupported``,
    ``unreadable``, ``wrong_magic``) for a supported file that cannot be parsed.
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    try:
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(HEAD_BYTES)
            fmt = sniff(head, suffix)
            if fmt is None:
                if suffix not in EXTENSIONS:
                    return None
                raise _error(
                    name,
                    "wrong_magic",
                    f"has a {suffix} extension but is not a {suffix[1:].upper()} file: "
                    f"{describe(head)}",
                )
            entries = READERS[fmt](Reader(fh, size, cap))
    except OSError as exc:
        raise _error(name, "unreadable", f"cannot be read: {exc.strerror or exc}") from exc
    except Corrupt as exc:
        raise _error(name, "corrupt", f"is a damaged file: {exc}") from None
    except TooLarge as exc:
        raise _error(name, "too_large", f"cannot be read: {exc}") from None
    except Unsupported as exc:
        raise _error(name, "unsupported", f"cannot be read: {exc}") from None
    values: dict[str, Entry] = {}
    for entry in entries:  # later entries win, like Pillow and the ComfyUI frontend
        values[entry.key.lower()] = entry
    return Embedded(name, fmt, values)


def _error(path: str, reason: str, text: str, **extra: Any) -> EmbeddedWorkflowError:
    return EmbeddedWorkflowError(f"media file {path!r} {text}", reason=reason, path=path, **extra)


def decode_value(value: Any, where: str) -> Any:
    """Strip NULs/whitespace and JSON-decode, again if the result is a string (bounded)."""
    for _ in range(DECODE_ROUNDS):
        if not isinstance(value, str):
            return value
        text = value.strip("\0 \t\r\n")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            excerpt = text[:60] + ("…" if len(text) > 60 else "")
            raise WorkflowLoadError(
                f"{where} is not valid JSON: {exc} (starts {excerpt!r})"
            ) from None
    return value


def workflow_graph(embedded: Embedded) -> dict[str, Any]:
    """The graph to run: the API-format ``prompt``, else the UI-format ``workflow``.

    The API graph is what ran (with its seeds), so it wins; a file that holds only the editor's
    UI workflow gives that, which the kit converts. A clear ``EmbeddedWorkflowError`` otherwise.
    """
    path, values = embedded.path, embedded.values
    keys = tuple(e.key for e in values.values())
    prompt = values.get("prompt")
    if prompt is not None and prompt.value not in ("", None):
        where = f"media file {path!r} ({prompt.location})"
        try:
            return api_graph(decode_value(prompt.value, where), where)
        except EmbeddedWorkflowError:
            raise
        except WorkflowLoadError as exc:
            raise EmbeddedWorkflowError(str(exc), reason="malformed", path=path, keys=keys) from exc
    workflow = values.get("workflow")
    if workflow is not None:
        try:
            ui = decode_value(workflow.value, workflow.location)
        except WorkflowLoadError:
            ui = None
        if is_ui_workflow(ui):
            return dict(ui)
    found = ", ".join(repr(k) for k in keys) or "none"
    extra = ""
    if "parameters" in values:
        extra = " (a 'parameters' text chunk means an A1111/Forge image, not a ComfyUI one)"
    elif embedded.format == "webp" and not keys:
        extra = " (an empty EXIF block suggests ComfyUI's --disable-metadata)"
    kind = FORMAT_NAMES[embedded.format]
    raise _error(
        path,
        "no_metadata",
        f"has no ComfyUI workflow metadata ({kind}; metadata keys found: {found}){extra}; "
        f"{NO_METADATA_HINT}",
        keys=keys,
    )
