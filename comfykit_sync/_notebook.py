"""HTML rendering of an :class:`~comfykit_sync.models.ExecuteResult` for Jupyter.

Media are shown by URL (``src``): the browser fetches them itself, so outputs behind credentials
will not display (save them with ``result.save()``). Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .models import Artifact, ExecuteResult

_MEDIA = {
    "image": '<img src="{src}" alt="{alt}" style="max-width:100%">',
    "video": '<video src="{src}" controls style="max-width:100%"></video>',
    "audio": '<audio src="{src}" controls></audio>',
}
_ANIMATED_IMAGES = (".gif", ".webp", ".apng")


def _artifact_html(art: Artifact) -> str:
    label = f"<div><code>{escape(art.var)}</code> ({escape(art.kind)})</div>"
    if art.kind == "text":
        return label + f"<pre>{escape(art.text or '')}</pre>"
    url = art.url if art.url and urlsplit(art.url).scheme in ("http", "https") else None
    src = escape(url or "")  # no javascript: or file: links (browsers do not show file: anyway)
    kind = art.kind
    if kind == "video" and (art.filename or "").lower().endswith(_ANIMATED_IMAGES):
        kind = "image"  # an animated gif/webp plays in <img>, not in <video>
    template = _MEDIA.get(kind)
    if template and url:
        return label + template.format(src=src, alt=escape(art.filename or art.var))
    name = escape(art.filename or art.url or "")
    return label + (f'<a href="{src}">{name}</a>' if url else name)


def render_html(result: ExecuteResult) -> str:
    """A header (status, prompt id, duration, message) followed by every artifact."""
    colour = "green" if result.ok else "red"
    header = f'<b style="color:{colour}">{escape(result.status)}</b>'
    if result.prompt_id:
        header += f" <code>{escape(result.prompt_id)}</code>"
    if result.duration is not None:
        header += f" in {result.duration:.2f} s"
    if result.msg:
        header += f"<pre>{escape(result.msg)}</pre>"
    body = "".join(f"<div>{_artifact_html(art)}</div>" for art in result.artifacts)
    return f"<div><div>{header}</div>{body}</div>"
