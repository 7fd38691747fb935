"""Settings for the core and for plugins: argument > environment variable > default.

A :class:`Setting` declares one setting: its name (the ``ComfyKit(...)`` keyword argument), its
environment variable, its default, the parser that checks a raw value and whether it is a secret.
An argument counts as given when it is not ``None``; an environment variable counts as set when it
is not empty. Parsers take the raw value and its ``origin`` (``"argument timeout"``,
``"environment variable COMFYUI_TIMEOUT"``) and raise :class:`ConfigurationError` naming it.

Plugins declare their settings with the ``comfykit_register_settings`` hook; a kit keeps their
values in a :class:`Settings` mapping, ``kit.config.settings``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import ConfigurationError

#: A parser: ``parse(raw_value, origin) -> value``, raising ``ConfigurationError`` naming origin.
Parser = Callable[[Any, str], Any]


def parse_text(value: Any, origin: str) -> str:
    """A string, unchanged."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{origin} must be a string")
    return value


def parse_url(value: Any, origin: str) -> str:
    """An ``http(s)://`` URL, stripped of surrounding blanks and trailing slashes."""
    text = parse_text(value, origin).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{origin} must be an http(s):// URL, got {text!r}")
    return text.rstrip("/")


def parse_seconds(value: Any, origin: str) -> float:
    """A positive number of seconds (``"2.5"`` from the environment works too)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{origin} must be a number of seconds, got {value!r}") from None
    if number <= 0:
        raise ConfigurationError(f"{origin} must be positive, got {value!r}")
    return number


def parse_non_negative_int(value: Any, origin: str) -> int:
    """A whole number >= 0 (``"3"`` from the environment works too; ``2.5`` and ``True`` do not)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{origin} must be a whole number, got {value!r}") from None
    if number < 0 or isinstance(value, bool) or (isinstance(value, float) and value != number):
        raise ConfigurationError(f"{origin} must be a whole number >= 0, got {value!r}")
    return number


def parse_flag(value: Any, origin: str) -> bool:
    """``True`` or ``False``; from text, ``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{origin} must be true or false, got {value!r}")


def _identifier(instance: Setting, attribute: attrs.Attribute[str], value: str) -> None:
    if not (isinstance(value, str) and value.isidentifier() and value == value.lower()):
        raise ValueError(f"a setting name must be a lower-case identifier, got {value!r}")


@attrs.frozen
class Setting:
    """One setting: ``ComfyKit(name=...)`` > environment variable ``env`` > ``default``.

    ``parse`` checks a given or environment value (default: a string); ``secret`` keeps the value
    out of every ``repr``; ``help`` is a one-line description (``comfykit plugins`` shows it).
    """

    name: str = attrs.field(validator=_identifier)
    env: str | None = None
    default: Any = None
    parse: Parser = parse_text
    secret: bool = False
    help: str = ""

    def resolve(self, value: Any, env: Mapping[str, str]) -> Any:
        """``value`` if given (not ``None``), else the environment variable, else the default."""
        if value is not None:
            return self.parse(value, f"argument {self.name}")
        if self.env and env.get(self.env, "").strip():
            return self.parse(env[self.env], f"environment variable {self.env}")
        return self.default


def unknown_settings_error(names: Iterable[str]) -> ConfigurationError:
    """The error for keyword arguments that neither the core nor any plugin declares."""
    return ConfigurationError(
        f"unknown setting(s): {', '.join(sorted(names))} (not a ComfyKit option, and no "
        "installed plugin declares it)"
    )


class Settings(Mapping[str, Any]):
    """The plugin settings of one kit by name: argument > environment variable > default.

    ``declared`` are the settings plugins declare (or a callable returning them, asked once, the
    first time it is needed). Given ``args`` are checked at once — an unknown name or a bad value
    raises :class:`ConfigurationError` —; environment values and defaults are parsed when first
    read, then kept. ``settings[name]`` raises ``KeyError`` for a name no plugin declares. Secrets
    never appear in ``repr``. Thread-safe.
    """

    def __init__(
        self,
        args: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        declared: Iterable[Setting] | Callable[[], Iterable[Setting]] = (),
    ) -> None:
        self._env = os.environ if env is None else env
        self._declare = declared if callable(declared) else (lambda: declared)
        self._declared: dict[str, Setting] | None = None
        self._args = dict(args or {})
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        if self._args:
            unknown = set(self._args) - set(self.declared)
            if unknown:
                raise unknown_settings_error(unknown)
            for name, value in self._args.items():
                if value is not None:  # parse given values now: a bad one fails the constructor
                    self._value(name)

    @property
    def declared(self) -> Mapping[str, Setting]:
        """Every declared setting by name."""
        if self._declared is None:
            # Asked without holding the lock: the callable may take the kit's lock (plugin
            # manager), and a thread holding that may be waiting for this mapping.
            declared = {setting.name: setting for setting in self._declare()}
            with self._lock:
                if self._declared is None:
                    self._declared = declared
        return self._declared

    def __getitem__(self, name: str) -> Any:
        return self._value(name)

    def _value(self, name: str) -> Any:
        with self._lock:
            if name in self._values:
                return self._values[name]
        setting = self.declared[name]
        value = setting.resolve(self._args.get(name), self._env)
        with self._lock:
            return self._values.setdefault(name, value)

    def __iter__(self) -> Iterator[str]:
        return iter(self.declared)

    def __len__(self) -> int:
        return len(self.declared)

    def require(self, name: str, *, what: str = "this plugin") -> Any:
        """The value of ``name``; ``ConfigurationError`` saying how to set it if it has none."""
        value = self[name]
        if value is None or value == "":
            setting = self.declared[name]
            how = f"pass ComfyKit({name}=...)"
            if setting.env:
                how += f" or set the environment variable {setting.env}"
            raise ConfigurationError(f"{what} needs the setting {name}: {how}")
        return value

    def __repr__(self) -> str:
        with self._lock:
            known = sorted(self._values.items())
        declared = self._declared or {}
        parts = [
            f"{name}=<hidden>" if declared[name].secret else f"{name}={value!r}"
            for name, value in known
        ]
        return f"Settings({', '.join(parts)})"
