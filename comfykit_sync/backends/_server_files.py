"""Server file names checked before sending: a loader value that names no file the server lists.

ComfyUI lists the files of its input folder as the options of a loader's combo input in
``/object_info`` (``LoadImage.image``, ``LoadAudio.audio``, the V3 ``COMBO`` of ``LoadVideo``).
A plain file name (no subfolder, no ``[input]``-style annotation: the listing has neither) that is
not among them would be refused by the server, so it is a ``ParameterError`` before the prompt is
sent. When the server lists nothing for the input, or cannot be asked, nothing is checked here:
the server decides, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ComfyKitError, ParameterError
from ..http import remaining_timeout
from ..params import WorkflowSpec
from .comfyui import ComfyUIClient

log = logging.getLogger(__name__)

_ANNOTATIONS = (" [input]", " [output]", " [temp]")
#: listed names quoted in an error message
SHOWN = 5


def _checkable(name: str) -> bool:
    """Whether the listing can tell about ``name``: a plain top-level file name."""
    return bool(name) and "/" not in name and "\\" not in name and not name.endswith(_ANNOTATIONS)


def _options(node: Mapping[str, Any] | None, field: str) -> list[str] | None:
    """The combo options of input ``field`` of a node definition (``None``: not a combo)."""
    inputs = node.get("input") if node is not None else None
    if not isinstance(inputs, Mapping):
        return None
    for section in ("required", "optional"):
        specs = inputs.get(section)
        spec = specs.get(field) if isinstance(specs, Mapping) else None
        if not isinstance(spec, list) or not spec:
            continue
        kind = spec[0]
        if kind == "COMBO" and len(spec) > 1 and isinstance(spec[1], Mapping):
            kind = spec[1].get("options")
        if isinstance(kind, list) and all(isinstance(option, str) for option in kind):
            return kind
        return None
    return None


class _Listings:
    """Node definitions read fresh (file lists change), once per class, within one deadline."""

    def __init__(self, client: ComfyUIClient) -> None:
        self.client = client
        self.deadline = time.monotonic() + sum(client.http.timeout)
        self.nodes: dict[str, Mapping[str, Any] | None] = {}

    def options(self, class_type: str, field: str) -> list[str] | None:
        if class_type not in self.nodes:
            self.nodes[class_type] = self._fetch(class_type)
        return _options(self.nodes[class_type], field)

    def _fetch(self, class_type: str) -> Mapping[str, Any] | None:
        if time.monotonic() >= self.deadline:
            return None
        timeout = remaining_timeout(self.client.http.timeout, self.deadline)
        try:
            return self.client.node_definition(class_type, timeout=timeout)
        except ComfyKitError as exc:  # the submit will meet the same server: it decides then
            log.debug("not checking %s file names: %s", class_type, exc)
            return None


def check_server_files(
    client: ComfyUIClient, spec: WorkflowSpec, values: Mapping[str, Any]
) -> None:
    """Raise one ``ParameterError`` naming every upload parameter whose server file name the
    server does not list for its loader input."""
    listings = _Listings(client)
    problems: list[str] = []
    culprits: list[str] = []
    for name, value in values.items():
        param = spec.params.get(name)
        if param is None or not param.upload or not isinstance(value, str):
            continue
        if not _checkable(value):
            continue
        for target in param.targets:
            options = listings.options(target.class_type, target.field)
            if options is None or value in options:
                continue
            listed = ", ".join(repr(o) for o in options[:SHOWN]) or "none"
            more = f" and {len(options) - SHOWN} more" if len(options) > SHOWN else ""
            problems.append(
                f"parameter {name!r}: {value!r} is neither a local file nor a file the server "
                f"lists for {target.class_type} input {target.field!r} (node {target.node_id}; "
                f"it lists {listed}{more})"
            )
            culprits.append(name)
            break
    if problems:
        raise ParameterError("; ".join(problems), params=tuple(culprits))
