"""UI-format workflows (the editor's plain "Save") converted to the API format.

The conversion reproduces the ComfyUI frontend's own ``graphToPrompt()`` from the saved file
and the target server's ``/object_info``: widget values, seeds' control widgets, upload
buttons, PrimitiveNode and Reroute, muted and bypassed nodes, subgraphs (``outer:inner`` ids,
promoted widgets), legacy ``forceInput`` values and dynamic prompts. What it cannot reproduce
faithfully is refused with :class:`~comfykit_sync.errors.UIConversionError`.
"""

from __future__ import annotations

from ..errors import UIConversionError
from .convert import PrimitiveSource, UIConversion, convert_ui, convert_ui_workflow
from .detection import is_ui_workflow

__all__ = [
    "PrimitiveSource",
    "UIConversion",
    "UIConversionError",
    "convert_ui",
    "convert_ui_workflow",
    "is_ui_workflow",
]
