"""Plain value types of the fake ComfyUI server: scripts and what it recorded.

This module imports nothing but attrs, so it is cheap to import from the
package ``__init__`` and from the pytest plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


def _opt_str(value: object) -> str | None:
    """Node ids may be given as ints; ComfyUI node ids are strings."""
    return None if value is None else str(value)


def _opt_float(value: float | str | None) -> float | None:
    return None if value is None else float(value)


def _outputs(value: Mapping[Any, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
    if value is None:
        return None
    return {str(node_id): dict(ui) for node_id, ui in value.items()}


@attrs.frozen(kw_only=True)
class Script:
    """Scripted behaviour for one submitted prompt (every field optional).

    * ``duration`` -- execution time in seconds (overrides the server default).
    * ``error_node`` -- node id that fails with an ``execution_error``
      (``error_message``, ``error_type``).
    * ``blocked_node`` -- node id that emits the non-fatal "ExecutionBlocked"
      ``execution_error`` (``blocked_message``); execution continues.
    * ``expand_node`` -- node id that expands when it runs, as ComfyUI's node
      expansion does: after its own ``executing``, a copy of it created as
      ``<node>.0.0.1`` does its work, with ``display_node`` naming the node in
      its events; its UI output is recorded under the copy's id (``meta`` maps
      it back).
    * ``expansion_cycle`` -- the expansion of ``expand_node`` also creates nodes
      that wait on each other: after the copy ran, ComfyUI 0.3.64 reports an
      ``execution_error`` (``graph.DependencyCycleError``) for the node and
      stops, yet writes the history with ``status_str: "success"`` and
      ``completed: true``.
    * ``interrupt_after`` -- seconds after start: interrupt the prompt as
      ``POST /interrupt {"prompt_id": ...}`` would.
    * ``vanish`` -- the prompt disappears when it would start: no history,
      no events, gone from ``/queue``.
    * ``delay_final`` -- seconds between the history write and the final
      ``executing`` ``node: null`` event.
    * ``history_after_final`` -- seconds between the final ``executing`` ``node: null``
      event and the history write (the inverted order; the prompt stays "running").
    * ``drop_socket_after`` -- seconds after start: abruptly close the
      WebSocket of the prompt's client.
    * ``no_cached_executed`` -- old-server behaviour: no ``executed`` for
      output nodes served from cache.
    * ``submit_status`` -- answer ``POST /prompt`` with this HTTP status;
      nothing is queued.
    * ``outputs`` -- node id -> UI output dict replacing that node's
      generated output.
    """

    duration: float | None = attrs.field(default=None, converter=_opt_float)
    error_node: str | None = attrs.field(default=None, converter=_opt_str)
    error_message: str = "Fake node failure"
    error_type: str = "RuntimeError"
    blocked_node: str | None = attrs.field(default=None, converter=_opt_str)
    blocked_message: str = "blocked by script"
    expand_node: str | None = attrs.field(default=None, converter=_opt_str)
    expansion_cycle: bool = False
    interrupt_after: float | None = attrs.field(default=None, converter=_opt_float)
    vanish: bool = False
    delay_final: float = attrs.field(default=0.0, converter=float)
    history_after_final: float = attrs.field(default=0.0, converter=float)
    drop_socket_after: float | None = attrs.field(default=None, converter=_opt_float)
    no_cached_executed: bool = False
    submit_status: int | None = None
    outputs: dict[str, dict[str, Any]] | None = attrs.field(default=None, converter=_outputs)


@attrs.define(kw_only=True)
class PromptRecord:
    """What the fake server knows about one prompt id.

    ``status``: "pending", "running", "success", "error", "interrupted",
    "deleted" (removed from the queue), "lost" (vanished or dropped by a
    restart) or "rejected" (every ``POST /prompt`` with this id was refused).
    ``submit_count`` counts every ``POST /prompt`` whose body carried this id.
    When an id is reused, the record describes its latest submission.
    """

    prompt_id: str
    graph: dict[str, Any] = attrs.field(repr=False)
    client_id: str | None
    extra_data: dict[str, Any]
    number: float = 0
    submit_count: int = 1
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    status: str = "pending"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of the record, without the graph."""
        return attrs.asdict(self, filter=lambda a, _v: a.name != "graph")


@attrs.frozen
class RequestRecord:
    """One HTTP request (or WebSocket handshake) seen by the fake server."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
