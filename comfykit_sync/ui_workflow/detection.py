"""Recognising the editor's saved format (UI format) as opposed to the API format."""

from __future__ import annotations

from collections.abc import Mapping


def is_ui_workflow(data: object) -> bool:
    """True for a workflow saved with the editor's plain "Save".

    That is a JSON object with a ``nodes`` list, and either a ``links`` list, the version-1
    schema (``version: 1``), or no API-format node (an object with ``class_type``) beside it.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        return False
    if isinstance(data.get("links"), list) or data.get("version") == 1:
        return True
    return not any(isinstance(v, Mapping) and "class_type" in v for v in data.values())
