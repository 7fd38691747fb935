"""RunningHub's wire format: the ``{code, msg, data}`` envelope, its codes, request bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.message import Message
from typing import Any

from aiohttp import web

#: symbolic names RunningHub puts in ``msg`` (spec §3)
CODE_NAMES: Mapping[int, str] = {
    0: "success",
    301: "PARAMS_INVALID",
    380: "WORKFLOW_NOT_EXISTS",
    381: "WEBAPP_NOT_EXISTS",
    401: "API_KEY_INVALID",
    415: "TASK_INSTANCE_MAXED",
    421: "TASK_QUEUE_MAXED",
    423: "TASK_NOT_FOUNED",
    433: "VALIDATE_PROMPT_FAILED",
    500: "UNKNOWN_ERROR",
    801: "APIKEY_UNSUPPORTED_FREE_USER",
    802: "APIKEY_UNAUTHORIZED",
    803: "APIKEY_INVALID_NODE_INFO",
    804: "APIKEY_TASK_IS_RUNNING",
    805: "APIKEY_TASK_STATUS_ERROR",
    806: "APIKEY_USER_NOT_FOUND",
    807: "APIKEY_TASK_NOT_FOUND",
    808: "APIKEY_UPLOAD_FAILED",
    809: "APIKEY_FILE_SIZE_EXCEEDED",
    811: "CORPAPIKEY_INVALID",
    812: "CORPAPIKEY_INSUFFICIENT_FUNDS",
    813: "APIKEY_TASK_IS_QUEUED",
    814: "PERSONAL_QUEUE_COUNT_LIMIT",
    901: "WEBAPP_NOT_EXISTS",
}


def envelope_body(code: int = 0, data: Any = None, msg: str | None = None) -> dict[str, Any]:
    """``{"code", "msg", "data"}``; ``msg`` defaults to the code's symbolic name."""
    return {"code": code, "msg": CODE_NAMES.get(code, "") if msg is None else msg, "data": data}


def envelope(code: int = 0, data: Any = None, msg: str | None = None) -> web.Response:
    """An HTTP 200 reply carrying :func:`envelope_body` (RunningHub's errors are 200s too)."""
    return web.json_response(envelope_body(code, data, msg))


async def json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` when it is not one."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def multipart_fields(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a ``multipart/form-data`` body: name -> (filename, bytes)."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        return {}
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            disposition[key.strip()] = value.strip()
        name = disposition.get_param("name", header="Content-Disposition")
        if isinstance(name, str):
            filename = disposition.get_param("filename", header="Content-Disposition")
            fields[name] = (filename if isinstance(filename, str) else None, data[:-2])
    return fields
