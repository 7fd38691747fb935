"""One API-format node from an execution node: widget values, then resolved links."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import UIConversionError
from .live import Kind, LiveNode
from .resolve import ExecNode, LinkRef, Resolver
from .search_replace import SAVE_NODE_TYPES
from .text import WidgetLookup, apply_text_replacements, process_dynamic_prompt
from .widgets import Role, WidgetState


@dataclass
class Emitted:
    """An API node, and which of its inputs hold a PrimitiveNode's value (input → its id)."""

    entry: dict[str, Any]
    primitives: dict[str, str] = field(default_factory=dict)


class Emitter:
    def __init__(
        self,
        resolver: Resolver,
        rng: random.Random,
        lookup: WidgetLookup,
        now: Callable[[], datetime],
    ) -> None:
        self._resolver = resolver
        self._rng = rng
        self._lookup = lookup
        self._now = now

    def emit(self, exec_node: ExecNode) -> Emitted:
        """The node as ``graphToPrompt()`` writes it; refuses what it cannot write faithfully."""
        node = exec_node.node
        if node.kind is not Kind.REAL:
            raise refusal(
                exec_node,
                "the server has no node of this type (a custom node that is not installed, or "
                "a frontend-only node this converter does not know)",
            )
        emitted = Emitted({})
        inputs: dict[str, Any] = {}
        overrides = exec_node.host.node.overrides if exec_node.host is not None else {}
        for state in node.widgets.states:
            name = state.widget.name
            role = state.widget.role
            if role is Role.COMPUTED:
                raise refusal(
                    exec_node, f"its {name!r} value is computed in the browser when it is queued"
                )
            if role is Role.FRONTEND:
                inputs[name] = state.widget.default
            elif role is Role.VALUE and (node.id, name) in overrides:
                inputs[name] = wrap(overrides[(node.id, name)])
            elif role is Role.VALUE:
                inputs[name] = wrap(self._serialize(node, state))
                if state.primitive is not None:
                    emitted.primitives[name] = ":".join((*exec_node.path, state.primitive))
        for index, live_input in enumerate(node.inputs):
            resolved = self._resolver.resolve(exec_node, index)
            if resolved is None:
                continue
            emitted.primitives.pop(live_input.name, None)
            if isinstance(resolved, LinkRef):
                inputs[live_input.name] = [resolved.node_id, resolved.slot]
                continue
            inputs[live_input.name] = wrap(resolved.value)
            if resolved.primitive is not None:
                emitted.primitives[live_input.name] = resolved.primitive
        emitted.entry = {
            "inputs": inputs,
            "class_type": node.saved.type,
            "_meta": {"title": node.title},
        }
        return emitted

    def _serialize(self, node: LiveNode, state: WidgetState) -> Any:
        """``widget.serializeValue``: dynamic prompts, file name replacements, else the value."""
        value = state.display_value
        if not isinstance(value, str):
            return value
        if state.widget.dynamic_prompts:
            return process_dynamic_prompt(value, self._rng)
        if state.widget.name == "filename_prefix" and node.saved.type in SAVE_NODE_TYPES:
            return apply_text_replacements(value, self._lookup, self._now)
        return value


def wrap(value: Any) -> Any:
    """Lists would read as links: the frontend sends them as ``{"__value__": [...]}``."""
    return {"__value__": value} if isinstance(value, list) else value


def refusal(exec_node: ExecNode, reason: str) -> UIConversionError:
    return UIConversionError(
        reason,
        node_id=exec_node.exec_id,
        title=exec_node.node.title,
        node_type=exec_node.node.saved.type,
    )
