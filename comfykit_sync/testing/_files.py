"""``POST /upload/image`` and ``GET /view`` with ComfyUI's naming and path rules.

Uploads are streamed part by part to a staging file (never held in memory),
hashed on the way, then moved into place or discarded as a duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from ._folders import Folders, is_inside, split_annotation

_CHUNK = 256 * 1024
_DANGEROUS_TYPES = {"text/html", "text/javascript", "application/javascript", "text/css"}


def _server_error() -> web.Response:
    """What aiohttp answers when a handler crashes (ComfyUI's behaviour for bad ``type``)."""
    return web.Response(
        status=500, text="500 Internal Server Error\n\nServer got itself in trouble"
    )


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _chunks(part: BodyPartReader, budget: int, max_size: int) -> AsyncIterator[bytes]:
    """The chunks of one part; 413 once more than ``budget`` bytes arrive."""
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        if size > budget:
            raise web.HTTPRequestEntityTooLarge(
                max_size=max_size, actual_size=max_size - budget + size
            )
        yield chunk


async def upload(request: web.Request, folders: Folders, max_size: int) -> web.StreamResponse:
    """Store the ``image`` part; answer ``{"name", "subfolder", "type"}``."""
    if request.content_length is not None and request.content_length > max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=max_size, actual_size=request.content_length)
    if not request.content_type.startswith("multipart/"):
        return web.Response(status=400)
    fields: dict[str, str] = {}
    filename: str | None = None
    digest = hashlib.sha256()
    received = 0
    handle, staged = tempfile.mkstemp(dir=folders.root, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as staging:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                chunks = _chunks(part, max_size - received, max_size)
                if part.name == "image" and part.filename is not None and filename is None:
                    filename = part.filename
                    async for chunk in chunks:
                        received += len(chunk)
                        digest.update(chunk)
                        staging.write(chunk)
                else:
                    value = bytearray()
                    async for chunk in chunks:
                        received += len(chunk)
                        value += chunk
                    fields[part.name or ""] = value.decode("utf-8", "replace")
        if not filename:
            return web.Response(status=400)
        return await _place(staged, digest.hexdigest(), filename, fields, folders)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)


async def _place(
    staged: str, digest: str, filename: str, fields: dict[str, str], folders: Folders
) -> web.StreamResponse:
    """Apply ComfyUI's traversal, overwrite and same-name rules, then move the file."""
    folder_type = fields.get("type", "input")
    base = folders.by_type(folder_type)
    if base is None:
        return _server_error()
    upload_dir = str(base)
    subfolder = fields.get("subfolder", "")
    full_folder = os.path.join(upload_dir, os.path.normpath(subfolder))
    path = os.path.abspath(os.path.join(full_folder, filename))
    if not is_inside(upload_dir, path):
        return web.Response(status=400)
    os.makedirs(full_folder, exist_ok=True)
    if fields.get("overwrite") not in ("true", "1"):
        stem, extension = os.path.splitext(filename)
        counter = 1
        while os.path.exists(path):
            if await asyncio.to_thread(_sha256_file, path) == digest:
                return web.json_response(
                    {"name": filename, "subfolder": subfolder, "type": folder_type}
                )
            filename = f"{stem} ({counter}){extension}"
            path = os.path.join(full_folder, filename)
            counter += 1
    os.replace(staged, path)
    return web.json_response({"name": filename, "subfolder": subfolder, "type": folder_type})


def view(request: web.Request, folders: Folders) -> web.StreamResponse:
    """Serve a file from input/output/temp (HTTP Range via ``FileResponse``)."""
    query = request.query
    if "filename" not in query:
        return web.Response(status=404)
    filename, annotated_type = split_annotation(query["filename"])
    if not filename:
        return web.Response(status=400)
    if filename[0] == "/" or ".." in filename:
        return web.Response(status=400)
    base = folders.by_type(annotated_type or query.get("type", "output"))
    if base is None:
        return web.Response(status=400)
    output_dir = str(base)
    if "subfolder" in query:
        full_dir = os.path.join(output_dir, query["subfolder"])
        if not is_inside(output_dir, full_dir):
            return web.Response(status=403)
        output_dir = full_dir
    filename = os.path.basename(filename)
    path = os.path.join(output_dir, filename)
    if not os.path.isfile(path):
        return web.Response(status=404)
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if content_type in _DANGEROUS_TYPES:
        content_type = "application/octet-stream"
    safe_name = filename.replace("\\", "\\\\").replace('"', '\\"')
    headers = {"Content-Disposition": f'filename="{safe_name}"', "Content-Type": content_type}
    return web.FileResponse(path, headers=headers)
