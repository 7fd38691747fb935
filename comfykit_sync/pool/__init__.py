"""Many ComfyUI servers behind one kit: routing by capability and load, sticky jobs, failover.

``ComfyKit(comfyui_url=[url1, url2])`` runs its ComfyUI backend (HTTP or WebSocket) as a
:class:`ServerPool` of one backend per server; see ``docs/many-servers.md``.
"""

from .backend import OnServer, ServerPool, pool_class
from .report import ServerInfo

__all__ = ["OnServer", "ServerInfo", "ServerPool", "pool_class"]
