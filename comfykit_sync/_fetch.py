"""How results fetch their outputs: the fetcher protocol and the choice of fetcher.

Results and artifacts hold data, and the fetcher they were built with (the kit's: its HTTP
client and credential scope). ``kit=`` on their methods uses that kit's fetcher instead; a value
built without either fetches with no credentials at all. The implementation is
:class:`comfykit_sync.downloads.Fetcher`, imported only when something is fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from .client import ComfyKit
    from .models import Artifact


class OutputFetcher(Protocol):
    """Opens output URLs and saves artifacts, with one HTTP client's credentials and limits."""

    def __call__(self, url: str) -> IO[bytes]:
        """The body of ``url`` as a binary stream (the caller closes it)."""

    def save(
        self,
        artifacts: Sequence[Artifact],
        directory: str | os.PathLike[str],
        *,
        overwrite: bool,
        max_workers: int,
    ) -> list[Path]:
        """Download every artifact that has a URL into ``directory``; the paths written."""


def fetcher_for(kit: ComfyKit | None, own: OutputFetcher | None) -> OutputFetcher:
    """``kit``'s fetcher when one is given, else ``own``, else one without credentials."""
    if kit is not None:
        return kit._fetcher()
    if own is not None:
        return own
    from .downloads import Fetcher

    return Fetcher()
