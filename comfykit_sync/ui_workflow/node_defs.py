"""Node definitions from a server's ``/object_info``, in the shape the conversion needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The names the frontend shows for core nodes whose ``/object_info`` has no ``display_name``
#: (from its English locale) where they are not simply the class name.
FRONTEND_DISPLAY_NAMES: Mapping[str, str] = {
    "ImageBlend": "Image Blend",
    "ImageBlur": "Image Blur",
    "ImageQuantize": "Image Quantize",
    "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
    "ImageSharpen": "Image Sharpen",
}


@dataclass(frozen=True)
class InputDef:
    """One declared input: ``spec_type`` is the raw first element (a type name or a list)."""

    name: str
    spec_type: str | tuple[Any, ...]
    options: Mapping[str, Any]
    optional: bool

    @property
    def type_name(self) -> str:
        """The socket type: ``COMBO`` for a list of values, else the declared name."""
        return "COMBO" if isinstance(self.spec_type, tuple) else self.spec_type


@dataclass(frozen=True)
class NodeDef:
    name: str
    display_name: str
    #: Required inputs then optional ones, each in ``input_order`` (hidden inputs left out).
    inputs: tuple[InputDef, ...]
    #: Output types (``COMBO`` for an output that is a list of values).
    outputs: tuple[str, ...] = ()


class NodeDefs:
    """Lazy, cached view of an ``/object_info`` mapping (class name → definition)."""

    def __init__(self, object_info: Mapping[str, Any]) -> None:
        self._info = object_info
        self._cache: dict[str, NodeDef | None] = {}

    def get(self, class_type: str) -> NodeDef | None:
        if class_type not in self._cache:
            raw = self._info.get(class_type)
            self._cache[class_type] = (
                _parse_def(class_type, raw) if isinstance(raw, Mapping) else None
            )
        return self._cache[class_type]


def _parse_def(name: str, raw: Mapping[str, Any]) -> NodeDef:
    declared = _mapping(raw.get("input"))
    order = _mapping(raw.get("input_order"))
    inputs: list[InputDef] = []
    for section in ("required", "optional"):
        specs = declared.get(section)
        if not isinstance(specs, Mapping):
            continue
        inputs.extend(
            parse_input(input_name, specs[input_name], section == "optional")
            for input_name in ordered_names(specs, order.get(section))
        )
    display = raw.get("display_name")
    outputs = raw.get("output")
    return NodeDef(
        name=name,
        display_name=(
            display
            if isinstance(display, str) and display
            else FRONTEND_DISPLAY_NAMES.get(name, name)
        ),
        inputs=tuple(inputs),
        outputs=tuple(
            "COMBO" if isinstance(o, list) else o if isinstance(o, str) else "*"
            for o in (outputs if isinstance(outputs, list) else ())
        ),
    )


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def ordered_names(specs: Mapping[str, Any], order: Any) -> list[str]:
    """``specs``' names in ``order`` (``input_order``), then any it does not list."""
    names = [n for n in order if n in specs] if isinstance(order, Sequence) else []
    names.extend(n for n in specs if n not in names)
    return names


def parse_input(name: str, spec: Any, optional: bool) -> InputDef:
    """One ``[type, options]`` input spec (a bare type or a malformed spec degrades to a socket)."""
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, Sequence) or not spec:
        return InputDef(name, "*", {}, optional)
    first = spec[0]
    spec_type: str | tuple[Any, ...] = (
        tuple(first) if isinstance(first, list) else first if isinstance(first, str) else "*"
    )
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    if optional and options.get("defaultInput"):  # the frontend reads it as forceInput there
        options = {**options, "forceInput": True}
    return InputDef(name, spec_type, options, optional)
