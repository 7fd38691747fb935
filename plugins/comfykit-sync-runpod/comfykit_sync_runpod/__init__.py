"""comfykit-sync backend ``runpod``: run workflows on a RunPod Serverless worker-comfyui endpoint.

Installing the distribution registers the backend and its settings through the
``comfykit_sync`` entry point: ``ComfyKit(runpod_endpoint_id=..., runpod_api_key=...)`` or the
``RUNPOD_*`` environment variables.
"""

from __future__ import annotations

from .settings import RunPodSettings

__version__ = "0.1.0"

__all__ = ["RunPodSettings", "__version__"]
