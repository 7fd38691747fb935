"""The fake ComfyUI server, exercised over real HTTP and WebSocket on 127.0.0.1."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from helpers import flac_stream, png_pixels

from comfykit_sync.testing import FakeComfyUI, Script
from comfykit_sync.testing._folders import Folders
from comfykit_sync.testing._nodes import CATALOGUE, CORE_NODES, SNAPSHOT, node_from_object_info

TIMEOUT = 10.0


# ----------------------------------------------------------------------------- helpers


def image_graph(text: str = "a fox", seed: int = 1, prefix: str = "fox") -> dict[str, Any]:
    """Text-to-image graph with a PreviewAny caption output listed first."""
    return {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": text}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 512, "height": 256, "batch_size": 1},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["1", 0], "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 4,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix, "images": ["8", 0]}},
    }


def image_only(**changes: dict[str, Any]) -> dict[str, Any]:
    """``image_graph`` without its caption output; ``changes`` update node inputs."""
    graph = image_graph()
    del graph["2"]
    for node_id, inputs in changes.items():
        graph[node_id]["inputs"].update(inputs)
    return graph


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def text_graph(text: str = "hello") -> dict[str, Any]:
    return {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": text}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }


def submit(server: FakeComfyUI, graph: dict[str, Any], **body: Any) -> requests.Response:
    return requests.post(f"{server.url}/prompt", json={"prompt": graph, **body}, timeout=TIMEOUT)


def queued(server: FakeComfyUI, graph: dict[str, Any], **body: Any) -> str:
    response = submit(server, graph, **body)
    assert response.status_code == 200, response.text
    return response.json()["prompt_id"]


def get(server: FakeComfyUI, path: str, **params: Any) -> Any:
    response = requests.get(f"{server.url}{path}", params=params, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def history(server: FakeComfyUI, prompt_id: str) -> dict[str, Any]:
    """Wait for and return the history entry of ``prompt_id``."""
    return wait_for(lambda: get(server, f"/history/{prompt_id}").get(prompt_id), "history")


def running_ids(server: FakeComfyUI) -> list[str]:
    return [item[1] for item in get(server, "/queue")["queue_running"]]


class Socket:
    """websocket-client connection that splits JSON and binary frames."""

    def __init__(self, server: FakeComfyUI, client_id: str | None = None, **options: Any) -> None:
        url = options.pop("url", server.ws_url) + (f"?clientId={client_id}" if client_id else "")
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, **options)
        self.binary: list[bytes] = []

    def recv(self) -> dict[str, Any]:
        while True:
            frame = self.ws.recv()
            if isinstance(frame, bytes):
                self.binary.append(frame)
                continue
            return json.loads(frame)

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """All messages up to and including the first one ``predicate`` accepts."""
        messages = []
        while True:
            messages.append(self.recv())
            if predicate(messages[-1]):
                return messages

    def until_final(self, prompt_id: str) -> list[dict[str, Any]]:
        return self.until(
            lambda m: (
                m["type"] == "executing"
                and m["data"]["node"] is None
                and m["data"].get("prompt_id") == prompt_id
            )
        )

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def socket(fake_comfyui: FakeComfyUI) -> Any:
    sock = Socket(fake_comfyui, "client-1")
    assert sock.recv()["data"]["sid"] == "client-1"
    yield sock
    sock.close()


def queue_remaining(message: dict[str, Any]) -> int | None:
    """``queue_remaining`` of a ``status`` message, None for other messages."""
    if message["type"] != "status":
        return None
    remaining: int = message["data"]["status"]["exec_info"]["queue_remaining"]
    return remaining


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, list[bytes]] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(
            kind + body
        )
        chunks.setdefault(kind, []).append(body)
        pos += 12 + length
    return chunks


def upload(server: FakeComfyUI, name: str, data: bytes, **fields: str) -> requests.Response:
    return requests.post(
        f"{server.url}/upload/image",
        files={"image": (name, data, "application/octet-stream")},
        data=fields,
        timeout=TIMEOUT,
    )


# ------------------------------------------------------------------ introspection


def test_system_stats_features_and_api_prefix(fake_comfyui: FakeComfyUI) -> None:
    stats = get(fake_comfyui, "/system_stats")
    assert stats["system"]["comfyui_version"] == "0.3.64"
    assert stats["devices"][0]["type"]
    assert get(fake_comfyui, "/api/system_stats") == stats
    features = get(fake_comfyui, "/features")
    assert features == {"supports_preview_metadata": True, "max_upload_size": 100 * 1024 * 1024}
    assert get(fake_comfyui, "/prompt") == {"exec_info": {"queue_remaining": 0}}
    assert (
        requests.post(f"{fake_comfyui.url}/free", json={"unload_models": True}).status_code == 200
    )


def test_object_info(fake_comfyui: FakeComfyUI) -> None:
    info = get(fake_comfyui, "/object_info")
    for name in ["KSampler", "SaveImage", "VHS_VideoCombine", "easy int", "ShowText|pysssss"]:
        assert info[name]["name"] == name
    load_image = info["LoadImage"]
    files, options = load_image["input"]["required"]["image"]
    assert "example.png" in files and options == {"image_upload": True}
    assert info["LoadAudio"]["input"]["required"]["audio"][1]["audio_upload"] is True
    video_type, video_options = info["LoadVideo"]["input"]["required"]["file"]
    assert video_type == "COMBO" and video_options["video_upload"] is True
    assert info["SaveImage"]["output_node"] is True and info["KSampler"]["output_node"] is False
    assert info["SaveImage"]["input"]["hidden"] == {
        "prompt": "PROMPT",
        "extra_pnginfo": "EXTRA_PNGINFO",
    }
    seed = info["KSampler"]["input"]["required"]["seed"]
    assert seed[0] == "INT" and seed[1]["max"] == 0xFFFFFFFFFFFFFFFF
    assert info["CheckpointLoaderSimple"]["output"] == ["MODEL", "CLIP", "VAE"]
    assert info["KSampler"]["input_order"]["required"][:2] == ["model", "seed"]
    one = get(fake_comfyui, "/object_info/KSampler")
    assert list(one) == ["KSampler"] and one["KSampler"] == info["KSampler"]
    assert get(fake_comfyui, "/object_info/NoSuchNode") == {}


def test_the_core_nodes_are_served_from_the_real_servers_definitions() -> None:
    """The model-free core nodes come from the copy of ComfyUI 0.3.64's ``/object_info``
    (tests/test_ui_loader.py checks that copy against the real server's), not from a
    hand-written definition."""
    snapshot = json.loads(SNAPSHOT.read_text())
    assert {"SaveImageWebsocket", "EmptyAudio", "GetImageSize", "StringConcatenate"} <= set(
        CORE_NODES
    )
    for name in CORE_NODES:
        assert CATALOGUE[name] == node_from_object_info(snapshot[name]), name


# ------------------------------------------------------------------ validation


LOAD_MISSING = {
    "1": node("LoadImage", image="missing.png"),
    "2": node("PreviewImage", images=["1", 0]),
}


@pytest.mark.parametrize(
    ("graph", "node_id", "error_type", "input_name"),
    [
        (image_only(**{"4": {"ckpt_name": "x"}}), "4", "value_not_in_list", "ckpt_name"),
        (image_only(**{"3": {"steps": "many"}}), "3", "invalid_input_type", "steps"),
        (image_only(**{"3": {"steps": 0}}), "3", "value_smaller_than_min", "steps"),
        (image_only(**{"5": {"width": 99999}}), "5", "value_bigger_than_max", "width"),
        (image_only(**{"3": {"model": ["404", 0]}}), "3", "bad_linked_input", "model"),
        (image_only(**{"3": {"model": ["4"]}}), "3", "bad_linked_input", "model"),
        (image_only(**{"3": {"model": ["4", 7]}}), "3", "bad_linked_input", "model"),
        (image_only(**{"3": {"model": ["5", 0]}}), "3", "return_type_mismatch", "model"),
        (LOAD_MISSING, "1", "value_not_in_list", "image"),
    ],
)
def test_invalid_inputs_are_rejected_with_node_errors(
    fake_comfyui: FakeComfyUI,
    graph: dict[str, Any],
    node_id: str,
    error_type: str,
    input_name: str,
) -> None:
    response = submit(fake_comfyui, graph)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["error"]["message"] == "Prompt outputs failed validation"
    assert list(body["node_errors"]) == [node_id]
    entry = body["node_errors"][node_id]
    assert entry["class_type"] == graph[node_id]["class_type"]
    assert entry["dependent_outputs"] == ["2" if graph is LOAD_MISSING else "9"]
    (error,) = entry["errors"]
    assert error["type"] == error_type
    assert set(error) == {"type", "message", "details", "extra_info"}
    assert error["extra_info"]["input_name"] == input_name
    assert get(fake_comfyui, "/prompt")["exec_info"]["queue_remaining"] == 0


def test_value_not_in_list_details(fake_comfyui: FakeComfyUI) -> None:
    small = submit(fake_comfyui, image_only(**{"4": {"ckpt_name": "x"}})).json()
    error = small["node_errors"]["4"]["errors"][0]
    assert error["details"] == "ckpt_name: 'x' not in ['sd15.safetensors', 'sdxl.safetensors']"
    assert error["extra_info"]["received_value"] == "x"
    assert error["extra_info"]["input_config"][0] == ["sd15.safetensors", "sdxl.safetensors"]
    assert small["error"]["details"] == f"Value not in list: {error['details']}"
    big = submit(fake_comfyui, image_only(**{"3": {"sampler_name": "magic"}})).json()
    error = big["node_errors"]["3"]["errors"][0]
    assert error["details"].startswith("sampler_name: 'magic' not in (list of length ")
    assert error["extra_info"]["input_config"] is None


def test_prompt_level_errors(fake_comfyui: FakeComfyUI) -> None:
    unknown = submit(fake_comfyui, {"1": node("Nope")})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["type"] == "invalid_prompt"
    assert unknown.json()["node_errors"] == {}
    missing = submit(fake_comfyui, {"1": {"inputs": {}}}).json()
    assert missing["error"]["type"] == "invalid_prompt"
    assert "class_type" in missing["error"]["message"]
    ui_format = submit(fake_comfyui, {"id": "x", "nodes": [], "links": []}).json()
    assert ui_format["error"]["type"] == "invalid_prompt"
    no_outputs = submit(fake_comfyui, {"1": node("PrimitiveInt", value=1)})
    assert no_outputs.status_code == 400
    assert no_outputs.json()["error"]["type"] == "prompt_no_outputs"
    required = submit(fake_comfyui, {"2": node("PreviewAny")}).json()
    assert required["node_errors"]["2"]["errors"][0]["type"] == "required_input_missing"
    no_prompt = requests.post(f"{fake_comfyui.url}/prompt", json={"client_id": "x"})
    assert no_prompt.status_code == 400 and no_prompt.json()["error"]["type"] == "no_prompt"
    not_json = requests.post(f"{fake_comfyui.url}/prompt", data=b"{nope")
    assert not_json.status_code == 500


def test_partially_valid_prompt_runs_the_valid_outputs(fake_comfyui: FakeComfyUI) -> None:
    graph = image_graph()
    graph["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    response = submit(fake_comfyui, graph)
    assert response.status_code == 200
    body = response.json()
    assert body["node_errors"]["4"]["dependent_outputs"] == ["9"]
    entry = history(fake_comfyui, body["prompt_id"])
    assert entry["prompt"][4] == ["2"]
    assert list(entry["outputs"]) == ["2"]


def test_partial_execution_targets_and_explicit_number(fake_comfyui: FakeComfyUI) -> None:
    body = submit(fake_comfyui, image_graph(), partial_execution_targets=["2"], number=7).json()
    assert body["number"] == 7.0
    entry = history(fake_comfyui, body["prompt_id"])
    assert entry["prompt"][0] == 7.0 and entry["prompt"][4] == ["2"]
    assert list(entry["outputs"]) == ["2"]


def test_partial_execution_validates_and_runs_only_what_the_targets_need(
    fake_comfyui: FakeComfyUI, socket: Socket
) -> None:
    graph = image_graph()
    graph["4"]["inputs"]["ckpt_name"] = "missing.safetensors"  # breaks only output 9
    response = submit(fake_comfyui, graph, partial_execution_targets=["2"], client_id="client-1")
    assert response.status_code == 200 and response.json()["node_errors"] == {}
    prompt_id = response.json()["prompt_id"]
    messages = socket.until_final(prompt_id)
    ran = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert ran == ["1", "2", None]
    assert list(history(fake_comfyui, prompt_id)["outputs"]) == ["2"]


def test_targets_that_are_not_output_nodes_are_ignored(fake_comfyui: FakeComfyUI) -> None:
    body = submit(fake_comfyui, image_graph(), partial_execution_targets=["3", "99", "9"]).json()
    assert history(fake_comfyui, body["prompt_id"])["prompt"][4] == ["9"]
    for targets in (["3", "99"], [], [9]):  # ids are strings: 9 is not "9"
        rejected = submit(fake_comfyui, image_graph(), partial_execution_targets=targets)
        assert rejected.status_code == 400, targets
        assert rejected.json() == {
            "error": {
                "type": "prompt_no_outputs",
                "message": "Prompt has no outputs",
                "details": "",
                "extra_info": {},
            },
            "node_errors": {},
        }
    assert submit(fake_comfyui, image_graph(), partial_execution_targets=5).status_code == 500


def test_history_lists_cached_outputs_of_nodes_that_did_not_run(
    fake_comfyui: FakeComfyUI, socket: Socket
) -> None:
    """Like ComfyUI, whose history holds the UI cache of every node of the graph."""
    history(fake_comfyui, queued(fake_comfyui, image_graph()))
    prompt_id = queued(
        fake_comfyui, image_graph(), partial_execution_targets=["2"], client_id="client-1"
    )
    messages = socket.until_final(prompt_id)
    assert [m["data"]["node"] for m in messages if m["type"] == "executed"] == ["2"]
    entry = history(fake_comfyui, prompt_id)
    assert entry["prompt"][4] == ["2"]
    assert set(entry["outputs"]) == {"2", "9"} and set(entry["meta"]) == {"2", "9"}
    assert entry["outputs"]["9"]["images"][0]["filename"] == "fox_00001_.png"


def test_node_errors_of_earlier_failed_outputs_list_later_ones(
    fake_comfyui: FakeComfyUI,
) -> None:
    """ComfyUI appends each failed output to every erroneous node validated so far."""
    graph = image_graph()
    graph["2"]["inputs"]["source"] = ["1", 5]  # bad slot: output 2 fails first
    graph["4"]["inputs"]["ckpt_name"] = "missing.safetensors"  # output 9 fails too
    body = submit(fake_comfyui, graph).json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    errors = body["node_errors"]
    assert errors["2"]["dependent_outputs"] == ["2", "9"]
    assert errors["4"]["dependent_outputs"] == ["9"]


def test_literals_are_coerced_and_queue_items_are_positional(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(duration=30))
    graph = image_graph()
    graph["3"]["inputs"].update(seed="42", cfg="6.5")
    extra = {"api_key_comfy_org": "secret", "extra_pnginfo": {"workflow": {"nodes": []}}}
    prompt_id = queued(fake_comfyui, graph, client_id="c1", extra_data=extra)
    (item,) = wait_for(lambda: get(fake_comfyui, "/queue")["queue_running"], "running")
    number, item_id, item_graph, extra_data, outputs = item
    assert (number, item_id, outputs) == (0, prompt_id, ["2", "9"])
    assert item_graph["3"]["inputs"]["seed"] == 42 and item_graph["3"]["inputs"]["cfg"] == 6.5
    assert extra_data["client_id"] == "c1" and extra_data["api_key_comfy_org"] == "secret"
    requests.post(f"{fake_comfyui.url}/interrupt", json={"prompt_id": prompt_id})
    entry = history(fake_comfyui, prompt_id)
    assert "api_key_comfy_org" not in entry["prompt"][3]
    assert entry["prompt"][3]["client_id"] == "c1"


# ------------------------------------------------------------------ execution and events


def test_successful_prompt_event_order_and_history(
    fake_comfyui: FakeComfyUI, socket: Socket
) -> None:
    extra = {"extra_pnginfo": {"workflow": {"nodes": [1]}}}
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1", extra_data=extra)
    messages = socket.until_final(prompt_id)
    kinds = types(messages)
    lifecycle = [k for k in kinds if k not in ("status", "progress", "progress_state")]
    assert lifecycle[:2] == ["execution_start", "execution_cached"]
    assert lifecycle[-2:] == ["execution_success", "executing"]
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing == ["1", "2", "4", "6", "7", "5", "3", "8", "9", None]
    executed = [m["data"] for m in messages if m["type"] == "executed"]
    assert [e["node"] for e in executed] == ["2", "9"]
    assert executed[0]["output"] == {"text": ["a fox"]}
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [
        (i, 4, "3") for i in (1, 2, 3, 4)
    ]
    state = [m["data"] for m in messages if m["type"] == "progress_state"][-1]
    assert state["nodes"]["9"]["state"] == "finished" and state["nodes"]["3"]["max"] == 1
    success = kinds.index("execution_success")
    assert kinds.index("status", success) < len(kinds) - 1
    assert messages[-1]["data"] == {"node": None, "prompt_id": prompt_id}
    entry = get(fake_comfyui, f"/history/{prompt_id}")[prompt_id]  # written before the final event
    assert set(entry) == {"prompt", "outputs", "status", "meta"}
    status = entry["status"]
    assert status["status_str"] == "success" and status["completed"] is True
    events = [m[0] for m in status["messages"]]
    assert events == ["execution_start", "execution_cached", "execution_success"]
    assert all(isinstance(m[1]["timestamp"], int) for m in status["messages"])
    assert entry["meta"]["9"] == {
        "node_id": "9",
        "display_node": "9",
        "parent_node": None,
        "real_node_id": "9",
    }
    image = entry["outputs"]["9"]["images"][0]
    assert image == {"filename": "fox_00001_.png", "subfolder": "", "type": "output"}
    chunks = png_chunks((fake_comfyui.output_dir / image["filename"]).read_bytes())
    texts = dict(c.split(b"\x00", 1) for c in chunks[b"tEXt"])
    assert json.loads(texts[b"prompt"])["3"]["inputs"]["seed"] == 1
    assert json.loads(texts[b"workflow"]) == {"nodes": [1]}
    assert fake_comfyui.prompts[prompt_id].status == "success"


def test_cached_rerun_reports_cached_nodes_and_outputs(
    fake_comfyui: FakeComfyUI, socket: Socket
) -> None:
    first = queued(fake_comfyui, image_graph(), client_id="client-1")
    socket.until_final(first)
    second = queued(fake_comfyui, image_graph(seed=2), client_id="client-1")
    messages = socket.until_final(second)
    cached = next(m["data"]["nodes"] for m in messages if m["type"] == "execution_cached")
    assert cached == ["1", "2", "4", "5", "6", "7"]
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing == ["3", "8", "9", None]
    executed = {m["data"]["node"]: m["data"]["output"] for m in messages if m["type"] == "executed"}
    assert executed["2"] == {"text": ["a fox"]}  # cached output node, sent again
    assert executed["9"]["images"][0]["filename"] == "fox_00002_.png"
    assert set(history(fake_comfyui, second)["outputs"]) == {"2", "9"}
    fake_comfyui.script(Script(no_cached_executed=True))
    third = queued(fake_comfyui, image_graph(seed=2), client_id="client-1")
    messages = socket.until_final(third)
    assert "executed" not in types(messages)
    assert [m["data"]["node"] for m in messages if m["type"] == "executing"] == [None]
    assert history(fake_comfyui, third)["outputs"]["9"]["images"][0]["filename"] == "fox_00002_.png"


@pytest.mark.fake_comfyui(cache=False)
def test_cache_can_be_disabled(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    for expected in ("fox_00001_.png", "fox_00002_.png"):
        prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
        messages = socket.until_final(prompt_id)
        assert next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"] == []
        assert history(fake_comfyui, prompt_id)["outputs"]["9"]["images"][0]["filename"] == expected


def test_prompt_without_client_id_only_broadcasts_progress(
    fake_comfyui: FakeComfyUI, socket: Socket
) -> None:
    prompt_id = queued(fake_comfyui, image_graph())
    history(fake_comfyui, prompt_id)
    marker = queued(fake_comfyui, text_graph(), client_id="client-1")
    kinds = types(socket.until_final(marker))
    before_marker = kinds[: kinds.index("execution_start")]
    assert "progress" in before_marker and "progress_state" in before_marker
    assert {"executing", "executed", "execution_success"}.isdisjoint(before_marker)


def test_linked_values_are_traceable(fake_comfyui: FakeComfyUI) -> None:
    graph = {
        "1": node("easy int", value=5),
        "2": node("PreviewAny", source=["1", 0]),
        "3": node("PreviewAny", source="literal"),
        "4": node("PrimitiveString", value="shown"),
        "5": node("ShowText|pysssss", text=["4", 0]),
    }
    outputs = history(fake_comfyui, queued(fake_comfyui, graph))["outputs"]
    assert outputs == {"2": {"text": ["5"]}, "3": {"text": ["literal"]}, "5": {"text": ["shown"]}}


def test_media_output_nodes(fake_comfyui: FakeComfyUI) -> None:
    assert upload(fake_comfyui, "clip.mp4", b"\x00\x00\x00\x18ftypisom").status_code == 200
    assert upload(fake_comfyui, "voice.flac", b"fLaC").status_code == 200
    image, audio = ["8", 0], ["15", 0]
    graph = image_graph()
    graph["5"]["inputs"]["batch_size"] = 2
    webp = {"fps": 6.0, "lossless": True, "quality": 80, "method": "default"}
    vhs = {"loop_count": 0, "format": "video/h264-mp4", "pingpong": False, "save_output": True}
    graph.update(
        {
            "10": node("PreviewImage", images=image),
            "11": node("SaveAnimatedWEBP", images=image, filename_prefix="anim", **webp),
            "12": node(
                "SaveWEBM", images=image, filename_prefix="clip", codec="vp9", fps=24.0, crf=32.0
            ),
            "13": node("LoadVideo", file="clip.mp4"),
            "14": node(
                "SaveVideo",
                video=["13", 0],
                filename_prefix="video/ComfyUI",
                format="auto",
                codec="auto",
            ),
            "15": node("LoadAudio", audio="voice.flac"),
            "16": node("SaveAudio", audio=audio, filename_prefix="audio/ComfyUI"),
            "17": node("SaveAudioMP3", audio=audio, filename_prefix="audio/ComfyUI", quality="V0"),
            "18": node("PreviewAudio", audio=audio),
            "19": node("SaveLatent", samples=["3", 0], filename_prefix="latents/ComfyUI"),
            "20": node(
                "VAEDecodeHunyuan3D",
                samples=["3", 0],
                vae=["4", 2],
                num_chunks=8000,
                octree_resolution=256,
            ),
            "21": node("VoxelToMeshBasic", voxel=["20", 0], threshold=0.6),
            "22": node("SaveGLB", mesh=["21", 0], filename_prefix="mesh/ComfyUI"),
            "23": node(
                "VHS_VideoCombine", images=image, frame_rate=8, filename_prefix="AnimateDiff", **vhs
            ),
        }
    )
    outputs = history(fake_comfyui, queued(fake_comfyui, graph))["outputs"]
    assert [i["filename"] for i in outputs["9"]["images"]] == ["fox_00001_.png", "fox_00002_.png"]
    preview = outputs["10"]["images"][0]
    assert preview["type"] == "temp" and preview["filename"].startswith("ComfyUI_temp_")
    assert outputs["11"] == {
        "images": [{"filename": "anim_00001_.webp", "subfolder": "", "type": "output"}],
        "animated": [True],
    }
    assert outputs["12"]["images"][0]["filename"] == "clip_00001_.webm"
    assert outputs["14"] == {
        "images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}],
        "animated": [True],
    }
    flac = {"filename": "ComfyUI_00001_.flac", "subfolder": "audio", "type": "output"}
    assert outputs["16"]["audio"] == [flac]
    assert outputs["17"]["audio"][0]["filename"] == "ComfyUI_00002_.mp3"
    assert outputs["18"]["audio"][0]["type"] == "temp"
    assert outputs["19"]["latents"][0]["subfolder"] == "latents"
    assert outputs["22"]["3d"][0]["filename"] == "ComfyUI_00001_.glb"
    gif = outputs["23"]["gifs"][0]
    assert gif["filename"] == "AnimateDiff_00001.mp4" and gif["format"] == "video/h264-mp4"
    assert gif["frame_rate"] == 8 and gif["workflow"] == "AnimateDiff_00001.png"
    for node_id in ("11", "12", "14", "16", "17", "19", "22", "23"):
        record = next(iter(outputs[node_id].values()))[0]
        path = fake_comfyui.output_dir / record["subfolder"] / record["filename"]
        assert path.stat().st_size > 0
    assert (fake_comfyui.output_dir / "video" / "ComfyUI_00001_.mp4").read_bytes()[4:8] == b"ftyp"
    assert (fake_comfyui.output_dir / "audio" / "ComfyUI_00001_.flac").read_bytes()[:4] == b"fLaC"


# ------------------------------------------------------------- model-free core nodes


def view_bytes(server: FakeComfyUI, record: dict[str, str]) -> bytes:
    reply = requests.get(f"{server.url}/view", params=record, timeout=TIMEOUT)
    assert reply.status_code == 200
    return reply.content


def saved_pixels(server: FakeComfyUI, record: dict[str, str]) -> tuple[int, int, set[Any]]:
    """Size and the set of colours of a saved PNG (one colour: the frame is solid)."""
    width, height, rows = png_pixels(view_bytes(server, record))
    return width, height, {pixel for row in rows for pixel in row}


def test_empty_image_invert_and_scale_compute_like_comfyui(fake_comfyui: FakeComfyUI) -> None:
    """EmptyImage fills with ``color``; ImageInvert computes ``1.0 - x`` in float32 and saving
    truncates ``255 * x``, so 64 becomes 191 but 128 becomes 126 (not 127), as on the real
    server; ImageScale keeps the aspect ratio for a side of 0; every file has the real size."""
    graph = {
        "1": node("EmptyImage", width=40, height=30, batch_size=2, color=0x4080C0),
        "2": node("ImageInvert", image=["1", 0]),
        "3": node(
            "ImageScale",
            image=["2", 0],
            upscale_method="bilinear",
            width=0,
            height=60,
            crop="disabled",
        ),
        "4": node("SaveImage", images=["3", 0], filename_prefix="inverted"),
        "5": node("SaveImage", images=["1", 0], filename_prefix="plain"),
        "6": node(
            "ImageScale",
            image=["1", 0],
            upscale_method="lanczos",
            width=25,
            height=0,
            crop="center",
        ),
        "7": node("PreviewImage", images=["6", 0]),
    }
    outputs = history(fake_comfyui, queued(fake_comfyui, graph))["outputs"]
    inverted, plain = outputs["4"]["images"], outputs["5"]["images"]
    assert [r["filename"] for r in inverted] == ["inverted_00001_.png", "inverted_00002_.png"]
    assert saved_pixels(fake_comfyui, inverted[1]) == (80, 60, {(191, 126, 62)})
    assert saved_pixels(fake_comfyui, plain[0]) == (40, 30, {(64, 128, 192)})
    preview = outputs["7"]["images"][0]
    assert preview["type"] == "temp"
    assert saved_pixels(fake_comfyui, preview) == (25, 19, {(64, 128, 192)})


def test_large_images_are_written_at_their_real_size(fake_comfyui: FakeComfyUI) -> None:
    graph = {
        "1": node("EmptyImage", width=1500, height=2000, batch_size=1, color=0xFF0000),
        "2": node("SaveImage", images=["1", 0], filename_prefix="big"),
    }
    record = history(fake_comfyui, queued(fake_comfyui, graph))["outputs"]["2"]["images"][0]
    data = view_bytes(fake_comfyui, record)
    chunks = png_chunks(data)
    assert struct.unpack(">II", chunks[b"IHDR"][0][:8]) == (1500, 2000)
    rows = zlib.decompress(b"".join(chunks[b"IDAT"]))  # checks the stream's Adler-32 too
    assert len(rows) == (3 * 1500 + 1) * 2000 and rows[1:4] == b"\xff\x00\x00"
    assert b"prompt" in chunks[b"tEXt"][0]


def test_load_image_reads_the_files_size_and_colour(fake_comfyui: FakeComfyUI) -> None:
    """The loaded image is solid in the colour of the file's top-left pixel (here stored with
    the Paeth filter), and has the file's size."""
    row = b"\x04" + bytes((10, 20, 30)) + bytes(3 * 2)  # Paeth: the rest repeat the first pixel
    header = struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    picture = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    picture += chunk(b"IDAT", zlib.compress(row * 2)) + chunk(b"IEND", b"")
    assert upload(fake_comfyui, "tiny.png", picture).status_code == 200
    graph = {
        "1": node("LoadImage", image="tiny.png"),
        "2": node("ImageInvert", image=["1", 0]),
        "3": node("SaveImage", images=["2", 0], filename_prefix="loaded"),
        "4": node("GetImageSize", image=["1", 0]),
        "5": node("PreviewAny", source=["4", 0]),
        "6": node("PreviewAny", source=["4", 1]),
    }
    outputs = history(fake_comfyui, queued(fake_comfyui, graph))["outputs"]
    assert saved_pixels(fake_comfyui, outputs["3"]["images"][0]) == (3, 2, {(245, 235, 225)})
    assert (outputs["5"], outputs["6"]) == ({"text": ["3"]}, {"text": ["2"]})


def test_strings_sizes_and_their_progress_text(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    """StringConcatenate joins with the delimiter; GetImageSize returns width, height and batch
    size and shows them on the node with a binary TEXT frame (node id, then the text) to every
    socket."""
    graph = {
        "1": node("PrimitiveString", value="hello"),
        "2": node("StringConcatenate", string_a=["1", 0], string_b="world", delimiter=" | "),
        "3": node("PreviewAny", source=["2", 0]),
        "4": node("EmptyImage", width=32, height=16, batch_size=3, color=0),
        "5": node("GetImageSize", image=["4", 0]),
        "6": node("PreviewAny", source=["5", 2]),
    }
    bystander = Socket(fake_comfyui, "bystander")
    try:
        assert queue_remaining(bystander.recv()) == 0  # registered before the prompt is queued
        prompt_id = queued(fake_comfyui, graph, client_id="client-1")
        socket.until_final(prompt_id)
        outputs = history(fake_comfyui, prompt_id)["outputs"]
        assert outputs["3"] == {"text": ["hello | world"]} and outputs["6"] == {"text": ["3"]}
        text = b"width: 32, height: 16\n batch size: 3"
        frame = struct.pack(">II", 3, 1) + b"5" + text
        assert socket.binary == [frame]
        for remaining in (1, 0):  # queued, then done: the frame came in between
            bystander.until(lambda m, n=remaining: queue_remaining(m) == n)
        assert bystander.binary == [frame]
    finally:
        bystander.close()


def test_empty_audio_is_saved_as_a_real_flac_file(fake_comfyui: FakeComfyUI) -> None:
    graph = {
        "1": node("EmptyAudio", duration=12.0, sample_rate=44100, channels=2),
        "2": node("SaveAudio", audio=["1", 0], filename_prefix="audio/silence"),
        "3": node("EmptyAudio", duration=0.5, sample_rate=8000, channels=1),
        "4": node("PreviewAudio", audio=["3", 0]),
    }
    prompt_id = queued(fake_comfyui, graph)
    outputs = history(fake_comfyui, prompt_id)["outputs"]
    record = outputs["2"]["audio"][0]
    assert record == {"filename": "silence_00001_.flac", "subfolder": "audio", "type": "output"}
    stream = flac_stream(view_bytes(fake_comfyui, record))
    assert (stream["sample_rate"], stream["channels"], stream["bits_per_sample"]) == (44100, 2, 16)
    assert stream["samples"] == sum(stream["blocks"]) == 529200 and len(stream["blocks"]) == 130
    assert json.loads(stream["comments"]["prompt"])["1"]["class_type"] == "EmptyAudio"
    preview = flac_stream(view_bytes(fake_comfyui, outputs["4"]["audio"][0]))
    assert (preview["sample_rate"], preview["channels"], preview["samples"]) == (8000, 1, 4000)


def test_save_image_websocket_streams_png_frames(fake_comfyui: FakeComfyUI) -> None:
    """Each image goes out as a binary PNG frame after a ``progress`` event counting from 0, in
    the socket's format; nothing is saved or listed, and the node runs again every time."""
    graph = {
        "1": node("EmptyImage", width=8, height=4, batch_size=2, color=0x00FF7F),
        "2": node("SaveImageWebsocket", images=["1", 0]),
    }
    modern, legacy = Socket(fake_comfyui, "modern"), Socket(fake_comfyui, "legacy")
    try:
        modern.recv()
        legacy.recv()
        modern.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        modern.recv()
        first = queued(fake_comfyui, graph, client_id="legacy")
        messages = legacy.until_final(first)
        progress = [m["data"] for m in messages if m["type"] == "progress"]
        assert [(p["value"], p["max"], p["node"]) for p in progress] == [(0, 2, "2"), (1, 2, "2")]
        assert [struct.unpack(">II", frame[:8]) for frame in legacy.binary] == [(1, 2), (1, 2)]
        assert png_pixels(legacy.binary[0][8:]) == (8, 4, [[(0, 255, 127)] * 8] * 4)
        assert history(fake_comfyui, first)["outputs"] == {}
        second = queued(fake_comfyui, graph, client_id="modern")
        messages = modern.until_final(second)
        cached = next(m for m in messages if m["type"] == "execution_cached")
        assert cached["data"]["nodes"] == ["1"]  # SaveImageWebsocket is never cached
        kind, length = struct.unpack(">II", modern.binary[0][:8])
        metadata = json.loads(modern.binary[0][8 : 8 + length])
        assert kind == 4 and metadata["image_type"] == "image/png" and metadata["node_id"] == "2"
        assert metadata["prompt_id"] == second and len(modern.binary) == 2
        assert png_pixels(modern.binary[1][8 + length :])[0] == 8
    finally:
        modern.close()
        legacy.close()


@pytest.mark.fake_comfyui(previews=True)
def test_feature_flags_and_preview_frames(fake_comfyui: FakeComfyUI) -> None:
    modern = Socket(fake_comfyui, "modern")
    legacy = Socket(fake_comfyui, "legacy")
    try:
        modern.recv()
        legacy.recv()
        modern.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        reply = modern.recv()
        assert reply == {
            "type": "feature_flags",
            "data": {"supports_preview_metadata": True, "max_upload_size": 100 * 1024 * 1024},
        }
        modern.until_final(queued(fake_comfyui, image_graph(), client_id="modern"))
        legacy.until_final(queued(fake_comfyui, image_graph(seed=2), client_id="legacy"))
        assert len(modern.binary) == len(legacy.binary) == 4
        kind, length = struct.unpack(">II", modern.binary[0][:8])
        metadata = json.loads(modern.binary[0][8 : 8 + length])
        assert kind == 4 and metadata["node_id"] == "3" and metadata["image_type"] == "image/jpeg"
        assert modern.binary[0][8 + length :][:2] == b"\xff\xd8"
        assert struct.unpack(">II", legacy.binary[0][:8]) == (1, 1)
        assert legacy.binary[0][8:10] == b"\xff\xd8"
    finally:
        modern.close()
        legacy.close()


def test_reconnecting_owner_gets_current_node(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    fake_comfyui.script(Script(duration=60))
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
    socket.until(lambda m: m["type"] == "executing")
    socket.close()
    again = Socket(fake_comfyui, "client-1")
    try:
        assert again.recv()["data"]["sid"] == "client-1"
        current = again.recv()
        assert current["type"] == "executing" and set(current["data"]) == {"node"}
        requests.post(f"{fake_comfyui.url}/interrupt", json={"prompt_id": prompt_id})
        assert again.until_final(prompt_id)[-1]["data"]["node"] is None
    finally:
        again.close()


def test_socket_without_client_id_gets_a_sid(fake_comfyui: FakeComfyUI) -> None:
    anonymous = Socket(fake_comfyui, url=f"ws://127.0.0.1:{fake_comfyui.port}/api/ws")
    try:
        sid = anonymous.recv()["data"]["sid"]
        assert len(sid) == 32
        prompt_id = queued(fake_comfyui, text_graph(), client_id=sid)
        assert "execution_start" in types(anonymous.until_final(prompt_id))
    finally:
        anonymous.close()


# ------------------------------------------------------------------ failures and scripts


def test_error_script(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    fake_comfyui.script(Script(error_node="8", error_message="boom", error_type="ValueError"))
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
    messages = socket.until_final(prompt_id)
    error = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert error["node_id"] == "8" and error["node_type"] == "VAEDecode"
    assert error["exception_message"].strip() == "boom" and error["exception_type"] == "ValueError"
    assert isinstance(error["traceback"], list) and error["traceback"]
    assert error["current_inputs"]["samples"][0].startswith("<LATENT")
    assert "3" in error["executed"] and isinstance(error["current_outputs"], list)
    assert isinstance(error["timestamp"], int)
    assert "execution_success" not in types(messages)
    entry = history(fake_comfyui, prompt_id)
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert entry["status"]["messages"][-1][0] == "execution_error"
    assert list(entry["outputs"]) == ["2"]  # partial outputs
    assert fake_comfyui.prompts[prompt_id].status == "error"


def test_expanded_node_runs_under_ids_of_its_own(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    fake_comfyui.script(Script(expand_node="9"))
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
    messages = socket.until_final(prompt_id)
    executing = [m["data"] for m in messages if m["type"] == "executing"][-3:]
    assert executing == [
        {"node": "9", "display_node": "9", "prompt_id": prompt_id},
        {"node": "9.0.0.1", "display_node": "9", "prompt_id": prompt_id},
        {"node": None, "prompt_id": prompt_id},
    ]
    executed = [m["data"] for m in messages if m["type"] == "executed"]
    assert [(e["node"], e["display_node"]) for e in executed] == [("2", "2"), ("9.0.0.1", "9")]
    state = [m["data"] for m in messages if m["type"] == "progress_state"][-1]["nodes"]
    assert state["9.0.0.1"] == {
        "value": 1,
        "max": 1,
        "state": "finished",
        "prompt_id": prompt_id,
        "node_id": "9.0.0.1",
        "display_node_id": "9",
        "parent_node_id": "9",
        "real_node_id": "9",
    }
    assert state["9"]["state"] == "finished" and state["9"]["parent_node_id"] is None
    entry = history(fake_comfyui, prompt_id)
    assert set(entry["outputs"]) == {"2", "9.0.0.1"}  # under the id of the node that saved
    assert entry["meta"]["9.0.0.1"] == {
        "node_id": "9.0.0.1",
        "display_node": "9",
        "parent_node": "9",
        "real_node_id": "9",
    }
    assert entry["status"]["messages"][-1][0] == "execution_success"


def test_cycle_made_by_an_expansion_is_recorded_under_success(
    fake_comfyui: FakeComfyUI, socket: Socket
) -> None:
    """ComfyUI 0.3.64: a cycle found while staging the next node is reported in the
    messages only; ``status_str``/``completed`` keep the last node's success."""
    fake_comfyui.script(Script(expand_node="3", expansion_cycle=True))
    prompt_id = queued(fake_comfyui, image_only(), client_id="client-1")
    messages = socket.until_final(prompt_id)
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing[-3:] == ["3", "3.0.0.1", None]
    error = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert "execution_success" not in types(messages)
    entry = history(fake_comfyui, prompt_id)
    status = entry["status"]
    assert (status["status_str"], status["completed"]) == ("success", True)
    assert [m[0] for m in status["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_error",
    ]
    assert status["messages"][-1][1] == error
    assert {k: v for k, v in error.items() if k not in ("executed", "timestamp")} == {
        "prompt_id": prompt_id,
        "node_id": "3",
        "node_type": "KSampler",
        "exception_message": "Dependency cycle detected",
        "exception_type": "graph.DependencyCycleError",
        "traceback": [],
        "current_inputs": [],
        "current_outputs": [],
    }
    assert "3.0.0.1" in error["executed"] and "3" not in error["executed"]
    assert entry["outputs"] == {} and entry["meta"] == {}
    assert fake_comfyui.prompts[prompt_id].status == "error"


def test_failure_inside_an_expansion_names_the_workflow_node(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(expand_node="8", error_node="8", error_message="boom"))
    entry = history(fake_comfyui, queued(fake_comfyui, image_graph()))
    assert entry["status"]["status_str"] == "error"
    event, data = entry["status"]["messages"][-1]
    assert event == "execution_error" and (data["node_id"], data["node_type"]) == ("8", "VAEDecode")
    assert data["current_inputs"]["samples"][0].startswith("<LATENT")


def test_error_node_is_never_served_from_cache(fake_comfyui: FakeComfyUI) -> None:
    history(fake_comfyui, queued(fake_comfyui, image_graph()))
    fake_comfyui.script(Script(error_node="4"))
    entry = history(fake_comfyui, queued(fake_comfyui, image_graph()))
    assert entry["status"]["messages"][-1][1]["node_id"] == "4"


def test_unsafe_prefix_fails_like_comfyui(fake_comfyui: FakeComfyUI) -> None:
    entry = history(fake_comfyui, queued(fake_comfyui, image_graph(prefix="../../escape")))
    event, data = entry["status"]["messages"][-1]
    assert event == "execution_error" and data["node_id"] == "9"
    assert "outside the output folder" in data["exception_message"]


def test_blocked_script_is_not_terminal(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    fake_comfyui.script(Script(blocked_node="8", blocked_message="nsfw"))
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
    messages = socket.until_final(prompt_id)
    blocked = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert blocked["exception_type"] == "ExecutionBlocked"
    assert blocked["exception_message"] == "Execution Blocked: nsfw"
    assert "execution_success" in types(messages)
    entry = history(fake_comfyui, prompt_id)
    assert entry["status"]["status_str"] == "success"
    assert "execution_error" not in [m[0] for m in entry["status"]["messages"]]
    assert list(entry["outputs"]) == ["2"]


def test_interrupt_after_script(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    fake_comfyui.script(Script(duration=60, interrupt_after=0.05))
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
    messages = socket.until_final(prompt_id)
    interrupted = next(m["data"] for m in messages if m["type"] == "execution_interrupted")
    assert set(interrupted) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert "execution_error" not in types(messages)
    entry = history(fake_comfyui, prompt_id)
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    assert fake_comfyui.prompts[prompt_id].status == "interrupted"


def test_targeted_and_global_interrupt(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(duration=60))
    fake_comfyui.script(Script(duration=60))
    first = queued(fake_comfyui, text_graph("first"))
    second = queued(fake_comfyui, text_graph("second"))
    wait_for(lambda: running_ids(fake_comfyui) == [first], "first running")
    url = f"{fake_comfyui.url}/interrupt"
    assert requests.post(url, json={"prompt_id": second}).status_code == 200  # pending: no-op
    assert requests.post(url, json={"prompt_id": "unknown"}).status_code == 200
    assert running_ids(fake_comfyui) == [first]
    requests.post(url, json={"prompt_id": first})
    assert history(fake_comfyui, first)["status"]["messages"][-1][0] == "execution_interrupted"
    wait_for(lambda: running_ids(fake_comfyui) == [second], "second running")
    assert requests.post(f"{fake_comfyui.url}/api/interrupt").status_code == 200  # global
    assert history(fake_comfyui, second)["status"]["messages"][-1][0] == "execution_interrupted"


def test_queue_listing_priority_and_deletion(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(duration=60))
    running = queued(fake_comfyui, text_graph("a"))
    later = [queued(fake_comfyui, text_graph(t)) for t in ("b", "c", "d")]
    urgent = submit(fake_comfyui, text_graph("e"), front=True).json()
    assert urgent["number"] == -4
    wait_for(lambda: running_ids(fake_comfyui) == [running], "running")
    queue = get(fake_comfyui, "/queue")
    assert [len(item) for item in queue["queue_pending"]] == [5] * 4
    assert [item[1] for item in queue["queue_pending"]] == [urgent["prompt_id"], *later]
    assert get(fake_comfyui, "/prompt")["exec_info"]["queue_remaining"] == 5
    url = f"{fake_comfyui.url}/queue"
    deleted = requests.post(url, json={"delete": [later[0], "unknown", running]})
    assert deleted.status_code == 200 and deleted.content == b""
    assert [item[1] for item in get(fake_comfyui, "/queue")["queue_pending"]] == [
        urgent["prompt_id"],
        *later[1:],
    ]
    assert fake_comfyui.prompts[later[0]].status == "deleted"
    requests.post(url, json={"clear": True})
    assert get(fake_comfyui, "/queue")["queue_pending"] == []
    requests.post(f"{fake_comfyui.url}/interrupt")
    history(fake_comfyui, running)
    assert get(fake_comfyui, f"/history/{later[0]}") == {}
    assert set(get(fake_comfyui, "/history")) == {running}


@pytest.mark.fake_comfyui(workers=2)
def test_workers_run_prompts_in_parallel(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(duration=60))
    fake_comfyui.script(Script(duration=60))
    ids = {queued(fake_comfyui, text_graph(t)) for t in ("a", "b")}
    wait_for(lambda: set(running_ids(fake_comfyui)) == ids, "both running")
    requests.post(f"{fake_comfyui.url}/interrupt")
    for prompt_id in ids:
        assert history(fake_comfyui, prompt_id)["status"]["status_str"] == "error"


def test_vanish_script(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(vanish=True))
    prompt_id = queued(fake_comfyui, text_graph())
    wait_for(lambda: fake_comfyui.prompts[prompt_id].status == "lost", "lost")
    assert get(fake_comfyui, "/queue") == {"queue_running": [], "queue_pending": []}
    assert get(fake_comfyui, f"/history/{prompt_id}") == {}


def test_forget_all_simulates_a_restart(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    done = queued(fake_comfyui, text_graph("done"))
    history(fake_comfyui, done)
    fake_comfyui.script(Script(duration=60))
    running = queued(fake_comfyui, text_graph("running"), client_id="client-1")
    pending = queued(fake_comfyui, text_graph("pending"))
    wait_for(lambda: running_ids(fake_comfyui) == [running], "running")
    fake_comfyui.forget_all()
    assert get(fake_comfyui, "/queue") == {"queue_running": [], "queue_pending": []}
    assert get(fake_comfyui, "/history") == {}
    assert fake_comfyui.prompts[running].status == "lost"
    assert fake_comfyui.prompts[pending].status == "lost"
    with pytest.raises(websocket.WebSocketException):
        socket.until_final(running)
    assert submit(fake_comfyui, text_graph()).json()["number"] == 0


def test_delay_final_and_dropped_socket(fake_comfyui: FakeComfyUI, socket: Socket) -> None:
    fake_comfyui.script(Script(delay_final=0.5))
    prompt_id = queued(fake_comfyui, text_graph(), client_id="client-1")
    socket.until(lambda m: m["type"] == "execution_success")
    history(fake_comfyui, prompt_id)
    socket.until(lambda m: m["type"] == "status")
    socket.ws.settimeout(0.05)
    with pytest.raises(websocket.WebSocketTimeoutException):
        socket.recv()
    socket.ws.settimeout(TIMEOUT)
    assert socket.until_final(prompt_id)[-1]["data"]["node"] is None

    fake_comfyui.script(Script(duration=0.5, drop_socket_after=0.05))
    prompt_id = queued(fake_comfyui, image_graph(), client_id="client-1")
    with pytest.raises(websocket.WebSocketException):
        socket.until_final(prompt_id)
    assert history(fake_comfyui, prompt_id)["status"]["status_str"] == "success"


def test_scripts_match_and_replace_outputs(fake_comfyui: FakeComfyUI) -> None:
    custom = {"images": [{"filename": "custom.png", "subfolder": "x", "type": "output"}]}
    fake_comfyui.script(Script(outputs={9: custom}), match=lambda graph: "9" in graph)
    plain = queued(fake_comfyui, text_graph())
    assert history(fake_comfyui, plain)["outputs"] == {"2": {"text": ["hello"]}}
    scripted = queued(fake_comfyui, image_graph())
    assert history(fake_comfyui, scripted)["outputs"]["9"] == custom


def test_submit_status_and_prompt_id_reuse(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.script(Script(submit_status=500))
    prompt_id = str(uuid.uuid4())
    assert submit(fake_comfyui, text_graph(), prompt_id=prompt_id).status_code == 500
    assert get(fake_comfyui, "/prompt")["exec_info"]["queue_remaining"] == 0
    assert fake_comfyui.prompts[prompt_id].status == "rejected"
    assert queued(fake_comfyui, text_graph("one"), prompt_id=prompt_id) == prompt_id
    history(fake_comfyui, prompt_id)
    queued(fake_comfyui, text_graph("two"), prompt_id=prompt_id)
    wait_for(
        lambda: history(fake_comfyui, prompt_id)["outputs"]["2"] == {"text": ["two"]}, "overwrite"
    )
    assert fake_comfyui.prompts[prompt_id].submit_count == 3
    assert fake_comfyui.prompts[prompt_id].finished_at is not None


def test_fail_requests_and_request_log(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.fail_requests("/prompt", status=503, times=2)
    assert submit(fake_comfyui, text_graph()).status_code == 503
    api = requests.post(f"{fake_comfyui.url}/api/prompt", json={"prompt": text_graph()})
    assert api.status_code == 503
    assert submit(fake_comfyui, text_graph()).status_code == 200
    fake_comfyui.fail_requests("/history/abc", status=429, body={"error": "slow down"})
    limited = requests.get(f"{fake_comfyui.url}/history/abc")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json() == {"error": "slow down"}
    assert requests.get(f"{fake_comfyui.url}/history/abc").json() == {}
    requests.get(f"{fake_comfyui.url}/queue", headers={"Authorization": "Bearer t0k"})
    sock = Socket(fake_comfyui, "audited", header=["Authorization: Bearer ws-t0k"])
    sock.close()
    log = fake_comfyui.requests
    assert any(r.path == "/queue" and r.headers["Authorization"] == "Bearer t0k" for r in log)
    handshake = next(r for r in log if r.path == "/ws")
    assert handshake.query == {"clientId": "audited"}
    assert handshake.headers["Authorization"] == "Bearer ws-t0k"


def test_freeze_accepts_connections_and_answers_nothing_until_resumed(
    fake_comfyui: FakeComfyUI,
) -> None:
    import socket as sockets

    ws = Socket(fake_comfyui, "frozen-client")
    assert ws.recv()["type"] == "status"
    fake_comfyui.freeze()
    try:
        with sockets.create_connection(("127.0.0.1", fake_comfyui.port), timeout=TIMEOUT) as conn:
            conn.sendall(b"GET /queue HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            conn.settimeout(0.5)
            with pytest.raises(TimeoutError):  # connected, but no answer while frozen
                conn.recv(1024)
            ws.ws.ping(b"anyone?")
            ws.ws.settimeout(0.5)
            with pytest.raises(websocket.WebSocketTimeoutException):  # silent: not even a pong
                ws.ws.recv_data_frame(control_frame=True)
            fake_comfyui.freeze()  # freezing a frozen server does nothing
        with pytest.raises(requests.Timeout):
            requests.get(f"{fake_comfyui.url}/queue", timeout=(TIMEOUT, 0.5))
    finally:
        fake_comfyui.resume()
    ws.ws.settimeout(TIMEOUT)
    opcode, frame = ws.ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_PONG and frame.data == b"anyone?"
    assert get(fake_comfyui, "/queue") == {"queue_running": [], "queue_pending": []}
    ws.close()


def test_freeze_for_some_seconds_resumes_by_itself(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.freeze(seconds=0.2)
    assert get(fake_comfyui, "/queue")["queue_pending"] == []  # answered once it resumed
    with fake_comfyui.frozen():
        with pytest.raises(requests.Timeout):
            requests.get(f"{fake_comfyui.url}/queue", timeout=(TIMEOUT, 0.3))
    assert get(fake_comfyui, "/queue")["queue_running"] == []


def test_origin_check(fake_comfyui: FakeComfyUI) -> None:
    foreign = requests.get(f"{fake_comfyui.url}/queue", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    same = requests.get(f"{fake_comfyui.url}/queue", headers={"Origin": fake_comfyui.url})
    assert same.status_code == 200


# ------------------------------------------------------------------ history endpoints


def test_history_paging_and_deletion(fake_comfyui: FakeComfyUI) -> None:
    ids = [queued(fake_comfyui, text_graph(t)) for t in ("a", "b", "c")]
    history(fake_comfyui, ids[-1])
    assert list(get(fake_comfyui, "/history")) == ids
    assert list(get(fake_comfyui, "/history", max_items=2)) == ids[1:]
    assert list(get(fake_comfyui, "/history", max_items=1, offset=0)) == ids[:1]
    url = f"{fake_comfyui.url}/history"
    assert requests.post(url, json={"delete": [ids[0]]}).status_code == 200
    assert list(get(fake_comfyui, "/history")) == ids[1:]
    requests.post(url, json={"clear": True})
    assert get(fake_comfyui, "/history") == {}
    assert get(fake_comfyui, "/history/never-seen") == {}


# ------------------------------------------------------------------ uploads and downloads


def test_upload_naming_rules(fake_comfyui: FakeComfyUI) -> None:
    first = upload(fake_comfyui, "cat.png", b"one").json()
    assert first == {"name": "cat.png", "subfolder": "", "type": "input"}
    assert upload(fake_comfyui, "cat.png", b"one").json()["name"] == "cat.png"  # same content
    assert upload(fake_comfyui, "cat.png", b"two").json()["name"] == "cat (1).png"
    assert upload(fake_comfyui, "cat.png", b"three").json()["name"] == "cat (2).png"
    assert upload(fake_comfyui, "cat.png", b"two").json()["name"] == "cat (1).png"  # reused
    overwritten = upload(fake_comfyui, "cat.png", b"four", overwrite="true").json()
    assert overwritten["name"] == "cat.png"
    assert (fake_comfyui.input_dir / "cat.png").read_bytes() == b"four"
    nested = upload(fake_comfyui, "dog.png", b"x", subfolder="sdk/run", type="temp").json()
    assert nested == {"name": "dog.png", "subfolder": "sdk/run", "type": "temp"}
    assert (fake_comfyui.temp_dir / "sdk" / "run" / "dog.png").read_bytes() == b"x"


def test_upload_rejections(fake_comfyui: FakeComfyUI) -> None:
    assert upload(fake_comfyui, "x.png", b"x", subfolder="../..").status_code == 400
    assert upload(fake_comfyui, "../x.png", b"x").status_code == 400
    assert upload(fake_comfyui, "x.png", b"x", type="models").status_code == 500
    missing = requests.post(f"{fake_comfyui.url}/upload/image", data={"subfolder": "a"})
    assert missing.status_code == 400
    wrong_field = requests.post(f"{fake_comfyui.url}/upload/image", files={"file": ("x.png", b"x")})
    assert wrong_field.status_code == 400


@pytest.mark.fake_comfyui(max_upload_size=1024)
def test_upload_too_large(fake_comfyui: FakeComfyUI) -> None:
    assert upload(fake_comfyui, "big.png", b"x" * 4096).status_code == 413
    assert upload(fake_comfyui, "small.png", b"x" * 100).status_code == 200
    assert {p.name for p in fake_comfyui.input_dir.iterdir()} == {"example.png", "small.png"}


def test_uploaded_files_pass_loader_validation(fake_comfyui: FakeComfyUI) -> None:
    upload(fake_comfyui, "in sub.png", b"x", subfolder="sdk")
    upload(fake_comfyui, "tmp.png", b"y", type="temp")
    for value in ("example.png", "sdk/in sub.png", "tmp.png [temp]"):
        graph = {"1": node("LoadImage", image=value), "2": node("PreviewImage", images=["1", 0])}
        assert submit(fake_comfyui, graph).status_code == 200, value
    graph["1"]["inputs"]["image"] = "tmp.png"  # un-annotated names resolve against input
    assert submit(fake_comfyui, graph).status_code == 400


def test_view(fake_comfyui: FakeComfyUI) -> None:
    name, subfolder = "a b&c#d+é.png", "sub dir"
    folder = fake_comfyui.output_dir / subfolder
    folder.mkdir()
    (folder / name).write_bytes(bytes(range(100)))
    query = urllib.parse.urlencode({"filename": name, "subfolder": subfolder, "type": "output"})
    response = requests.get(f"{fake_comfyui.url}/view?{query}")
    assert response.status_code == 200 and response.content == bytes(range(100))
    assert response.headers["Content-Type"] == "image/png"
    disposition = response.headers["Content-Disposition"].encode("latin-1").decode()
    assert disposition == f'filename="{name}"'
    ranged = requests.get(f"{fake_comfyui.url}/api/view?{query}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == bytes(range(10, 20))
    annotated = requests.get(f"{fake_comfyui.url}/view", params={"filename": "example.png [input]"})
    assert annotated.status_code == 200 and annotated.content[:4] == b"\x89PNG"

    def status(**params: str) -> int:
        return requests.get(f"{fake_comfyui.url}/view", params=params).status_code

    assert status(filename="../secret.png") == 400
    assert status(filename="/etc/passwd") == 400
    assert status(filename="example.png", type="models") == 400
    assert status(filename="example.png", type="input", subfolder="../../..") == 403
    assert status(filename="missing.png") == 404
    assert status() == 404


# ------------------------------------------------------------------ control API and CLI


def test_control_endpoints(fake_comfyui: FakeComfyUI) -> None:
    base = fake_comfyui.url
    assert requests.post(f"{base}/_fake/config", json={"duration": 0.01}).json() == {
        "duration": 0.01
    }
    assert fake_comfyui.duration == 0.01
    assert requests.post(f"{base}/_fake/config", json={"speed": 1}).status_code == 400
    assert requests.post(f"{base}/_fake/script", json={"bogus": 1}).status_code == 400
    assert requests.post(f"{base}/_fake/script", json={"error_node": "2"}).status_code == 200
    prompt_id = queued(fake_comfyui, text_graph())
    assert history(fake_comfyui, prompt_id)["status"]["status_str"] == "error"
    record = requests.get(f"{base}/_fake/prompts/{prompt_id}").json()
    assert record["status"] == "error" and record["submit_count"] == 1
    assert record["finished_at"] >= record["started_at"] >= record["submitted_at"]
    assert "graph" not in record
    assert requests.get(f"{base}/_fake/prompts/unknown").status_code == 404
    assert requests.post(f"{base}/_fake/forget").status_code == 200
    assert get(fake_comfyui, "/history") == {}


def test_lifecycle() -> None:
    server = FakeComfyUI()
    root = server.input_dir.parent
    with server:
        assert server.url.startswith("http://127.0.0.1:") and server.ws_url.endswith("/ws")
        assert (server.input_dir / "example.png").is_file()
        with FakeComfyUI() as other:
            assert other.port != server.port
    server.stop()
    assert not root.exists()
    with pytest.raises(RuntimeError):
        server.start()


def test_url_fixture(fake_comfyui: FakeComfyUI, fake_comfyui_url: str) -> None:
    assert fake_comfyui_url == fake_comfyui.url
    assert requests.get(f"{fake_comfyui_url}/system_stats", timeout=TIMEOUT).ok


def test_pytest_plugin_does_not_import_aiohttp() -> None:
    code = (
        "import sys, comfykit_sync.testing.pytest_plugin, comfykit_sync.testing as t;"
        "assert t.Script and 'aiohttp' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT)


def test_python_m_entry_point() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "comfykit_sync.testing.fake_comfyui", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        stats = requests.get(f"{url}/system_stats", timeout=TIMEOUT).json()
        assert stats["system"]["comfyui_version"] == "0.3.64"
    finally:
        process.terminate()
        assert process.wait(timeout=TIMEOUT) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_save_counter_follows_the_folder_like_comfyui(tmp_path: Path) -> None:
    """The next counter is one past the highest on disk, also after files change behind us."""
    folders = Folders(tmp_path)

    def save(prefix: str) -> str:
        folder, name, counter, _ = folders.save_path(prefix, folders.output)
        return folders.write(folder, name, counter, "_.png", b"x")

    assert [save("fox") for _ in range(3)] == [f"fox_0000{i}_.png" for i in (1, 2, 3)]
    (folders.output / "fox_00041_.png").write_bytes(b"added by someone else")
    assert save("fox") == "fox_00042_.png"
    assert save("owl") == "owl_00001_.png"
    assert save("fox") == "fox_00043_.png"
    for path in folders.output.iterdir():
        path.unlink()
    assert save("fox") == "fox_00001_.png"
