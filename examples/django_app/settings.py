"""Settings: no database, no apps — just the two views and the ComfyKit configuration."""

from __future__ import annotations

import os
from pathlib import Path

import comfykit_sync

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
ROOT_URLCONF = "django_app.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []  # a JSON/form API without sessions; add CSRF for browser forms
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# ComfyKit: read once, when the shared kit is first created (see django_app.kit).
# Credentials stay in the environment (COMFYUI_API_KEY, COMFYUI_COOKIES), not in settings.
COMFYKIT = {
    "comfyui_url": os.environ.get("COMFYUI_BASE_URL"),  # None: ComfyKit's default / env
    "request_timeout": (5, 30),  # (connect, read) seconds for every HTTP request
}
COMFYKIT_WORKFLOW = os.environ.get(
    "COMFYKIT_WORKFLOW",
    str(Path(comfykit_sync.__file__).parent / "testing" / "workflows" / "text_to_image.json"),
)
COMFYKIT_JOB_TIMEOUT = float(os.environ.get("COMFYKIT_JOB_TIMEOUT", "600"))
COMFYKIT_QUEUE_TIMEOUT = float(os.environ.get("COMFYKIT_QUEUE_TIMEOUT", "120"))
COMFYKIT_WAIT_TIMEOUT = 2.0  # a poll request waits at most this long for outputs
