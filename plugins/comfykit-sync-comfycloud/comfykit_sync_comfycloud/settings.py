"""Comfy Cloud settings: ``ComfyKit(comfycloud_...=...)`` > ``COMFY_CLOUD_*`` variable > default.

Declared to the kit by the ``comfykit_register_settings`` hook (:mod:`.backend`); read, typed,
when the kit first creates its ``comfycloud`` backend, so a missing API key is a
``ConfigurationError`` before anything is sent.
"""

from __future__ import annotations

import attrs

from comfykit_sync.backend import Setting, Settings, parse_seconds, parse_url

DEFAULT_URL = "https://cloud.comfy.org"

SETTINGS = (
    Setting(
        "comfycloud_api_key",
        "COMFY_CLOUD_API_KEY",
        secret=True,
        help="the Comfy Cloud API key (required; platform.comfy.org → API Keys)",
    ),
    Setting(
        "comfycloud_url",
        "COMFY_CLOUD_URL",
        DEFAULT_URL,
        parse_url,
        help="the Comfy Cloud API base URL",
    ),
    Setting(
        "comfycloud_timeout",
        "COMFY_CLOUD_TIMEOUT",
        parse=parse_seconds,
        help="default job timeout in seconds (default: the kit's timeout)",
    ),
)


@attrs.frozen(kw_only=True)
class CloudSettings:
    """Resolved Comfy Cloud settings (the API key is hidden from ``repr``)."""

    api_key: str = attrs.field(repr=False)
    url: str = DEFAULT_URL
    timeout: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CloudSettings:
        """The Comfy Cloud values of a kit's ``config.settings``; the API key is required."""
        return cls(
            api_key=settings.require("comfycloud_api_key", what="the comfycloud backend"),
            url=settings["comfycloud_url"],
            timeout=settings["comfycloud_timeout"],
        )
