"""From a worker-comfyui result to output items (runpod-protocol.md §11–§13).

The worker returns no node ids, so before submitting, every output node's literal
``filename_prefix`` gets a per-job marker (``ck<8 hex>n<node id>_``); returned file names are
mapped back to their node (and ``$output`` name) from that marker, which is then removed from the
reported file name. Base64 files are written to disk and reported as ``file://`` URLs; ``s3_url``
files keep their (presigned) URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from comfykit_sync import ExecutionError
from comfykit_sync.backend import OutputItem, WorkflowSpec, safe_filename

_MARKER = re.compile(r"^ck[0-9a-f]{8}n([A-Za-z0-9:.\-]+?)_(.*)$", re.DOTALL)
_NODE_ID = re.compile(r"^[A-Za-z0-9:.\-]+$")
UNMATCHED_NODE = "runpod"
#: output nodes whose results worker-comfyui never returns (spec §11.2)
DROPPED_CLASSES = frozenset(
    {
        "PreviewImage",
        "PreviewAny",
        "PreviewAudio",
        "SaveAudio",
        "SaveAudioMP3",
        "SaveAudioOpus",
        "VHS_VideoCombine",
        "SaveLatent",
        "SaveGLB",
    }
)


def dropped_outputs(graph: Mapping[str, Any], spec: WorkflowSpec) -> tuple[str, ...]:
    """A warning per output node whose results worker-comfyui drops (previews, audio, text)."""
    warnings = []
    for node_id, node in graph.items():
        class_type = node.get("class_type") if isinstance(node, Mapping) else None
        if class_type in DROPPED_CLASSES:
            warnings.append(
                f"output {spec.output_var(str(node_id))!r} (node {node_id}, {class_type}) will "
                "not come back: worker-comfyui returns only saved images and videos"
            )
    return tuple(warnings)


def mark_prefixes(graph: Mapping[str, Any], token: str) -> dict[str, Any]:
    """A copy of ``graph`` with each literal ``filename_prefix`` carrying its node's marker."""
    marked: dict[str, Any] = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        prefix = inputs.get("filename_prefix") if isinstance(inputs, Mapping) else None
        if not (
            isinstance(inputs, Mapping) and isinstance(prefix, str) and _NODE_ID.match(str(node_id))
        ):
            marked[node_id] = node
            continue
        head, tail = posixpath.split(prefix)
        new_prefix = (
            posixpath.join(head, f"ck{token}n{node_id}_{tail}")
            if head
            else (f"ck{token}n{node_id}_{tail}")
        )
        marked[node_id] = {**node, "inputs": {**inputs, "filename_prefix": new_prefix}}
    return marked


def split_marker(filename: str) -> tuple[str | None, str]:
    """(node id, file name without the marker); ``(None, filename)`` for unmarked names."""
    match = _MARKER.match(filename)
    return (match.group(1), match.group(2) or filename) if match else (None, filename)


def failure_text(error: Any) -> str:
    """The message of a ``FAILED`` job's ``error`` (plain, or a JSON exception record)."""
    if isinstance(error, str):
        try:
            record = json.loads(error)
        except ValueError:
            return error.strip()
        error = record
    if isinstance(error, Mapping):
        message = error.get("error_message") or error.get("error") or error.get("message")
        if message:
            kind = error.get("error_type")
            return f"{kind}: {message}" if kind else str(message)
        return json.dumps(error)[:1000]
    return "" if error is None else str(error)


def details_text(output: Any) -> str:
    """The worker's ``details`` list (if any) as one line."""
    details = output.get("details") if isinstance(output, Mapping) else None
    if isinstance(details, list) and details:
        return "; ".join(str(d) for d in details)
    return ""


class OutputWriter:
    """Decodes base64 outputs of one job into ``<directory>/<job id>/``."""

    def __init__(self, directory: Path, job_id: str) -> None:
        self.directory = directory / (safe_filename(job_id) or "job")

    def write(self, filename: str, data: str) -> str:
        """Write the decoded ``data``; return its ``file://`` URL."""
        try:
            content = base64.b64decode(data.split(",", 1)[-1] if data.startswith("data:") else data)
        except (binascii.Error, ValueError) as exc:
            raise ExecutionError(f"RunPod returned invalid base64 for {filename}: {exc}") from exc
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / (safe_filename(filename) or "output.bin")
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(content)
        partial.replace(target)
        return target.resolve().as_uri()


def build_items(
    job_id: str, output: Any, directory: Path
) -> tuple[tuple[OutputItem, ...], dict[str, Any], ExecutionError | None]:
    """Items, the raw output (base64 replaced by URLs) and the error of a ``COMPLETED`` job."""
    if not isinstance(output, Mapping):
        return (
            (),
            {},
            ExecutionError(
                f"RunPod job {job_id} completed without output (the result was probably over "
                "~20 MB and lost; enable S3 upload on the endpoint)",
                prompt_id=job_id,
            ),
        )
    if "images" not in output and "message" in output:  # worker-comfyui before 5.0 (§12)
        return _legacy(job_id, output, directory)
    writer = OutputWriter(directory, job_id)
    items: list[OutputItem] = []
    raw_images: list[Any] = []
    problems: list[str] = []
    for entry in output.get("images") or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("filename"), str):
            raw_images.append(entry)
            continue
        node_id, name = split_marker(entry["filename"])
        data, kind = entry.get("data"), entry.get("type", "base64")
        if not isinstance(data, str) or not data:
            problems.append(f"{name}: no data")
            continue
        if kind == "s3_url":
            if not data.startswith(("http://", "https://")):
                problems.append(f"{name}: the worker stored it at {data!r}, not an http(s) URL")
                continue
            url = data
        else:
            url = writer.write(name, data)
        record = {"filename": name, "type": "output", "subfolder": ""}
        raw_images.append({**record, "node": node_id, "url": url, "source": kind})
        node = node_id or UNMATCHED_NODE
        items.append(OutputItem(node, "images", record, node_output={"images": [record]}, url=url))
    raw = {k: v for k, v in output.items() if k != "images"}
    raw["images"] = raw_images
    errors = [str(e) for e in output.get("errors") or []]
    error = None
    if any(e.startswith("Workflow execution error") for e in errors) or problems:
        error = ExecutionError(
            f"RunPod job {job_id} failed: " + "; ".join(errors + problems), prompt_id=job_id
        )
    return tuple(items), raw, error


def _legacy(
    job_id: str, output: Mapping[str, Any], directory: Path
) -> tuple[tuple[OutputItem, ...], dict[str, Any], ExecutionError | None]:
    message = str(output.get("message") or "")
    if output.get("status") != "success":
        text = "; ".join(filter(None, (message, details_text(output)))) or "no message"
        return (
            (),
            dict(output),
            ExecutionError(f"RunPod job {job_id} failed: {text}", prompt_id=job_id),
        )
    if message.startswith(("http://", "https://")):
        url = message
        name = posixpath.basename(message.split("?", 1)[0]) or "output.png"
    else:
        name = "output.png"
        url = OutputWriter(directory, job_id).write(name, message)
    record = {"filename": name, "type": "output", "subfolder": ""}
    item = OutputItem(UNMATCHED_NODE, "images", record, UNMATCHED_NODE, {"images": [record]}, url)
    return (item,), {"status": "success", "url": url}, None


def default_output_dir(configured: str | None) -> Path:
    """The output directory: the configured one, else a fresh temporary directory."""
    if configured:
        return Path(os.path.expanduser(configured))
    import tempfile

    return Path(tempfile.mkdtemp(prefix="comfykit-runpod-"))
