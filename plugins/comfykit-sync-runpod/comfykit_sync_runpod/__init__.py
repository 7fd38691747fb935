"""comfykit-sync backend ``runpod``: run workflows on a RunPod Serverless worker-comfyui endpoint.

Installing the distribution registers the backend through the ``comfykit_sync`` entry point;
settings come from ``RUNPOD_*`` environment variables or :func:`configure`.
"""

from __future__ import annotations

from .settings import RunPodSettings, configure

__version__ = "0.1.0"

__all__ = ["RunPodSettings", "__version__", "configure"]
