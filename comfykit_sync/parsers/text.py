"""Parser for text outputs (``text`` and similar keys; strings anywhere)."""

from __future__ import annotations

from collections.abc import Mapping

from ..hookspecs import hookimpl
from ..models import Artifact, OutputItem

TEXT_KEYS = frozenset({"text", "string", "strings", "texts", "caption"})


@hookimpl(trylast=True)
def comfykit_parse_output(output: OutputItem) -> Artifact | None:
    value = output.value
    if isinstance(value, Mapping):
        return None
    if output.key not in TEXT_KEYS and not isinstance(value, str):
        return None
    text = value if isinstance(value, str) else str(value)
    return Artifact(
        kind="text",
        var=output.var,
        node_id=output.node_id,
        display_node=output.display_node,
        text=text,
    )
