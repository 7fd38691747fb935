"""The plugin manager: built-in plugins, entry-point discovery, block list and load errors."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "comfykit_sync"
DISABLED_ENV = "COMFYKIT_SYNC_DISABLED_PLUGINS"
NO_AUTOLOAD_ENV = "COMFYKIT_SYNC_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in plugin modules, registered (in this order) before any entry point.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "comfykit_sync.loaders.mapping",
    "comfykit_sync.loaders.runninghub",  # before file: trylast hooks run in this order
    "comfykit_sync.loaders.file",
    "comfykit_sync.loaders.url",
    "comfykit_sync.loaders.ui",  # a wrapper: converts what any loader returns in UI format
    "comfykit_sync.backends.comfyui_http",
    "comfykit_sync.backends.comfyui_ws",
    "comfykit_sync.backends.runninghub",
    "comfykit_sync.parsers.text",
    "comfykit_sync.parsers.media",
)


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where plugins came from and which failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        #: plugin name -> (distribution name, version) for plugins loaded from entry points
        self.distributions: dict[str, tuple[str, str]] = {}
        #: plugins that failed to load or validate; the rest keep working
        self.load_errors: list[PluginError] = []


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def make_plugin_manager(
    *,
    autoload: bool | None = None,
    blocked: tuple[str, ...] | None = None,
    env: Mapping[str, str] | None = None,
) -> PluginManager:
    """Build a plugin manager with the built-ins and (unless disabled) installed plugins.

    ``blocked`` names plugins not to load (default: ``COMFYKIT_SYNC_DISABLED_PLUGINS``, comma
    separated; built-in module names work too); ``autoload=False`` (default: unless
    ``COMFYKIT_SYNC_DISABLE_PLUGIN_AUTOLOAD`` is set) skips entry points.
    """
    env = os.environ if env is None else env
    if blocked is None:
        blocked = tuple(n.strip() for n in env.get(DISABLED_ENV, "").split(",") if n.strip())
    if autoload is None:
        autoload = not _truthy(env.get(NO_AUTOLOAD_ENV))
    pm = PluginManager()
    for name in blocked:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    if autoload:
        _load_entry_points(pm)
    _check_pending(pm)
    return pm


def _load_entry_points(pm: PluginManager) -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        dist = ep.dist
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            error = PluginError(
                f"plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
                plugin=ep.name,
            )
            error.__cause__ = exc
            pm.load_errors.append(error)
            log.warning("%s", error)
            continue
        if dist is not None:
            pm.distributions[ep.name] = (dist.metadata["Name"], dist.version)


def _check_pending(pm: PluginManager) -> None:
    """Unregister plugins implementing unknown hooks, recording why."""
    for _ in range(len(pm.get_plugins()) + 1):
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            pm.unregister(exc.plugin)
            error = PluginError(f"plugin {name!r} is invalid: {exc}", plugin=name)
            pm.load_errors.append(error)
            log.warning("%s", error)


@attrs.frozen
class PluginInfo:
    """What ``comfykit plugins`` shows of one plugin (``error`` set when it failed to load).

    ``settings`` describes the settings it declares: ``{"name", "env", "secret", "help"}``.
    """

    name: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    error: str | None = None
    settings: tuple[dict[str, Any], ...] = ()


def describe_plugins(pm: PluginManager) -> list[PluginInfo]:
    """Every registered plugin (built-ins first, in load order) and every one that failed."""
    from .registry import BackendRegistry, SettingRegistry

    errors = list(pm.load_errors)
    try:
        registry: BackendRegistry | None = BackendRegistry(pm)
    except PluginError as exc:
        registry = None
        errors.append(exc)
    try:
        settings: SettingRegistry | None = SettingRegistry(pm)
    except PluginError as exc:
        settings = None
        errors.append(exc)
    names = [pm.get_name(plugin) or repr(plugin) for plugin in pm.get_plugins()]
    order = {name: i for i, name in enumerate(DEFAULT_PLUGINS)}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    infos = []
    for name in names:
        plugin = pm.get_plugin(name)
        dist, version = pm.distributions.get(name, (None, None))
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or []))
        owned = tuple(b for b in registry.names if registry.owner(b) == name) if registry else ()
        declared = tuple(
            {"name": s.name, "env": s.env, "secret": s.secret, "help": s.help}
            for s in (settings.settings if settings else ())
            if settings and settings.owner(s.name) == name
        )
        infos.append(
            PluginInfo(name, name in order, dist, version, hooks, owned, settings=declared)
        )
    infos += [PluginInfo(e.plugin or "?", False, error=str(e)) for e in errors]
    return infos
