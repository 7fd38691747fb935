"""Backend registry: collects backend classes from every plugin's ``comfykit_register_backends``.

The hook is called once through pluggy's hook caller, so hook wrappers, call monitoring and
tracing see it like any other hook call. Each ``register(cls)`` is attributed to the plugin
whose hook implementation is on the call stack, so a name clash names both plugins.
"""

from __future__ import annotations

import sys
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import ConfigurationError, PluginError

if TYPE_CHECKING:
    from .backends.base import Backend

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


class BackendRegistry:
    """Backend classes by name, with the plugin that registered each."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._classes: dict[str, type[Backend]] = {}
        self._owners: dict[str, str] = {}
        hook = pm.hook.comfykit_register_backends
        owners = {
            code: impl.plugin_name
            for impl in hook.get_hookimpls()
            if (code := _code(impl.function)) is not None
        }

        def register(cls: type[Backend]) -> None:
            self._add(cls, _calling_plugin(owners))

        hook(register=register)

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
