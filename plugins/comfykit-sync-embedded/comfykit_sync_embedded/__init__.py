"""comfykit-sync-embedded: load the API workflow embedded in files ComfyUI saved.

>>> from comfykit_sync import ComfyKit
>>> with ComfyKit() as kit:                                # doctest: +SKIP
...     kit.execute("render.png", {"seed": 7})
"""

from .errors import REASONS, EmbeddedWorkflowError
from .metadata import Embedded, decode_value, read_embedded, workflow_graph

__version__ = "0.1.0"

__all__ = [
    "REASONS",
    "Embedded",
    "EmbeddedWorkflowError",
    "decode_value",
    "read_embedded",
    "workflow_graph",
]
