"""``ExecuteResult`` as plain JSON data and back (``to_dict`` / ``from_dict``).

The dict holds every field of the result: artifacts (each with all its fields), the raw
``outputs``, ``seeds``, ``warnings`` and the typed ``error`` as ``{"type", "module", "message",
"fields"}``. The derived lists (``images``, ``images_by_var``, …) are included for readers in
other languages and ignored on the way back (they are computed from the artifacts).

Rebuilding an error never imports anything named by the data: the class is looked up among the
``ComfyKitError`` subclasses already imported, else its nearest ``comfykit_sync.errors`` base.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from . import errors
from ._fetch import fetcher_for
from .errors import ComfyKitError, rebuild_error
from .models import Artifact, ExecuteResult

#: private fields that are never serialised (the download ability comes back through a kit)
_PRIVATE = frozenset({"_fetch"})


def plain(value: Any) -> Any:
    """``value`` as JSON data: mappings → dicts with str keys, tuples/lists → lists.

    Anything that is not a JSON value is kept as its text.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def _fields(cls: type) -> Iterator[attrs.Attribute[Any]]:
    return (a for a in attrs.fields(cls) if a.name not in _PRIVATE)


# -- errors ---------------------------------------------------------------------------------


def error_to_dict(error: BaseException) -> dict[str, Any]:
    """``{"type", "module", "message", "fields"}`` (+ ``"base"`` for classes defined elsewhere,
    + ``"tuples"``: the fields that were tuples)."""
    cls = type(error)
    fields = {k: v for k, v in vars(error).items() if _public_name(k)}
    data: dict[str, Any] = {
        "type": cls.__name__,
        "module": cls.__module__,
        "message": str(error),
        "fields": plain(fields),
    }
    tuples = sorted(k for k, v in fields.items() if isinstance(v, tuple))
    if tuples:
        data["tuples"] = tuples
    if cls.__module__ != errors.__name__:
        data["base"] = next(
            (c.__name__ for c in cls.__mro__ if c.__module__ == errors.__name__), "ComfyKitError"
        )
    return data


def _public_name(name: object) -> bool:
    return isinstance(name, str) and name.isidentifier() and not name.startswith("_")


def _subclasses(cls: type[ComfyKitError]) -> Iterator[type[ComfyKitError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _error_class(name: Any, module: Any, base: Any) -> type[ComfyKitError]:
    for cls in _subclasses(ComfyKitError):
        if cls.__name__ == name and cls.__module__ == module:
            return cls
    fallback = getattr(errors, str(base or name), None)
    if isinstance(fallback, type) and issubclass(fallback, ComfyKitError):
        return fallback
    return ComfyKitError


def error_from_dict(data: Mapping[str, Any]) -> ComfyKitError:
    """The exception :func:`error_to_dict` described, of the same class (its ``__init__`` is not
    called: the message and fields are restored as they were)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("message"), str):
        raise ValueError(f"an error dict needs a 'message' string, got {data!r:.200}")
    cls = _error_class(data.get("type"), data.get("module"), data.get("base"))
    error = rebuild_error(cls, (data["message"],))
    raw = data.get("fields")
    fields = {k: v for k, v in (raw.items() if isinstance(raw, Mapping) else ()) if _public_name(k)}
    for name in data.get("tuples") or ():
        if isinstance(fields.get(name), list):
            fields[name] = tuple(fields[name])
    error.__dict__.update(fields)
    return error


# -- results --------------------------------------------------------------------------------


def artifact_to_dict(artifact: Artifact) -> dict[str, Any]:
    return {a.name: plain(getattr(artifact, a.name)) for a in _fields(Artifact)}


def artifact_from_dict(data: Mapping[str, Any], fetch: Any = None) -> Artifact:
    if not isinstance(data, Mapping):
        raise ValueError(f"an artifact must be a dict, got {type(data).__name__}")
    kwargs = {str(a.alias): data[a.name] for a in _fields(Artifact) if a.name in data}
    return Artifact(**kwargs, fetch=fetch)


def result_to_dict(result: ExecuteResult) -> dict[str, Any]:
    """Every field of ``result`` (derived ones included) as JSON data."""
    data: dict[str, Any] = {}
    for a in _fields(ExecuteResult):
        value = getattr(result, a.name)
        if a.name == "artifacts":
            data[a.name] = [artifact_to_dict(art) for art in value]
        elif a.name == "error":
            data[a.name] = None if value is None else error_to_dict(value)
        else:
            data[a.name] = plain(value)
    return data


def result_from_dict(data: Mapping[str, Any], *, kit: Any = None) -> ExecuteResult:
    """Rebuild a result; with ``kit`` its files download through that kit's HTTP client."""
    if not isinstance(data, Mapping):
        raise ValueError(f"ExecuteResult.from_dict needs a dict, got {type(data).__name__}")
    if data.get("status") not in ("completed", "failed"):
        raise ValueError(f"'status' must be 'completed' or 'failed', got {data.get('status')!r}")
    fetch = None if kit is None else fetcher_for(kit, None)
    kwargs: dict[str, Any] = {}
    for a in _fields(ExecuteResult):
        if not a.init or a.name not in data:
            continue
        value = data[a.name]
        if a.name == "artifacts":
            value = tuple(artifact_from_dict(item, fetch) for item in value or ())
        elif a.name == "error":
            value = None if value is None else error_from_dict(value)
        kwargs[str(a.alias)] = value
    return ExecuteResult(**kwargs, fetch=fetch)
