"""The node-title grammar: split one ``_meta.title`` into parameter markers and an output name.

Only the title is looked at here; checking markers against the node's inputs and merging them
across nodes is :func:`comfykit_sync.params.parse_workflow`'s job. See ``params`` for the DSL.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from .errors import DSLError

OUTPUT_PREFIX = "$output."


@attrs.frozen
class Marker:
    """One parameter marker ``$[~]name[.[~]field][!][:description]`` of a title."""

    name: str
    field: str
    required: bool
    upload: bool
    description: str | None


@attrs.frozen
class ParsedTitle:
    """A title's output variable (``None``: no output marker), markers and warnings."""

    output: str | None
    markers: tuple[Marker, ...]
    warnings: tuple[str, ...]


#: the parse of a title without any marker
NO_MARKERS = ParsedTitle(None, (), ())


def parse_title(title: str, *, node_id: str, class_type: str) -> ParsedTitle:
    """Parse one node title; raise :class:`DSLError` naming the node for a malformed marker.

    Well-formed titles are parsed once (a kit parses the same titles for every job).
    """
    if "$" not in title:
        return NO_MARKERS
    parsed = _parse_well_formed(title, node_id, class_type)
    if parsed is None:
        raise scan_title(title, node_id=node_id, class_type=class_type)[1][0]
    return parsed


@functools.lru_cache(maxsize=4096)
def _parse_well_formed(title: str, node_id: str, class_type: str) -> ParsedTitle | None:
    """The parse of a title without errors; ``None`` for a malformed one (raised afresh)."""
    parsed, errors = scan_title(title, node_id=node_id, class_type=class_type)
    return None if errors else parsed


def scan_title(
    title: str, *, node_id: str, class_type: str
) -> tuple[ParsedTitle, tuple[DSLError, ...]]:
    """Parse every marker of a title: the well-formed ones, and a :class:`DSLError` for each
    malformed one (in title order) instead of stopping at the first."""
    where = describe_node(node_id, class_type, title)
    errors: list[DSLError] = []
    if title.startswith(OUTPUT_PREFIX) and "," not in title:
        # Compatibility: a title that is exactly an output marker keeps its remainder verbatim.
        only = _output_name(title[len(OUTPUT_PREFIX) :], where, node_id, errors)
        return ParsedTitle(only, (), ()), tuple(errors)
    output: str | None = None
    markers: list[Marker] = []
    warnings: list[str] = []
    for segment in (part.strip() for part in title.split(",")):
        if not segment.startswith("$"):
            continue  # display text
        if segment == OUTPUT_PREFIX[:-1] or segment.startswith(OUTPUT_PREFIX):
            name = _output_name(segment[len(OUTPUT_PREFIX) :], where, node_id, errors)
            if name is not None and output is not None:
                errors.append(DSLError(f"{where}: more than one $output marker", node_id=node_id))
            elif name is not None:
                output = name
            continue
        try:
            marker = _parse_marker(segment, where, node_id)
        except DSLError as exc:
            errors.append(exc)
            continue
        if (marker.description or "").endswith("!") and not marker.required:
            warnings.append(
                f"{where}: the '!' of {segment!r} is inside the ':' description, so parameter "
                f"{marker.name!r} is optional; write '!' before ':' to make it required"
            )
        markers.append(marker)
    return ParsedTitle(output, tuple(markers), tuple(warnings)), tuple(errors)


def describe_node(node_id: str, class_type: str, title: str) -> str:
    """How error messages name a node: ``node '3' (KSampler) title '$seed'``."""
    return f"node {node_id!r} ({class_type or 'no class_type'}) title {title!r}"


def _output_name(name: str, where: str, node_id: str, errors: list[DSLError]) -> str | None:
    """``name``, or ``None`` with an error added when it is blank."""
    if name.strip():
        return name
    errors.append(
        DSLError(f"{where}: $output marker without a name (write $output.<name>)", node_id=node_id)
    )
    return None


def _parse_marker(segment: str, where: str, node_id: str) -> Marker:
    body, _, description = segment[1:].partition(":")
    body = body.rstrip()  # allow "$prompt.text! : the prompt"
    required = body.endswith("!")
    if required:
        body = body[:-1]
    upload = body.startswith("~")
    if upload:
        body = body[1:]
    name, dot, field = body.partition(".")
    if not dot:
        field = name
    elif field.startswith("~"):
        upload = True
        field = field[1:]
    if not name.replace("-", "_").isidentifier():
        raise DSLError(
            f"{where}: invalid parameter name {name!r} in {segment!r}; a name is letters, digits, "
            "'_' and '-', not starting with a digit, with an optional leading '~' and trailing '!'",
            node_id=node_id,
            field=field or None,
        )
    if not field:
        raise DSLError(f"{where}: empty input field after '.' in {segment!r}", node_id=node_id)
    return Marker(name, field, required, upload, description.strip() or None)


def node_parts(node: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(title, class_type, inputs) of a graph node, or ``None`` when it carries no ``_meta``.

    Missing or ill-typed parts become ``""`` / ``{}`` so a marker on such a node fails cleanly.
    """
    if not isinstance(node, dict) or "_meta" not in node:
        return None
    meta = node["_meta"]
    title = meta.get("title") if isinstance(meta, dict) else None
    class_type = node.get("class_type")
    inputs = node.get("inputs")
    return (
        title if isinstance(title, str) else "",
        class_type if isinstance(class_type, str) else "",
        inputs if isinstance(inputs, dict) else {},
    )
