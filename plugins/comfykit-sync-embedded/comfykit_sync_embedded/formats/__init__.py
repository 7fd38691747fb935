"""One small stdlib reader per container; each returns ``Entry`` items in file order."""

from __future__ import annotations

from typing import Any, NamedTuple


class Entry(NamedTuple):
    """One metadata value: its key, the raw value (text, or already-decoded JSON) and location."""

    key: str
    value: Any
    location: str
