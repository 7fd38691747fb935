"""Slot type matching, and which input a bypassed node passes through to an output."""

from __future__ import annotations

from collections.abc import Sequence

WILDCARDS = ("*", "")


def is_valid_connection(type_a: str, type_b: str) -> bool:
    """LiteGraph's type check: wildcards match anything, names compare case-insensitively,
    and comma-separated lists match when any pair does."""
    if type_a in WILDCARDS or type_b in WILDCARDS or type_a == type_b:
        return True
    a, b = type_a.lower(), type_b.lower()
    if "," not in a and "," not in b:
        return a == b
    return any(is_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


def bypass_input_index(
    input_types: Sequence[str], output_type: str, slot: int, target_type: str
) -> int | None:
    """The input a bypassed node feeds to whatever reads its output ``slot``.

    ``target_type`` is the type of the input at the end of the chain. The same index wins when
    it fits both types (any index for a wildcard target), then the first input of exactly the
    target's type, then the first that fits both. None: nothing fits, the link is dropped.
    """
    if target_type in WILDCARDS:
        index = slot if len(input_types) > slot else 0
        return index if index < len(input_types) else None
    if slot < len(input_types):
        opposite = input_types[slot]
        if is_valid_connection(opposite, output_type) and is_valid_connection(
            opposite, target_type
        ):
            return slot
    for index, input_type in enumerate(input_types):
        if input_type == target_type:
            return index
    for index, input_type in enumerate(input_types):
        if is_valid_connection(input_type, output_type) and is_valid_connection(
            input_type, target_type
        ):
            return index
    return None
