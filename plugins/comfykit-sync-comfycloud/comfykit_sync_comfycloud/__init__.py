"""comfykit-sync backend ``comfycloud``: run workflows on Comfy Cloud's ComfyUI-compatible API.

Installing the distribution registers the backend and its settings through the
``comfykit_sync`` entry point: ``ComfyKit(comfycloud_api_key=...)`` or ``COMFY_CLOUD_API_KEY``,
then ``kit.execute("workflow.json", params, backend="comfycloud")``.
"""

from __future__ import annotations

from .settings import CloudSettings

__version__ = "0.1.0"

__all__ = ["CloudSettings", "__version__"]
