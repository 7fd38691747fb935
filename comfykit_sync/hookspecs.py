"""Hook specifications: the whole extension surface of comfykit-sync.

Plugins implement these with ``from comfykit_sync import hookimpl``. Built-in loaders, backends
and parsers are plugins too, registered with ``trylast=True`` so that any third-party plugin is
asked first. Each hook is documented with its exact signature in ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .backends.base import Backend
    from .config import Config
    from .http import HttpClient
    from .models import Artifact, OutputItem, Workflow
    from .object_info import ObjectInfoSource
    from .settings import Setting

PROJECT = "comfykit_sync"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def comfykit_register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Call ``register(BackendClass)`` for each backend the plugin provides.

    Backend names (``BackendClass.name``) are unique; two plugins registering the same name is a
    ``PluginError`` that names both.
    """


@hookspec
def comfykit_register_settings(register: Callable[[Setting], None]) -> None:
    """Call ``register(Setting(...))`` for each setting the plugin reads.

    Users then pass it as ``ComfyKit(name=...)`` or set its environment variable; the plugin
    reads it from ``config.settings``. Names are unique: a core option's name, or two plugins
    declaring the same name, is a ``PluginError`` that names them.
    """


@hookspec(firstresult=True)
def comfykit_load_workflow(
    source: Any, config: Config, session: HttpClient, object_info: ObjectInfoSource
) -> Workflow | None:
    """Turn a workflow ``source`` (path, URL, dict, id, ...) into a ``Workflow``.

    Return ``None`` when the source is not yours; raise a ``WorkflowError`` only for a source you
    claimed. ``session`` is the kit's HTTP client: use it for any download so that timeouts,
    size limits and credential scoping apply. The returned ``graph`` may be a UI-format workflow
    (the editor's plain "Save"): the built-in ``loaders.ui`` wrapper converts it to the API
    format with ``object_info``, the target server's node definitions (fetched on first use).
    """


@hookspec(firstresult=True)
def comfykit_parse_output(output: OutputItem, config: Config) -> Artifact | None:
    """Classify one output item into an ``Artifact``, or return ``None`` to leave it unclaimed.

    Unclaimed items are never dropped: they stay in ``ExecuteResult.outputs`` (the raw outputs).
    """
