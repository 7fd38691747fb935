"""Backend registry: collects backend classes from every plugin's ``comfykit_register_backends``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from .errors import ConfigurationError, PluginError

if TYPE_CHECKING:
    from .backends.base import Backend


class BackendRegistry:
    """Backend classes by name, with the plugin that registered each."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._classes: dict[str, type[Backend]] = {}
        self._owners: dict[str, str] = {}
        for impl in pm.hook.comfykit_register_backends.get_hookimpls():

            def register(cls: type[Backend], _plugin: str = impl.plugin_name) -> None:
                self._add(cls, _plugin)

            impl.function(*[{"register": register}[arg] for arg in impl.argnames])

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
