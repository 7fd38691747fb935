"""The files a task produces and the ``/task/openapi/outputs`` items that point to them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from .. import _media
from .cdn import Cdn
from .records import OutputFile, TaskRecord

#: output node classes and the file type they produce by default
OUTPUT_TYPES: Mapping[str, str] = {
    "SaveImage": "png",
    "PreviewImage": "png",
    "SaveVideo": "mp4",
    "VHS_VideoCombine": "mp4",
    "SaveAudio": "flac",
    "PreviewAny": "txt",
}


def output_nodes(graph: Mapping[str, Any]) -> list[str]:
    """Ids of the graph's output nodes, in graph order (``promptTips.outputs_to_execute``)."""
    return [node_id for node_id, node in graph.items() if node.get("class_type") in OUTPUT_TYPES]


def default_outputs(graph: Mapping[str, Any]) -> tuple[OutputFile, ...]:
    """One small valid file per output node (a text node shows its text)."""
    return tuple(_default_output(graph, node_id) for node_id in output_nodes(graph))


def _default_output(graph: Mapping[str, Any], node_id: str) -> OutputFile:
    node = graph[node_id]
    file_type = OUTPUT_TYPES[node["class_type"]]
    content = {
        "png": lambda: _media.png(8, 8, (30, 144, 255)),
        "mp4": _media.mp4,
        "flac": _media.flac,
        "txt": lambda: _text_output(graph, node).encode(),
    }[file_type]()
    return OutputFile(node_id, file_type, content)


def _text_output(graph: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """What a text output node shows: its literal input, or the first text of the linked node."""
    value = next(iter((node.get("inputs") or {}).values()), "")
    if isinstance(value, list) and len(value) == 2:
        source = graph.get(str(value[0])) or {}
        texts = [v for v in (source.get("inputs") or {}).values() if isinstance(v, str)]
        return texts[0] if texts else ""
    return str(value)


class OutputPublisher:
    """Puts a task's files on the CDN and describes them as RunningHub does.

    File names are numbered across the whole server (``ComfyUI_00001_.png``, ...).
    """

    def __init__(self, cdn: Cdn) -> None:
        self._cdn = cdn
        self._numbers = itertools.count(1)

    def publish(
        self,
        task: TaskRecord,
        files: tuple[OutputFile, ...],
        *,
        cdn_url: str,
        task_cost: int,
        wire_id: Callable[[str], str | int],
    ) -> list[dict[str, Any]]:
        """The outputs reply items for ``files`` (``wire_id`` writes a node id as sent)."""
        items = []
        for file in files:
            number = next(self._numbers)
            name = file.name or f"ComfyUI_{number:05d}_.{file.file_type}"
            content = file.content.encode() if isinstance(file.content, str) else file.content
            items.append(
                {
                    "fileUrl": cdn_url + self._cdn.publish_output(name, content),
                    "fileType": file.file_type,
                    "taskCostTime": str(round(task.queue_time + task.run_time)),
                    "nodeId": wire_id(file.node_id),
                    "consumeCoins": str(task_cost),
                    "consumeMoney": None,
                    "thirdPartyConsumeMoney": None,
                }
            )
        return items
