"""RunPod settings: :func:`configure` argument > ``RUNPOD_*`` environment variable > default.

The core ``Config`` rejects options it does not know, so the RunPod settings live here. They are
resolved when the kit first creates its ``runpod`` backend; a missing API key or endpoint id is
a ``ConfigurationError`` before anything is sent.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from comfykit_sync.config import _non_negative_int, _positive_float, _text, _url
from comfykit_sync.errors import ConfigurationError

if TYPE_CHECKING:
    from comfykit_sync import ComfyKit
    from comfykit_sync.config import Config

DEFAULT_API_URL = "https://api.runpod.ai/v2"
#: largest raw upload; base64 grows it by 4/3 and /run accepts 10 MB in all
DEFAULT_MAX_UPLOAD_BYTES = 7 * 1024 * 1024
_ENDPOINT_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _endpoint_id(value: Any, origin: str) -> str:
    text = _text(value, origin).strip()
    if not _ENDPOINT_ID.match(text):
        raise ConfigurationError(f"{origin} must be a non-empty URL-safe id, got {text!r}")
    return text


def _directory(value: Any, origin: str) -> str:
    return os.fspath(value) if isinstance(value, os.PathLike) else _text(value, origin)


#: setting -> (environment variable, default, converter)
TABLE: Mapping[str, tuple[str, Any, Callable[[Any, str], Any]]] = {
    "endpoint_id": ("RUNPOD_ENDPOINT_ID", None, _endpoint_id),
    "api_key": ("RUNPOD_API_KEY", None, _text),
    "api_url": ("RUNPOD_API_URL", DEFAULT_API_URL, _url),
    "timeout": ("RUNPOD_TIMEOUT", None, _positive_float),
    "output_dir": ("RUNPOD_OUTPUT_DIR", None, _directory),
    "max_upload_bytes": ("RUNPOD_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, _non_negative_int),
}


@attrs.frozen(kw_only=True)
class RunPodSettings:
    """Resolved RunPod settings (the API key is hidden from ``repr``).

    ``timeout`` is the backend's default job timeout (``None``: the kit's ``timeout``);
    ``output_dir`` where base64 outputs are written (``None``: a temporary directory).
    """

    endpoint_id: str
    api_key: str = attrs.field(repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: float | None = None
    output_dir: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES

    @property
    def endpoint_url(self) -> str:
        """``{api_url}/{endpoint_id}``: every operation is a path under it."""
        return f"{self.api_url}/{self.endpoint_id}"

    @classmethod
    def resolve(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> RunPodSettings:
        """Build settings from ``overrides`` (``None`` = not given), then ``env``, then defaults."""
        env = os.environ if env is None else env
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(TABLE)
        if unknown:
            raise ConfigurationError(f"unknown RunPod setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, (env_name, default, convert) in TABLE.items():
            if overrides.get(name) is not None:
                values[name] = convert(overrides[name], f"argument {name}")
            elif env.get(env_name, "").strip():
                values[name] = convert(env[env_name], f"environment variable {env_name}")
            else:
                values[name] = default
        for name, env_name in (
            ("api_key", "RUNPOD_API_KEY"),
            ("endpoint_id", "RUNPOD_ENDPOINT_ID"),
        ):
            if not values[name]:
                raise ConfigurationError(
                    f"the runpod backend needs {name}: set {env_name} or call "
                    f"comfykit_sync_runpod.configure(kit, {name}=...)"
                )
        return cls(**values)


class _KitOverrides:
    """``configure()`` arguments by kit config (by identity, dropped with the config)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[weakref.ref[Config], dict[str, Any], bool]] = {}

    def _live(self, config: Config) -> tuple[dict[str, Any], bool] | None:
        entry = self._entries.get(id(config))
        if entry is None or entry[0]() is not config:
            return None
        return entry[1], entry[2]

    def _store(self, config: Config, overrides: dict[str, Any], used: bool) -> None:
        key = id(config)
        self._entries[key] = (
            weakref.ref(config, lambda _: self._entries.pop(key, None)),
            overrides,
            used,
        )

    def set(self, config: Config, overrides: dict[str, Any]) -> None:
        with self._lock:
            live = self._live(config)
            if live is not None and live[1]:
                raise ConfigurationError(
                    "configure() must be called before the kit's runpod backend is first used"
                )
            self._store(config, overrides, False)

    def take(self, config: Config) -> dict[str, Any]:
        """The overrides for ``config``; later ``set()`` calls for it are refused."""
        with self._lock:
            live = self._live(config)
            overrides = dict(live[0]) if live else {}
            self._store(config, overrides, True)
            return overrides


OVERRIDES = _KitOverrides()


def configure(
    kit: ComfyKit,
    *,
    endpoint_id: str | None = None,
    api_key: str | None = None,
    api_url: str | None = None,
    timeout: float | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    max_upload_bytes: int | None = None,
) -> None:
    """Set the RunPod settings of ``kit`` (before its ``runpod`` backend is first used).

    Arguments left ``None`` fall back to the ``RUNPOD_*`` environment variables. Values are
    validated now; the API key and endpoint id are required when the backend is created.
    """
    overrides = {
        "endpoint_id": endpoint_id,
        "api_key": api_key,
        "api_url": api_url,
        "timeout": timeout,
        "output_dir": output_dir,
        "max_upload_bytes": max_upload_bytes,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    for name, value in overrides.items():
        TABLE[name][2](value, f"argument {name}")
    OVERRIDES.set(kit.config, overrides)


def settings_for(config: Config, env: Mapping[str, str] | None = None) -> RunPodSettings:
    """The settings of the kit owning ``config`` (called once, when its backend is created)."""
    return RunPodSettings.resolve(OVERRIDES.take(config), env)
