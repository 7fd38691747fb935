"""The kit's settings: constructor argument > environment variable > default, for every setting.

Each core setting is a :class:`~comfykit_sync.settings.Setting` in :data:`CORE_SETTINGS`; plugin
settings (declared through ``comfykit_register_settings``) are in ``Config.settings``. Invalid
values raise :class:`ConfigurationError` naming the argument or the variable they came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import ConfigurationError
from .settings import (
    Setting,
    Settings,
    parse_flag,
    parse_non_negative_int,
    parse_seconds,
    parse_text,
    parse_url,
    unknown_settings_error,
)

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
DEFAULT_RUNNINGHUB_URL = "https://www.runninghub.ai"
EXECUTOR_BACKENDS = {"http": "comfyui-http", "websocket": "comfyui-ws"}
SEED_POLICIES = ("zero", "always", "off")
NODE_ERROR_POLICIES = ("fail", "warn")


def _executor(value: Any, origin: str) -> str:
    name = str(value).strip().lower()
    if name == "ws":
        name = "websocket"
    if name not in EXECUTOR_BACKENDS:
        raise ConfigurationError(f"{origin} must be 'http' or 'websocket', got {value!r}")
    return name


def _request_timeout(value: Any, origin: str) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        pair: tuple[Any, Any] = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = (value[0], value[1])
    else:
        raise ConfigurationError(
            f"{origin} must be seconds or a (connect, read) pair, got {value!r}"
        )
    return (parse_seconds(pair[0], origin), parse_seconds(pair[1], origin))


def _seed_policy(value: Any, origin: str) -> str:
    if value not in SEED_POLICIES:
        raise ConfigurationError(
            f"{origin} must be one of {', '.join(SEED_POLICIES)}, got {value!r}"
        )
    return str(value)


def _node_errors(value: Any, origin: str) -> str:
    if value not in NODE_ERROR_POLICIES:
        raise ConfigurationError(f"{origin} must be 'fail' or 'warn', got {value!r}")
    return str(value)


def _path(value: Any, origin: str) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
        raise ConfigurationError(f"{origin} must be a directory path")
    return os.path.expanduser(os.fspath(value).strip())


def _cookies(value: Any, origin: str) -> str | dict[str, str]:
    """Cookies as a ``dict``, a JSON object string, ``"k=v; k2=v2"``, or an http(s) URL to fetch."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str):
        raise ConfigurationError(f"{origin} must be a dict or a string")
    text = value.strip()
    if text.startswith(("http://", "https://")):
        return text
    return parse_cookie_text(text, origin)


def parse_cookie_text(text: str, origin: str) -> dict[str, str]:
    """Parse a JSON object or ``k=v; k2=v2`` cookie text (values never appear in errors)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"{origin} looks like JSON but does not parse") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{origin} must be a JSON object")
        return {str(k): str(v) for k, v in data.items()}
    cookies: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, val = part.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"{origin} must look like 'name=value; name2=value2'")
        cookies[name.strip()] = val.strip()
    return cookies


@attrs.frozen
class ComfyUIServer:
    """One ComfyUI server of the kit: its base URL and, when it needs its own, credentials.

    Credentials left ``None`` are the kit's (``api_key``, ``cookies``); each server's are only
    ever sent to that server's origin.
    """

    url: str
    api_key: str | None = attrs.field(default=None, repr=False)
    cookies: str | dict[str, str] | None = attrs.field(default=None, repr=False)


_SERVER_KEYS = ("url", "api_key", "cookies")


def _server_url(value: Any, origin: str) -> str:
    url = parse_url(value, origin)
    if "," in urlsplit(url).netloc:
        raise ConfigurationError(
            f"{origin} must be http(s):// URLs separated by commas, got {value!r}"
        )
    return url


def _server(value: Any, origin: str) -> ComfyUIServer:
    if isinstance(value, str):
        return ComfyUIServer(_server_url(value, origin))
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{origin}: each server must be a URL or a mapping with 'url', "
            f"got {type(value).__name__}"
        )
    unknown = sorted(str(k) for k in value if k not in _SERVER_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{origin}: unknown server key(s) {', '.join(unknown)}; known: url, api_key, cookies"
        )
    if "url" not in value:
        raise ConfigurationError(f"{origin}: a server mapping needs a 'url'")
    url = _server_url(parse_text(value["url"], f"{origin} url"), origin)
    api_key = value.get("api_key")
    cookies = value.get("cookies")
    return ComfyUIServer(
        url,
        api_key=None if api_key is None else parse_text(api_key, f"{origin} api_key of {url}"),
        cookies=None if cookies is None else _cookies(cookies, f"{origin} cookies of {url}"),
    )


def _split_urls(text: str) -> list[str]:
    """``"u1, u2"`` → ``["u1", "u2"]``: a comma starts the next URL only when a ``scheme://``
    follows it (one inside a URL's path or query is left alone)."""
    parts: list[str] = []
    for piece in text.split(","):
        piece = piece.strip()
        scheme, sep, _ = piece.partition("://")
        starts_url = bool(sep) and scheme[:1].isalpha() and all(
            c.isalnum() or c in "+.-" for c in scheme
        )
        if parts and not starts_url:
            parts[-1] += "," + piece
        elif piece:
            parts.append(piece)
    return parts


def _servers(value: Any, origin: str) -> tuple[ComfyUIServer, ...]:
    """One URL, a comma-separated list of URLs, or a list of URLs / server mappings."""
    if isinstance(value, str):
        items: list[Any] = _split_urls(value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, Mapping):
        items = [value]
    else:
        raise ConfigurationError(
            f"{origin} must be a URL or a list of URLs, got {type(value).__name__}"
        )
    if not items:
        raise ConfigurationError(f"{origin} must name at least one server")
    servers = tuple(_server(item, origin) for item in items)
    seen: set[str] = set()
    for server in servers:
        if server.url in seen:
            raise ConfigurationError(f"{origin} names {server.url} twice")
        seen.add(server.url)
    return servers


def _new_client_id() -> str:
    import uuid

    return uuid.uuid4().hex


#: The core settings (the options ``ComfyKit()`` takes), in ``Config`` field order.
CORE_SETTINGS: tuple[Setting, ...] = (
    Setting("comfyui_url", "COMFYUI_BASE_URL", DEFAULT_COMFYUI_URL, _servers),
    Setting("executor_type", "COMFYUI_EXECUTOR_TYPE", "http", _executor),
    Setting("api_key", "COMFYUI_API_KEY", secret=True),
    Setting("cookies", "COMFYUI_COOKIES", parse=_cookies, secret=True),
    Setting("comfy_org_api_key", "COMFY_ORG_API_KEY", secret=True),
    Setting("runninghub_url", "RUNNINGHUB_BASE_URL", DEFAULT_RUNNINGHUB_URL, parse_url),
    Setting("runninghub_api_key", "RUNNINGHUB_API_KEY", secret=True),
    Setting("runninghub_timeout", "RUNNINGHUB_TIMEOUT", 300.0, parse_seconds),
    Setting("runninghub_retry_count", "RUNNINGHUB_RETRY_COUNT", 3, parse_non_negative_int),
    Setting("runninghub_instance_type", "RUNNINGHUB_INSTANCE_TYPE", None, parse_text),
    Setting("runninghub_webhook_url", "RUNNINGHUB_WEBHOOK_URL", parse=parse_url, secret=True),
    Setting("timeout", "COMFYUI_TIMEOUT", 1800.0, parse_seconds),
    Setting("request_timeout", None, (5.0, 60.0), _request_timeout),
    Setting("cancel_timeout", "COMFYKIT_CANCEL_TIMEOUT", 5.0, parse_seconds),
    Setting("poll_max_interval", None, 2.0, parse_seconds),
    Setting("seed_policy", "COMFYKIT_SEED_POLICY", "zero", _seed_policy),
    Setting("on_node_errors", None, "fail", _node_errors),
    Setting("upload_subfolder", None, "", parse_text),
    Setting("max_workflow_bytes", None, 32 * 1024 * 1024, parse_non_negative_int),
    Setting("ws_max_frame_bytes", None, 64 * 1024 * 1024, parse_non_negative_int),
    Setting("resubmit_lost", "COMFYKIT_RESUBMIT_LOST", False, parse_flag),
    Setting("server_lost_after", None, 10.0, parse_seconds),
    Setting("object_info_cache_dir", "COMFYKIT_OBJECT_INFO_CACHE_DIR", None, _path),
    Setting("client_id", None, None, parse_text),
)
#: Names a plugin setting cannot take: the core settings and ``ComfyKit``'s other arguments.
RESERVED_NAMES = frozenset(s.name for s in CORE_SETTINGS) | {
    "plugin_manager",
    "object_info",
    "settings",
}


@attrs.frozen(kw_only=True)
class Config:
    """Resolved, validated settings of one :class:`~comfykit_sync.ComfyKit` (secrets hidden).

    ``servers`` are the ComfyUI servers of ``comfyui_url`` (several make the kit a pool);
    ``comfyui_url`` is the first one's URL. ``settings`` holds the settings plugins declare (see
    :class:`~comfykit_sync.settings.Settings`).
    """

    comfyui_url: str = DEFAULT_COMFYUI_URL
    servers: tuple[ComfyUIServer, ...] = attrs.field(
        default=attrs.Factory(lambda self: (ComfyUIServer(self.comfyui_url),), takes_self=True)
    )
    executor_type: str = "http"
    api_key: str | None = attrs.field(default=None, repr=False)
    cookies: str | dict[str, str] | None = attrs.field(default=None, repr=False)
    comfy_org_api_key: str | None = attrs.field(default=None, repr=False)
    runninghub_url: str = DEFAULT_RUNNINGHUB_URL
    runninghub_api_key: str | None = attrs.field(default=None, repr=False)
    runninghub_timeout: float = 300.0
    runninghub_retry_count: int = 3
    runninghub_instance_type: str | None = None
    runninghub_webhook_url: str | None = attrs.field(default=None, repr=False)
    timeout: float = 1800.0
    request_timeout: tuple[float, float] = (5.0, 60.0)
    cancel_timeout: float = 5.0
    poll_max_interval: float = 2.0
    seed_policy: str = "zero"
    on_node_errors: str = "fail"
    upload_subfolder: str = ""
    max_workflow_bytes: int = 32 * 1024 * 1024
    ws_max_frame_bytes: int = 64 * 1024 * 1024
    resubmit_lost: bool = False
    server_lost_after: float = 10.0
    object_info_cache_dir: str | None = None
    client_id: str = attrs.field(factory=_new_client_id)
    settings: Settings = attrs.field(factory=Settings, repr=False, eq=False)

    @property
    def default_backend(self) -> str:
        """The backend for local ComfyUI workflows, from ``executor_type``."""
        return EXECUTOR_BACKENDS[self.executor_type]

    @classmethod
    def resolve(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        declared: Iterable[Setting] | Callable[[], Iterable[Setting]] | None = None,
        **args: Any,
    ) -> Config:
        """Build a config from constructor arguments (``None`` = not given) and ``env``.

        Arguments that are not core settings must be among the plugin settings ``declared``
        (or a callable returning them); anything else is a ``ConfigurationError`` naming it.
        """
        env = os.environ if env is None else env
        core = {s.name for s in CORE_SETTINGS}
        extra = {name: value for name, value in args.items() if name not in core}
        if extra and declared is None:
            raise unknown_settings_error(extra)
        values = {s.name: s.resolve(args.get(s.name), env) for s in CORE_SETTINGS}
        if values["client_id"] is None:
            del values["client_id"]
        servers = values.pop("comfyui_url")
        if isinstance(servers, str):  # the default
            servers = (ComfyUIServer(servers),)
        return cls(
            comfyui_url=servers[0].url,
            servers=servers,
            settings=Settings(extra, env=env, declared=declared or ()),
            **values,
        )


def option_names() -> tuple[str, ...]:
    """The names of the options ``ComfyKit()`` takes, in ``Config`` field order (``servers``,
    derived from ``comfyui_url``, and the plugins' ``settings`` are not options)."""
    return tuple(setting.name for setting in CORE_SETTINGS)
