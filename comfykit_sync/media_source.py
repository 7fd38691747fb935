"""Opening upload sources (path, bytes, file object, URL) as a named, sized byte stream.

Nothing is read whole into memory: paths and seekable files are streamed from where they are;
URLs and unseekable streams are spooled (memory up to 8 MiB, then a temporary file). Files without
a usable name get a content-hash name, so re-uploading the same bytes reuses the server's file.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from urllib.parse import unquote, urlsplit

import attrs

from .errors import ParameterError
from .http import HttpClient, iter_body
from .params import UploadSource

CHUNK = 256 * 1024
SPOOL_MAX = 8 * 1024 * 1024
_MAGIC = (
    (b"\x89PNG", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF8", ".gif"),
    (b"fLaC", ".flac"),
    (b"OggS", ".ogg"),
    (b"ID3", ".mp3"),
    (b"\x1aE\xdf\xa3", ".webm"),
    (b"glTF", ".glb"),
)
_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")


@attrs.frozen
class OpenedMedia:
    """A stream ready to upload."""

    filename: str
    fileobj: IO[bytes]
    size: int
    content_type: str


def safe_filename(name: str) -> str:
    """A plain file name: no directories, control or reserved characters, bounded length."""
    name = _UNSAFE.sub("_", os.path.basename(name.replace("\\", "/"))).strip(" .")
    stem, ext = os.path.splitext(name)
    return (stem[:120] + ext[:16]) if name else ""


def _sniff_extension(head: bytes) -> str:
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            return ext
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE"):
        return ".webp" if head[8:12] == b"WEBP" else ".wav"
    if head[4:8] == b"ftyp":
        return ".mp4"
    return ".bin"


def _hash_name(digest: str, head: bytes) -> str:
    return f"upload-{digest[:16]}{_sniff_extension(head)}"


def _content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _spool(
    chunks: Iterator[bytes], limit: int | None, what: str
) -> tuple[IO[bytes], int, str, bytes]:
    """Copy ``chunks`` to a spooled temp file; return (file, size, sha256, first bytes)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)
    digest, size, head = hashlib.sha256(), 0, b""
    for chunk in chunks:
        size += len(chunk)
        if limit is not None and size > limit:
            spool.close()
            raise ParameterError(f"{what} is larger than {limit} bytes")
        if len(head) < 16:
            head += chunk[: 16 - len(head)]
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return spool, size, digest.hexdigest(), head


def _url_filename(url: str) -> str:
    return safe_filename(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))


@contextmanager
def open_media(
    source: UploadSource, http: HttpClient, *, max_bytes: int | None = None
) -> Iterator[OpenedMedia]:
    """Open ``source`` for upload; the stream is closed when the block ends.

    An empty source (a URL or unseekable stream whose size only shows now) is a
    ``ParameterError`` before anything is uploaded.
    """
    with _open_media(source, http, max_bytes) as media:
        if media.size == 0:
            raise ParameterError(f"the upload {media.filename!r} is empty (0 bytes)")
        yield media


@contextmanager
def _open_media(
    source: UploadSource, http: HttpClient, max_bytes: int | None
) -> Iterator[OpenedMedia]:
    if source.kind == "path":
        path = os.fspath(source.value)
        name = safe_filename(source.filename or path) or "upload.bin"
        with open(path, "rb") as fh:
            yield OpenedMedia(name, fh, os.fstat(fh.fileno()).st_size, _content_type(name))
        return
    if source.kind == "bytes":
        data = bytes(source.value)
        name = _hash_name(hashlib.sha256(data).hexdigest(), data[:16])
        yield OpenedMedia(name, io.BytesIO(data), len(data), _content_type(name))
        return
    if source.kind == "file":
        fh = source.value
        name = safe_filename(source.filename or "")
        seekable = getattr(fh, "seekable", lambda: False)()
        if name and seekable:
            start = fh.tell()
            size = fh.seek(0, os.SEEK_END) - start
            fh.seek(start)
            yield OpenedMedia(name, fh, size, _content_type(name))
            return
        spool, size, digest, head = _spool(iter(lambda: fh.read(CHUNK), b""), max_bytes, "upload")
        with spool:
            name = name or _hash_name(digest, head)
            yield OpenedMedia(name, spool, size, _content_type(name))
        return
    if source.kind == "url":
        url = str(source.value)
        response = http.request(
            "GET", url, what=f"downloading media {_url_filename(url)!r}", stream=True
        )
        with response:
            spool, size, digest, head = _spool(
                iter_body(response, f"downloading media {url}", CHUNK), max_bytes, f"media at {url}"
            )
        with spool:
            name = _url_filename(url)
            if not os.path.splitext(name)[1]:
                name = _hash_name(digest, head)
            yield OpenedMedia(name, spool, size, _content_type(name))
        return
    raise ParameterError(f"unsupported upload source kind {source.kind!r}")
