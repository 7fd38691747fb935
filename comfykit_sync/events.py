"""Typed progress events, delivered to ``on_event`` callbacks while a job runs.

Every event carries the ``prompt_id`` of its job. The HTTP executor emits what polling can see
(``Queued``, ``Started``, ``Completed``/``Failed``); the WebSocket executor also emits node and
step progress. A callback that raises is logged and does not break the job.

Node events name the node that actually ran (``node_id``): a node of the workflow, or one a node
created while running (ComfyUI's node expansion: ids such as ``"12.0.0.3"``). ``display_node``
is the workflow node the server shows it on — the node itself, or for an expanded node the node
that created it (``None`` when the server did not say).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from .errors import ComfyKitError

log = logging.getLogger(__name__)


@attrs.frozen
class Event:
    """Base class of all events."""

    prompt_id: str


@attrs.frozen
class Queued(Event):
    """The job waits in the queue; ``position`` 0 runs next (``None`` when unknown)."""

    position: int | None = None


@attrs.frozen
class Started(Event):
    """The job left the queue and began executing."""


@attrs.frozen
class NodeCached(Event):
    """These nodes' results came from the server's cache and will not execute."""

    node_ids: tuple[str, ...] = ()


@attrs.frozen
class NodeExecuting(Event):
    """A node started executing.

    ``title`` is the title of its display node; ``class_type`` its class when the workflow has
    the node (``None`` for a node created by expansion).
    """

    node_id: str
    title: str | None = None
    class_type: str | None = None
    display_node: str | None = None


@attrs.frozen
class Progress(Event):
    """Step progress inside a node; ``fraction`` is the whole job's progress (0–1) if known."""

    node_id: str | None
    value: int
    max: int
    fraction: float | None = None
    display_node: str | None = None


@attrs.frozen
class NodeExecuted(Event):
    """A node with UI output finished."""

    node_id: str
    display_node: str | None = None


@attrs.frozen
class Completed(Event):
    """The job finished successfully."""


@attrs.frozen
class Failed(Event):
    """The job failed, was interrupted, lost or timed out."""

    error: ComfyKitError = attrs.field(eq=False)


EventCallback = Callable[[Event], None]


def emitter(callback: EventCallback | None) -> EventCallback:
    """Wrap ``callback`` so that an exception in it is logged, never raised into the job."""

    def emit(event: Event) -> None:
        if callback is None:
            return
        try:
            callback(event)
        except Exception:
            log.exception("on_event callback raised on %s; the job goes on", type(event).__name__)

    return emit
