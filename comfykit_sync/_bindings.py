"""How DSL markers bind to node inputs: the rules ``params`` and ``lint`` share.

:func:`comfykit_sync.params.parse_workflow` raises the first problem these rules find;
:func:`comfykit_sync.lint.lint_graph` reports every one (and a few more warnings of its own).
The title grammar itself is :mod:`comfykit_sync._dsl`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import attrs

from ._dsl import Marker
from .errors import DSLError

ParamType = Literal["bool", "int", "float", "str", "object", "any"]

#: Media loader classes and their file input: such an input is an upload even without ``~``.
MEDIA_FILE_INPUTS: Mapping[str, str] = MappingProxyType(
    {
        "LoadImage": "image",
        "LoadImageMask": "image",
        "LoadAudio": "audio",
        "LoadVideo": "file",
        "VHS_LoadVideo": "video",
        "VHS_LoadAudioUpload": "audio",
    }
)


def is_link(value: Any) -> bool:
    """Whether an input value is a link ``[node_id, output_index]`` to another node."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def literal_type(value: Any) -> ParamType:
    """The parameter type an input's literal value gives (``any`` for a link or null)."""
    if value is None or is_link(value):
        return "any"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str" if isinstance(value, str) else "object"


def unify(a: ParamType, b: ParamType) -> ParamType | None:
    """The type of a name bound to inputs of types ``a`` and ``b`` (``None``: they conflict)."""
    if a == b or b == "any":
        return a
    if a == "any":
        return b
    return "float" if {a, b} == {"int", "float"} else None


@attrs.frozen
class Binding:
    """A marker bound to its node input: the input's value, its type and the upload flag."""

    marker: Marker
    node_id: str
    class_type: str
    value: Any = attrs.field(repr=False)
    type: ParamType
    upload: bool

    @property
    def default(self) -> Any:
        """The input's literal value (``None`` for a link or null)."""
        return None if self.type == "any" else self.value


def declared_twice(where: str, marker: Marker) -> str:
    """The warning for a marker repeated on the same input (not an error: it binds once)."""
    return f"{where}: {marker.name!r} is declared twice for input {marker.field!r}"


def bind_marker(
    marker: Marker,
    node_id: str,
    class_type: str,
    inputs: Mapping[Any, Any],
    where: str,
    *,
    bound_to: str | None = None,
) -> Binding:
    """Bind ``marker`` to its input of the node; raise :class:`DSLError` when it cannot.

    ``bound_to`` is the other name already bound to the same input of this node, if any. An
    optional marker needs a literal default: a linked or null input must be required (``!``).
    """
    field = marker.field
    if bound_to is not None:
        raise DSLError(
            f"{where}: input {field!r} is bound to both {bound_to!r} and {marker.name!r}",
            node_id=node_id,
            field=field,
        )
    if field not in inputs:
        available = ", ".join(repr(k) for k in inputs) or "none"
        raise DSLError(
            f"{where}: parameter {marker.name!r} targets input {field!r}, which "
            f"{class_type or 'the node'} does not have (inputs: {available})",
            node_id=node_id,
            field=field,
        )
    value = inputs[field]
    if not marker.required and is_link(value):
        raise DSLError(
            f"{where}: input {field!r} of parameter {marker.name!r} is linked to node "
            f"{value[0]!r}; a marker on a linked input must be required ('!')",
            node_id=node_id,
            field=field,
        )
    if not marker.required and value is None:
        raise DSLError(
            f"{where}: optional parameter {marker.name!r} has no default (input {field!r} is "
            "null); give it a value or mark it required ('!')",
            node_id=node_id,
            field=field,
        )
    upload = marker.upload or MEDIA_FILE_INPUTS.get(class_type) == field
    return Binding(marker, node_id, class_type, value, literal_type(value), upload)


def merge_bindings(
    name: str, bindings: Sequence[Binding]
) -> tuple[ParamType | None, tuple[DSLError, ...]]:
    """The type of a name bound to several inputs, and the problems of the merge in order:
    an upload on some inputs only, types that do not unify (the type is then ``None``)."""
    first = bindings[0]
    ptype: ParamType | None = first.type
    type_node = first.node_id
    problems: list[DSLError] = []
    for binding in bindings[1:]:
        if binding.upload != first.upload:
            uploads, plain = (first, binding) if first.upload else (binding, first)
            problems.append(
                DSLError(
                    f"parameter {name!r} is an upload on node {uploads.node_id!r} but not on "
                    f"node {plain.node_id!r}",
                    node_id=binding.node_id,
                    field=binding.marker.field,
                )
            )
        if ptype is None:
            continue
        unified = unify(ptype, binding.type)
        if unified is None:
            problems.append(
                DSLError(
                    f"parameter {name!r} is {ptype} on node {type_node!r} but {binding.type} "
                    f"on node {binding.node_id!r}",
                    node_id=binding.node_id,
                    field=binding.marker.field,
                )
            )
        elif unified != ptype:
            type_node = binding.node_id
        ptype = unified
    return ptype, tuple(problems)
