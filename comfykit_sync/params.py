"""Workflow parameters: the node-title DSL, parameter validation and binding, seed randomization.

A node's ``_meta.title`` is split on ``,``; each stripped segment starting with ``$`` is a marker,
anything else is display text (``Sampler, $seed, $steps``):

* ``$name`` exposes the input ``name``; ``$name.field`` exposes ``field`` (split at the first
  ``.``, so ``$a.b.c`` targets input ``b.c``) as parameter ``name``.
* A trailing ``!`` makes it required (``$prompt.text!``); a ``~`` before the name or the field
  marks an upload (``$~image``, ``$img.~image``); ``:description`` after the marker is a note.
* ``$output.<name>`` names the node's results ``<name>`` (default: the node id).
* A parameter's type (bool, int, float, str, object) and default come from the input's value in
  the workflow; a linked or ``null`` input has none (type ``any``) and must be required.
* The same name on several inputs fans out: one value is written to all of them.

Deviations from the original ComfyKit (which accepted anything and failed late or silently):

* names must be identifiers (``-`` allowed) and fields must exist in the node: ``DSLError``
  naming the node, also for required markers;
* ``$output.<name>`` is recognised in any segment (``$output.x, $seed``); a title starting with
  ``$output.`` and without ``,`` keeps the rest verbatim; output classes (``SaveImage``) may have
  parameters;
* an omitted fanned-out parameter leaves each node its own value, one required declaration
  makes it required, and declarations disagreeing on type or upload are errors;
* a ``!`` swallowed by a ``:description`` is reported in ``WorkflowSpec.warnings``;
* values are coerced to the parameter's type, unknown parameters are errors, lists never become
  links of str/int/float/bool inputs, and upload values become :class:`UploadSource` (a string
  that is neither a URL nor a local file is a file already on the server; an empty file is
  refused);
* seeds are randomized per policy (``zero``/``always``/``off``) and the seeds used are reported.
"""

from __future__ import annotations

import copy
import hashlib
import json
import marshal
import math
import numbers
import os
import posixpath
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import attrs

from ._bindings import (
    Binding,
    ParamType,
    bind_marker,
    declared_twice,
    merge_bindings,
)
from ._dsl import describe_node, node_parts, parse_title
from .config import SEED_POLICIES
from .errors import ConfigurationError, ParameterError, WorkflowError

MAX_SEED = 2**63 - 1


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _targets(items: Iterable[ParamTarget]) -> tuple[ParamTarget, ...]:
    return tuple(items)


@attrs.frozen
class ParamTarget:
    """One node input a parameter writes to; ``default`` is that input's own literal or None."""

    node_id: str
    field: str
    class_type: str
    upload: bool
    default: Any


@attrs.frozen
class ParamSpec:
    """A named workflow parameter; ``default`` is the first optional declaration's literal."""

    name: str
    type: ParamType
    required: bool
    default: Any
    upload: bool
    targets: tuple[ParamTarget, ...] = attrs.field(converter=_targets)
    description: str | None = None


@attrs.frozen
class WorkflowSpec:
    """What a workflow's titles declare: parameters (declaration order) and output names."""

    params: Mapping[str, ParamSpec] = attrs.field(factory=dict, converter=_frozen_mapping)
    outputs: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def output_var(self, node_id: str) -> str:
        """The result variable of a node: its ``$output.<name>``, else the node id."""
        return self.outputs.get(node_id, node_id)

    def param_for(self, node_id: str, field: str) -> str | None:
        """The parameter bound to input ``field`` of node ``node_id``, if any."""
        for spec in self.params.values():
            if any(t.node_id == node_id and t.field == field for t in spec.targets):
                return spec.name
        return None


@attrs.frozen
class UploadSource:
    """A local file, bytes, file object or URL still to be uploaded for an upload parameter."""

    kind: Literal["path", "bytes", "file", "url"]
    value: Any
    filename: str | None


# ---------------------------------------------------------------------------------------------
# Parsing


def _check_graph(graph: Any) -> None:
    if not isinstance(graph, Mapping):
        raise WorkflowError(f"an API-format workflow is a JSON object, got {type(graph).__name__}")


def parse_workflow(graph: Mapping[str, Any]) -> WorkflowSpec:
    """Read the DSL markers of an API-format graph; raise :class:`DSLError` for a bad marker."""
    _check_graph(graph)
    declarations: dict[str, list[Binding]] = {}
    bound: dict[tuple[str, str], str] = {}
    outputs: dict[str, str] = {}
    warnings: list[str] = []
    for node_id, node in graph.items():
        if not isinstance(node_id, str):
            raise WorkflowError(f"node ids must be strings, got {node_id!r}")
        parts = node_parts(node)
        if parts is None:
            continue
        title, class_type, inputs = parts
        parsed = parse_title(title, node_id=node_id, class_type=class_type)
        warnings.extend(parsed.warnings)
        if parsed.output is not None:
            outputs[node_id] = parsed.output
        if not parsed.markers:
            continue
        where = describe_node(node_id, class_type, title)
        for marker in parsed.markers:
            previous = bound.get((node_id, marker.field))
            if previous == marker.name:
                warnings.append(declared_twice(where, marker))
                continue
            binding = bind_marker(marker, node_id, class_type, inputs, where, bound_to=previous)
            bound[(node_id, marker.field)] = marker.name
            declarations.setdefault(marker.name, []).append(binding)
    params = {name: _merge(name, bindings) for name, bindings in declarations.items()}
    return WorkflowSpec(params, outputs, tuple(warnings))


#: specs remembered by :func:`shared_spec`
SPEC_MEMORY = 256
_specs: OrderedDict[bytes, WorkflowSpec] = OrderedDict()
_specs_lock = threading.Lock()


def shared_spec(graph: Mapping[str, Any]) -> WorkflowSpec:
    """:func:`parse_workflow` of ``graph``, remembered by content for graphs of plain JSON data
    (a kit parses the same workflow for every job). The spec may be shared: read-only.

    The key is a digest of the graph marshalled in format 2, which writes values, not how
    they are shared: equal bytes are equal graphs, node order included.
    """
    data: Any = graph  # marshal takes dicts of plain values and refuses anything else
    try:
        key = hashlib.blake2b(marshal.dumps(data, 2), digest_size=20).digest()
    except ValueError:  # not plain data (objects of a loader plugin): parsed every time
        return parse_workflow(graph)
    with _specs_lock:
        spec = _specs.get(key)
        if spec is not None:
            _specs.move_to_end(key)
            return spec
    spec = parse_workflow(graph)
    with _specs_lock:
        _specs[key] = spec
        if len(_specs) > SPEC_MEMORY:
            _specs.popitem(last=False)
    return spec


def _merge(name: str, bindings: list[Binding]) -> ParamSpec:
    ptype, problems = merge_bindings(name, bindings)
    if problems:
        raise problems[0]
    assert ptype is not None
    targets = tuple(
        ParamTarget(b.node_id, b.marker.field, b.class_type, b.upload, _copy_json(b.default))
        for b in bindings
    )
    optional = [
        target for b, target in zip(bindings, targets, strict=True) if not b.marker.required
    ]
    return ParamSpec(
        name=name,
        type=ptype,
        required=len(optional) < len(targets),
        default=optional[0].default if optional else None,
        upload=bindings[0].upload,
        targets=targets,
        description=next((b.marker.description for b in bindings if b.marker.description), None),
    )


# ---------------------------------------------------------------------------------------------
# Validation and coercion


class _Invalid(Exception):
    """A value does not fit its parameter (turned into a ParameterError by validate_params)."""


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"str {value[:40]!r}{'...' if len(value) > 40 else ''}"
    return type(value).__name__


def _expected(kind: str, value: Any) -> _Invalid:
    return _Invalid(f"expected {kind}, got {_describe(value)}")


_INT_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")
_BOOL_TEXT = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


def _to_int(value: Any) -> int:
    try:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_TEXT.fullmatch(value):
            return int(value)
    except ValueError:  # more digits than int() converts
        pass
    raise _expected("int", value)


def _to_float(value: Any) -> float:
    try:
        if isinstance(value, (numbers.Real, str)) and not isinstance(value, bool):
            result = float(value)
            if math.isfinite(result):
                return result
    except (ValueError, OverflowError):
        pass
    raise _expected("a finite float", value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[value.strip().lower()]
    raise _expected("bool (true/false, 1/0, yes/no, on/off)", value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        if isinstance(value, (numbers.Integral, float)) and not isinstance(value, bool):
            return str(value)
    except ValueError:  # more digits than str() converts
        pass
    raise _expected("str", value)


def _to_json(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise _expected("a JSON-serialisable value", value) from None
    return value


_COERCE: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "int": _to_int,
        "float": _to_float,
        "bool": _to_bool,
        "str": _to_str,
        "object": _to_json,
        "any": _to_json,
    }
)


def _looks_local(text: str) -> bool:
    return os.path.isabs(text) or text.startswith(("./", "../", "~", ".\\", "..\\"))


def _local_file(path: str) -> UploadSource:
    if os.path.getsize(path) == 0:
        raise _Invalid(f"upload file {path} is empty (0 bytes)")
    return UploadSource("path", path, os.path.basename(path))


def _remaining_bytes(fileobj: Any) -> int | None:
    """Bytes left in a seekable file object (its position restored), else ``None``."""
    try:
        if not fileobj.seekable():
            return None
        start = fileobj.tell()
        end = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return end - start if isinstance(end, int) and isinstance(start, int) else None


def _upload_source(value: Any) -> UploadSource | str:
    """An upload value as an :class:`UploadSource`, or a server file name (a plain string).

    Empty local files, bytes and seekable file objects are refused: ComfyUI would store an
    unreadable file and fail the job later.
    """
    if isinstance(value, str):
        if value[:8].lower().startswith(("http://", "https://")):
            try:
                filename = posixpath.basename(unquote(urlsplit(value).path))
            except ValueError as exc:
                raise _Invalid(f"invalid URL {value!r}: {exc}") from None
            return UploadSource("url", value, filename or None)
        path = os.path.expanduser(value)
        if os.path.isfile(path):
            return _local_file(path)
        if _looks_local(value):
            raise _Invalid(f"upload file not found: {value}")
        return value  # a file already on the server, e.g. "cat.png"
    if isinstance(value, os.PathLike):
        path = os.fsdecode(value)
        if not os.path.isfile(path):
            raise _Invalid(f"upload file not found: {path}")
        return _local_file(path)
    if isinstance(value, (bytes, bytearray, memoryview)):
        if not len(value):
            raise _Invalid("the upload is empty (0 bytes)")
        return UploadSource("bytes", bytes(value), None)
    if callable(getattr(value, "read", None)):
        name = getattr(value, "name", None)
        filename = os.path.basename(name) if isinstance(name, str) else ""
        if _remaining_bytes(value) == 0:
            raise _Invalid(f"upload file {filename or 'object'} is empty (0 bytes)")
        return UploadSource("file", value, filename or None)
    raise _expected("a URL, path, server file name, bytes or file object", value)


def validate_params(spec: WorkflowSpec, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check and coerce the caller's params; raise one :class:`ParameterError` listing all problems.

    Returns name → coerced value (an :class:`UploadSource` or server file name for uploads) for
    the supplied params only.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ParameterError(
            f"params must be a mapping of parameter names to values, got {type(params).__name__}"
        )
    problems: list[str] = []
    culprits: list[str] = []
    non_str = [repr(k) for k in params if not isinstance(k, str)]
    if non_str:
        problems.append(f"parameter names must be strings, got {', '.join(non_str)}")
        culprits.extend(non_str)
    unknown = [k for k in params if isinstance(k, str) and k not in spec.params]
    if unknown:
        known = ", ".join(spec.params) or "none"
        problems.append(
            f"unknown parameter(s) {', '.join(unknown)} (this workflow's parameters: {known})"
        )
        culprits.extend(unknown)
    missing = [name for name, p in spec.params.items() if p.required and name not in params]
    if missing:
        problems.append(f"missing required parameter(s) {', '.join(missing)}")
        culprits.extend(missing)
    values: dict[str, Any] = {}
    for name, value in params.items():
        param = spec.params.get(name) if isinstance(name, str) else None
        if param is None:
            continue
        try:
            values[name] = _upload_source(value) if param.upload else _COERCE[param.type](value)
        except _Invalid as exc:
            problems.append(f"parameter {name!r}: {exc}")
            culprits.append(name)
    if problems:
        raise ParameterError("; ".join(problems), params=tuple(culprits))
    return values


# ---------------------------------------------------------------------------------------------
# Binding and seeds


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists and scalars, copied several times faster
    than :func:`copy.deepcopy` does); anything else is deep-copied by ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_json(item) for key, item in value.items()}
    if kind is list:
        return [_copy_json(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def apply_params(
    graph: Mapping[str, Any], spec: WorkflowSpec, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Return a deep copy of ``graph`` with each value written to every target of its parameter.

    ``values`` are validated values whose uploads are already resolved to server file names.
    """
    _check_graph(graph)
    try:
        result = {node_id: _copy_json(node) for node_id, node in graph.items()}
    except RecursionError:
        raise WorkflowError(
            "the workflow is not JSON data: it nests too deeply or contains itself"
        ) from None
    for name, value in values.items():
        param = spec.params.get(name)
        if param is None:
            raise ParameterError(f"unknown parameter {name!r}", params=(str(name),))
        if isinstance(value, UploadSource):
            raise ParameterError(
                f"parameter {name!r} is an unresolved {value.kind} upload; upload it and pass the "
                "server file name",
                params=(name,),
            )
        for target in param.targets:
            node = result.get(target.node_id)
            inputs = node.setdefault("inputs", {}) if isinstance(node, dict) else None
            if not isinstance(inputs, dict):
                raise WorkflowError(
                    f"node {target.node_id!r} of parameter {name!r} has no inputs object"
                )
            inputs[target.field] = _copy_json(value)
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def randomize_seeds(
    graph: dict[str, Any], *, policy: str = "zero", rng: random.Random | None = None
) -> dict[str, int]:
    """Randomize ``seed`` inputs in place per ``policy``; return the literal seeds by node id.

    ``"zero"``: seeds equal to 0 or ``"0"``; ``"always"``: every int seed; ``"off"``: none.
    New seeds are uniform in [0, 2**63-1]. The result maps node id → seed (``seed`` before
    ``noise_seed``) for every node that has one, randomized or not.
    """
    if policy not in SEED_POLICIES:
        raise ConfigurationError(
            f"seed policy must be one of {', '.join(SEED_POLICIES)}, got {policy!r}"
        )
    source = rng if rng is not None else random.SystemRandom()
    used: dict[str, int] = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        seed = inputs.get("seed")
        is_zero = (_is_int(seed) and seed == 0) or (isinstance(seed, str) and seed.strip() == "0")
        if (policy == "always" and _is_int(seed)) or (policy == "zero" and is_zero):
            inputs["seed"] = source.randint(0, MAX_SEED)
        literal = next((inputs[k] for k in ("seed", "noise_seed") if _is_int(inputs.get(k))), None)
        if literal is not None:
            used[node_id] = literal
    return used
