"""A node's widgets as the frontend builds them, and their values read from ``widgets_values``.

The frontend creates one widget per declared input that has a widget type, in the order of
``input_order`` (required, then optional), then the inputs its extensions add to the node
definition (audio player, upload button, 3D preview). Some widgets bring companions: the
``control_after_generate`` combo after a seed (plus a filter string after a combo with generate
control), the refresh widgets of a remote combo. ``widgets_values`` is positional over every
saved widget, so this layout has to match the frontend's exactly or every later value shifts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .node_defs import InputDef, NodeDef, parse_input
from .text import js_string


class Role(Enum):
    VALUE = "value"  # the widget of a declared input: its value goes to the API
    CONTROL = "control"  # control_after_generate combo ("fixed", "randomize", ...)
    FILTER = "filter"  # control_filter_list string of a combo with generate control
    BUTTON = "button"  # upload / refresh buttons and toggles that are not sent
    FRONTEND = "frontend"  # an extension's widget the frontend sends as "" (audioUI, preview)
    COMPUTED = "computed"  # a value the browser computes at queue time (3D view, webcam, mic)


#: Input types the frontend gives a value widget (a list of values is a COMBO too).
VALUE_WIDGET_TYPES = frozenset(
    {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "MARKDOWN", "COLOR", "TEXTAREA"}
)
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
#: Widgets whose value only exists in the browser (rendered 3D view, webcam frame, recording).
COMPUTED_WIDGET_TYPES = frozenset({"LOAD_3D", "LOAD_3D_ANIMATION", "WEBCAM", "AUDIO_RECORD"})
MEDIA_UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")
#: Nodes the frontend gives an ``audioUI`` player.
AUDIO_UI_NODES = frozenset(
    {"LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus"}
)
#: Nodes the frontend gives a 3D preview widget named ``image``.
PREVIEW_3D_NODES = frozenset({"SaveGLB", "Preview3D", "Preview3DAnimation"})
#: Widgets extensions add when the node is created, after all others, and never save.
NODE_CREATED_WIDGETS: Mapping[str, tuple[str, ...]] = {"PreviewAny": ("preview",)}
IMPLICIT_SEED_NAMES = frozenset({"seed", "noise_seed"})
_ANNOTATION = re.compile(r"\[(input|output|temp)\]", re.IGNORECASE)


@dataclass(frozen=True)
class Widget:
    name: str
    role: Role
    default: Any = None
    #: The declared input behind a VALUE (or COMPUTED) widget.
    input: InputDef | None = None
    #: False when the widget takes no ``widgets_values`` slot (``widget.serialize === false``).
    saved: bool = True
    #: For the combo an upload button fills: the folder its files are in (``image_folder``).
    upload_folder: str | None = None

    @property
    def dynamic_prompts(self) -> bool:
        return self.input is not None and self.input.options.get("dynamicPrompts") is True


@dataclass
class WidgetState:
    widget: Widget
    value: Any
    #: For a dynamic combo: its selected option's widgets have been inserted after it.
    expanded: bool = False
    #: The id of the PrimitiveNode (in the same graph) that wrote the value, if one did.
    primitive: str | None = None

    @property
    def display_value(self) -> Any:
        """The value as the widget reports it (upload combos annotate their file path)."""
        if self.widget.upload_folder is None:
            return self.value
        return upload_combo_value(self.value, self.widget)


@dataclass
class NodeWidgets:
    """The live widgets of one node, in order."""

    states: list[WidgetState] = field(default_factory=list)

    def find(self, name: str) -> WidgetState | None:
        """The first widget with ``name`` (the frontend's ``widgets.find``)."""
        return next((s for s in self.states if s.widget.name == name), None)


def build_widgets(
    node_def: NodeDef, saved: Sequence[Any] | Mapping[str, Any] | None
) -> NodeWidgets:
    """Create ``node_def``'s widgets and give them the saved values (defaults where missing)."""
    required = [i for i in node_def.inputs if not i.optional]
    optional = [i for i in node_def.inputs if i.optional]
    extras = _extension_widgets(node_def, required)
    upload_target = _upload_target(required)
    layout: list[Widget] = []
    for input_def in (*required, *optional):
        layout.extend(input_widgets(input_def, implicit_seed=True, upload=upload_target))
    layout.extend(extras)
    layout.extend(
        Widget(name, Role.FRONTEND, default="", saved=False)
        for name in NODE_CREATED_WIDGETS.get(node_def.name, ())
    )
    widgets = NodeWidgets([WidgetState(w, w.default) for w in layout])
    if isinstance(saved, Mapping):
        _assign(widgets, _by_name(saved))
    else:
        # the node definition as a dict: required inputs, the ones extensions add, optional
        declared: list[InputDef | Widget] = [*required, *extras, *optional]
        values = migrate_force_input_values(declared, list(saved or ()))
        _assign(widgets, _positional(values))
    return widgets


def _upload_target(required: Sequence[InputDef]) -> InputDef | None:
    """The first required combo with a media upload option: it gets an upload button."""
    return next(
        (
            i
            for i in required
            if i.type_name == "COMBO"
            and any(i.options.get(o) is True for o in MEDIA_UPLOAD_OPTIONS)
        ),
        None,
    )


def _extension_widgets(node_def: NodeDef, required: Sequence[InputDef]) -> list[Widget]:
    """The inputs the frontend's extensions add to the node definition (after all others)."""
    extras: list[Widget] = []
    if node_def.name in AUDIO_UI_NODES:
        extras.append(Widget("audioUI", Role.FRONTEND, default="", saved=False))
    if any(i.name == "audio" and i.options.get("audio_upload") is True for i in required):
        extras.append(Widget("upload", Role.BUTTON, default=""))
    if _upload_target(required) is not None:
        extras.append(Widget("upload", Role.BUTTON, default="image"))
    if node_def.name in PREVIEW_3D_NODES:
        extras.append(Widget("image", Role.FRONTEND, default=""))
    return extras


def is_widget_input(input_def: InputDef) -> bool:
    """True when the frontend makes a widget (not only a socket) for this input."""
    if input_def.options.get("forceInput"):
        return False
    type_name = input_def.type_name
    return (
        type_name in VALUE_WIDGET_TYPES
        or type_name == DYNAMIC_COMBO
        or type_name in COMPUTED_WIDGET_TYPES
    )


def input_widgets(
    input_def: InputDef, *, implicit_seed: bool, upload: InputDef | None = None
) -> list[Widget]:
    """The widgets one declared input gets (none for a connection-only input).

    ``implicit_seed``: an INT named ``seed``/``noise_seed`` whose spec does not say otherwise
    gets a control widget (not inside dynamic combos). ``upload``: the combo an upload button
    fills, whose value the frontend reports as an annotated path.
    """
    if not is_widget_input(input_def):
        return []
    type_name = input_def.type_name
    options = input_def.options
    if type_name in COMPUTED_WIDGET_TYPES:
        return [Widget(input_def.name, Role.COMPUTED, default="", input=input_def)]
    folder = options.get("image_folder", "input") if input_def is upload else None
    main = Widget(
        input_def.name,
        Role.VALUE,
        default=_default(input_def),
        input=input_def,
        upload_folder=str(folder) if folder is not None else None,
    )
    out = [main]
    control = options.get("control_after_generate")
    if type_name == "INT":
        if control or (control is None and implicit_seed and input_def.name in IMPLICIT_SEED_NAMES):
            out.append(Widget("control_after_generate", Role.CONTROL, default="randomize"))
    elif type_name == "COMBO":
        remote = options.get("remote")
        if isinstance(remote, Mapping):
            out.append(Widget("Auto-refresh after generation", Role.BUTTON, default=False))
            if remote.get("refresh_button"):
                out.append(Widget("refresh", Role.BUTTON, default="refresh"))
        if control:
            out.append(Widget("control_after_generate", Role.CONTROL, default="randomize"))
            out.append(Widget("control_filter_list", Role.FILTER, default=""))
    return out


def _default(input_def: InputDef) -> Any:
    """The value a new widget starts with (the frontend's widget constructors)."""
    options = input_def.options
    type_name = input_def.type_name
    if type_name in ("COMBO", DYNAMIC_COMBO):
        if options.get("default"):
            return options["default"]
        choices = combo_choices(input_def)
        if choices:
            return choices[0]
        return "Loading..." if options.get("remote") else None
    default = options.get("default")
    if default is not None:
        return default
    return {"INT": 0, "FLOAT": 0, "BOOLEAN": False}.get(type_name, "")


def combo_choices(input_def: InputDef) -> list[Any]:
    """The values of a combo (a list type, ``COMBO`` options, or a dynamic combo's keys)."""
    if isinstance(input_def.spec_type, tuple):
        return list(input_def.spec_type)
    raw = input_def.options.get("options")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    if input_def.type_name == DYNAMIC_COMBO:
        return [o.get("key") for o in raw if isinstance(o, Mapping)]
    return list(raw)


def dynamic_combo_children(input_def: InputDef, selected: Any) -> list[Widget]:
    """The widgets of the option a dynamic combo has selected, named ``parent.child``."""
    raw = input_def.options.get("options")
    options = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else ()
    option = next((o for o in options if isinstance(o, Mapping) and o.get("key") == selected), None)
    inputs = option.get("inputs") if option is not None else None
    if not isinstance(inputs, Mapping):
        return []
    children: list[Widget] = []
    for section in ("required", "optional"):
        specs = inputs.get(section)
        if not isinstance(specs, Mapping):
            continue
        for name, spec in specs.items():
            child = parse_input(f"{input_def.name}.{name}", spec, section == "optional")
            children.extend(input_widgets(child, implicit_seed=False))
    return children


def upload_combo_value(value: Any, widget: Widget) -> Any:
    """What an upload combo reports: its file annotated with a non-input folder
    (``name.png [output]``); an empty value reports the combo's first value."""
    folder = widget.upload_folder or "input"
    if value in (None, "", 0, False):
        return js_string(widget.default)
    if isinstance(value, list):
        allow_batch = widget.input is not None and widget.input.options.get("allow_batch")
        if allow_batch:
            return [_annotate(v, folder) for v in value]
        return _annotate(value[0], folder) if value else js_string(widget.default)
    return _annotate(value, folder)


def _annotate(value: Any, folder: str) -> str:
    text = js_string(value)
    if folder != "input" and not _ANNOTATION.search(text):
        return f"{text} [{folder}]"
    return text


#: Gives a widget its saved value: ``(True, value)``, or ``(False, None)`` to keep its default.
Assigner = Callable[[WidgetState], "tuple[bool, Any]"]


def _positional(values: list[Any]) -> Assigner:
    """Consume ``values`` in order over the saved widgets, as ``LGraphNode.configure`` does."""
    position = 0

    def assign(state: WidgetState) -> tuple[bool, Any]:
        nonlocal position
        if not state.widget.saved or position >= len(values):
            return False, None
        position += 1
        return True, values[position - 1]

    return assign


def _by_name(values: Mapping[str, Any]) -> Assigner:
    """Values saved as a dict keyed by widget name (a custom node's own extension reads them)."""

    def assign(state: WidgetState) -> tuple[bool, Any]:
        if state.widget.role is Role.VALUE and state.widget.name in values:
            return True, values[state.widget.name]
        return False, None

    return assign


def _assign(widgets: NodeWidgets, assigner: Assigner) -> None:
    """Give each widget its value; a dynamic combo's selected option widgets are inserted
    right after it (and filled next), as its value setter does in the frontend."""
    index = 0
    while index < len(widgets.states):
        state = widgets.states[index]
        has_value, value = assigner(state)
        if has_value:
            state.value = value
        index += 1
        input_def = state.widget.input
        if (
            state.widget.role is Role.VALUE
            and input_def is not None
            and input_def.type_name == DYNAMIC_COMBO
            and not state.expanded
        ):
            children = dynamic_combo_children(input_def, state.value)
            widgets.states[index:index] = [WidgetState(w, w.default) for w in children]
            state.expanded = True


def migrate_force_input_values(
    declared: Sequence[InputDef | Widget], values: list[Any]
) -> list[Any]:
    """Drop the dummy values of ``forceInput`` inputs saved before frontend 1.16.

    Every input that has a widget or ``forceInput`` is listed in definition order, twice if it
    has a control widget (``control_after_generate``, or a seed that does not say otherwise);
    only if that list is exactly as long as the saved values are the ``forceInput`` positions
    dropped.
    """
    flags: list[bool] = []
    for entry in declared:
        if isinstance(entry, Widget):
            flags.append(False)
            continue
        force = bool(entry.options.get("forceInput"))
        if not (force or is_widget_input(entry)):
            continue
        flags.append(force)
        control = entry.options.get("control_after_generate")
        if control or (control is None and entry.name in IMPLICIT_SEED_NAMES):
            flags.append(False)
    if not any(flags) or len(flags) != len(values):
        return values
    return [v for v, force in zip(values, flags, strict=True) if not force]
