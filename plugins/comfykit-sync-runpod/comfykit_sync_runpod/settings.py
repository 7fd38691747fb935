"""RunPod settings: ``ComfyKit(runpod_...=...)`` > ``RUNPOD_*`` environment variable > default.

They are declared to the kit through the ``comfykit_register_settings`` hook (see
:mod:`.backend`) and read, typed, by :meth:`RunPodSettings.from_settings` when the kit first
creates its ``runpod`` backend: a missing API key or endpoint id is a ``ConfigurationError``
before anything is sent.
"""

from __future__ import annotations

import os
import re
from typing import Any

import attrs

from comfykit_sync import ConfigurationError
from comfykit_sync.backend import (
    Setting,
    Settings,
    parse_non_negative_int,
    parse_seconds,
    parse_text,
    parse_url,
)

DEFAULT_API_URL = "https://api.runpod.ai/v2"
#: largest raw upload; base64 grows it by 4/3 and /run accepts 10 MB in all
DEFAULT_MAX_UPLOAD_BYTES = 7 * 1024 * 1024
_ENDPOINT_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_endpoint_id(value: Any, origin: str) -> str:
    text = parse_text(value, origin).strip()
    if not _ENDPOINT_ID.match(text):
        raise ConfigurationError(f"{origin} must be a non-empty URL-safe id, got {text!r}")
    return text


def parse_directory(value: Any, origin: str) -> str:
    return os.fspath(value) if isinstance(value, os.PathLike) else parse_text(value, origin)


SETTINGS = (
    Setting(
        "runpod_endpoint_id",
        "RUNPOD_ENDPOINT_ID",
        parse=parse_endpoint_id,
        help="the Serverless endpoint id (required)",
    ),
    Setting("runpod_api_key", "RUNPOD_API_KEY", secret=True, help="the RunPod API key (required)"),
    Setting(
        "runpod_api_url",
        "RUNPOD_API_URL",
        DEFAULT_API_URL,
        parse_url,
        help="operations go to {runpod_api_url}/{runpod_endpoint_id}/...",
    ),
    Setting(
        "runpod_timeout",
        "RUNPOD_TIMEOUT",
        parse=parse_seconds,
        help="default job timeout in seconds (default: the kit's timeout)",
    ),
    Setting(
        "runpod_output_dir",
        "RUNPOD_OUTPUT_DIR",
        parse=parse_directory,
        help="where base64 outputs are written (default: a new temporary directory)",
    ),
    Setting(
        "runpod_max_upload_bytes",
        "RUNPOD_MAX_UPLOAD_BYTES",
        DEFAULT_MAX_UPLOAD_BYTES,
        parse_non_negative_int,
        help="largest file an upload parameter may carry",
    ),
)


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
    def from_settings(cls, settings: Settings) -> RunPodSettings:
        """The RunPod values of a kit's ``config.settings``; the key and endpoint are required."""
        what = "the runpod backend"
        return cls(
            endpoint_id=settings.require("runpod_endpoint_id", what=what),
            api_key=settings.require("runpod_api_key", what=what),
            api_url=settings["runpod_api_url"],
            timeout=settings["runpod_timeout"],
            output_dir=settings["runpod_output_dir"],
            max_upload_bytes=settings["runpod_max_upload_bytes"],
        )
