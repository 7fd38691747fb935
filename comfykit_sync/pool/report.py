"""``kit.servers()``: a health report of each ComfyUI server, read from the server now."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ComfyKitError

if TYPE_CHECKING:
    from ..backends.comfyui import ComfyUIClient


@attrs.frozen
class ServerInfo:
    """One server as :meth:`~comfykit_sync.ComfyKit.servers` finds it.

    ``healthy`` is whether it answered just now; ``queue_depth`` its pending + running prompts
    (everybody's), ``in_flight`` this kit's among them; ``last_error`` the last error seen with
    it (also one the kit met earlier, while placing or following jobs); ``version`` its ComfyUI
    version, ``features`` its ``GET /features`` flags (empty when it has none) and ``jobs_api``
    whether it has the ``/api/jobs`` routes (jobs are then cancelled through them).
    """

    url: str
    healthy: bool
    version: str | None = None
    queue_depth: int | None = None
    in_flight: int | None = None
    last_error: str | None = None
    features: Mapping[str, Any] = attrs.field(factory=dict)
    jobs_api: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return {**attrs.asdict(self), "features": dict(self.features)}


def probe(client: ComfyUIClient, client_id: str, last_error: str | None = None) -> ServerInfo:
    """Ask the server behind ``client`` how it is (``/system_stats``, ``/queue``,
    ``/features``, the jobs API). Never raises: failures are in ``last_error``."""
    url = client.http.base_url
    try:
        stats = client.http.json("GET", "/system_stats", what="reading the server", attempts=1)
    except ComfyKitError as exc:
        return ServerInfo(url, healthy=False, last_error=str(exc))
    system = stats.get("system") if isinstance(stats, Mapping) else None
    version = system.get("comfyui_version") if isinstance(system, Mapping) else None
    info: dict[str, Any] = {"version": version if isinstance(version, str) else None}
    try:
        info["queue_depth"], info["in_flight"] = _queue(client, client_id)
        info["features"] = client.features()
        info["jobs_api"] = client.jobs_api()
    except ComfyKitError as exc:
        return ServerInfo(url, healthy=False, last_error=str(exc), **info)
    return ServerInfo(url, healthy=True, last_error=last_error, **info)


def _queue(client: ComfyUIClient, client_id: str) -> tuple[int, int]:
    """(pending + running prompts, those submitted with ``client_id``)."""
    reply = client.http.json("GET", "/queue", what="reading the queue", attempts=1)
    items = [
        item
        for key in ("queue_running", "queue_pending")
        for item in (reply.get(key) or [] if isinstance(reply, Mapping) else [])
        if isinstance(item, (list, tuple)) and len(item) > 3
    ]
    ours = [i for i in items if isinstance(i[3], Mapping) and i[3].get("client_id") == client_id]
    return len(items), len(ours)
