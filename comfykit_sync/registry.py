"""Registries filled by the ``register`` hooks: backend classes and plugin settings by name.

Each hook is called once through pluggy's hook caller, so hook wrappers, call monitoring and
tracing see it like any other hook call. Each ``register(...)`` is attributed to the plugin
whose hook implementation is on the call stack, so a name clash names both plugins.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import ConfigurationError, PluginError

if TYPE_CHECKING:
    from .backends.base import Backend
    from .settings import Setting

#: owner recorded for a ``register`` call made outside any hook implementation
UNKNOWN_PLUGIN = "<unknown plugin>"


def _code(function: Any) -> CodeType | None:
    """The code object a hook implementation (a function or bound method) runs."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    return code if isinstance(code, CodeType) else None


def _calling_plugin(owners: dict[CodeType, str]) -> str:
    """The plugin whose hook implementation is the innermost one on the current call stack."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        owner = owners.get(frame.f_code)
        if owner is not None:
            return owner
        frame = frame.f_back
    return UNKNOWN_PLUGIN


def _collect(hook: Any, add: Callable[[Any, str], None]) -> None:
    """Call a ``register`` hook once; ``add(item, plugin)`` for each item a plugin registers."""
    owners = {
        code: impl.plugin_name
        for impl in hook.get_hookimpls()
        if (code := _code(impl.function)) is not None
    }

    def register(item: Any) -> None:
        add(item, _calling_plugin(owners))

    hook(register=register)


class BackendRegistry:
    """Backend classes by name, with the plugin that registered each."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._classes: dict[str, type[Backend]] = {}
        self._owners: dict[str, str] = {}
        _collect(pm.hook.comfykit_register_backends, self._add)

    def _add(self, cls: type[Backend], plugin: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered {cls!r} without a name", plugin=plugin)
        if name in self._classes:
            raise PluginError(
                f"backend name {name!r} is registered by both {self._owners[name]!r} "
                f"and {plugin!r}",
                plugin=plugin,
            )
        self._classes[name] = cls
        self._owners[name] = plugin

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._classes)

    def owner(self, name: str) -> str:
        """The plugin that registered backend ``name``."""
        return self._owners[name]

    def get(self, name: str) -> type[Backend]:
        try:
            return self._classes[name]
        except KeyError:
            known = ", ".join(sorted(self._classes)) or "none"
            raise ConfigurationError(f"unknown backend {name!r}; available: {known}") from None


class SettingRegistry:
    """Plugin settings by name, with the plugin that declared each.

    A name taken by a core setting, or declared by two plugins, is a ``PluginError``.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._settings: dict[str, Setting] = {}
        self._owners: dict[str, str] = {}
        _collect(pm.hook.comfykit_register_settings, self._add)

    def _add(self, setting: Setting, plugin: str) -> None:
        from .config import RESERVED_NAMES
        from .settings import Setting

        if not isinstance(setting, Setting):
            raise PluginError(
                f"plugin {plugin!r} registered {setting!r}, not a comfykit_sync.backend.Setting",
                plugin=plugin,
            )
        if setting.name in RESERVED_NAMES:
            raise PluginError(
                f"plugin {plugin!r} declares the setting {setting.name!r}, which is a "
                "ComfyKit option",
                plugin=plugin,
            )
        if setting.name in self._settings:
            raise PluginError(
                f"setting {setting.name!r} is declared by both {self._owners[setting.name]!r} "
                f"and {plugin!r}",
                plugin=plugin,
            )
        self._settings[setting.name] = setting
        self._owners[setting.name] = plugin

    @property
    def settings(self) -> tuple[Setting, ...]:
        return tuple(self._settings.values())

    def owner(self, name: str) -> str:
        """The plugin that declared setting ``name``."""
        return self._owners[name]
