"""Many ComfyUI servers behind one kit: routing by capability and load, sticky jobs, failover.

``ComfyKit(comfyui_url=[url1, url2])`` runs its ComfyUI backend (HTTP or WebSocket) as a
:class:`ServerPool` of one backend per server; see ``docs/many-servers.md``. The backend is
imported on first use, so that ``import comfykit_sync`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .report import ServerInfo

if TYPE_CHECKING:
    from .backend import OnServer, ServerPool, pool_class

__all__ = ["OnServer", "ServerInfo", "ServerPool", "pool_class"]


def __getattr__(name: str) -> Any:
    if name in ("OnServer", "ServerPool", "pool_class"):
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
