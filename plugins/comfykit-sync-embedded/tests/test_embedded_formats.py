"""Each container the spec covers, with fixtures built by the tests themselves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import embedded_builders as b
import pytest
from comfykit_sync_embedded.loader import comfykit_load_workflow

from comfykit_sync import Config, Workflow


def load(path: Path | str) -> Workflow | None:
    return comfykit_load_workflow(path, Config())


@pytest.fixture
def write(tmp_path: Path):
    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


CASES = {
    "png_text.png": b.png([b.text("prompt", b.PJ)]),
    "png_both.png": b.png([b.text("prompt", b.PJ), b.text("workflow", b.UJ)]),
    "png_ztxt.png": b.png([b.ztxt("prompt", b.PJ)]),
    "png_itxt.png": b.png([b.itxt("prompt", json.dumps(b.PROMPT, ensure_ascii=False))]),
    "png_itxt_z.png": b.png([b.itxt("prompt", b.PJ, compressed=True)]),
    "png_after_idat.png": b.png(after=[b.text("prompt", b.PJ)]),
    "apng_comf.png": b.png(
        after=[b.text("prompt", b.PJ, b"comf"), b.text("workflow", b.UJ, b"comf")]
    ),
    "anim.webp": b.webp(b.tiff([(0x0110, "prompt:" + b.PJ), (0x010F, "workflow:" + b.UJ)])),
    "single.webp": b.webp(b.tiff([(0x0110, "prompt:" + b.PJ)]), prefix=False),
    "le.webp": b.webp(b.tiff([(0x0123, "prompt:" + b.PJ)], "<")),
    "audio.flac": b.flac(["encoder=Lavf", "prompt=" + b.PJ]),
    "audio_v24.mp3": b.mp3("prompt", b.PJ),
    "audio_v23.mp3": b.mp3("prompt", b.PJ, version=3),
    "audio_utf16.mp3": b.mp3("prompt", b.PJ, encoding=1),
    "audio.opus": b.opus(["prompt=" + b.PJ, "encoder=Lavf"]),
    "video.mp4": b.mp4([("workflow", b.UJ), ("prompt", b.PJ), ("encoder", "Lavf")]),
    "video_upper.mp4": b.mp4([("PROMPT", b.PJ)]),
    "video.webm": b.webm([("PROMPT", b.PJ), ("ENCODER", "Lavf")]),
    "image.svg": b.svg({"prompt": b.PROMPT, "workflow": b.UI}),
    "mesh.glb": b.glb({"prompt": b.PJ, "workflow": b.UJ}),
    "x.latent": b.safetensors({"prompt": b.PJ}),
    "double.png": b.png([b.text("prompt", json.dumps(b.PJ))]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_format_yields_the_api_graph(write, name: str) -> None:
    path = write(name, CASES[name])
    workflow = load(path)
    assert isinstance(workflow, Workflow)
    assert workflow.graph == b.PROMPT
    assert workflow.source == str(path)
    assert load(str(path)).graph == b.PROMPT  # str paths too


def test_opus_packet_spanning_pages(write) -> None:
    big = dict(b.PROMPT, **{"3": {"class_type": "KSampler", "inputs": {"text": "x" * 200_000}}})
    path = write("big.opus", b.opus(["prompt=" + json.dumps(big)]))
    assert load(path).graph["3"]["inputs"]["text"] == "x" * 200_000


def test_large_ztxt_value(write) -> None:
    big = {"1": {"class_type": "Note", "inputs": {"text": "y" * 5_000_000}}}
    path = write("big.png", b.png([b.ztxt("prompt", json.dumps(big))]))
    assert load(path).graph == big


def test_nan_values_are_accepted(write) -> None:
    text = b.PJ.replace('"steps": 20', '"steps": NaN')
    graph = load(write("nan.png", b.png([b.text("prompt", text)]))).graph
    assert math.isnan(graph["3"]["inputs"]["steps"])


def test_last_text_chunk_wins(write) -> None:
    other = {"1": {"class_type": "Other", "inputs": {}}}
    path = write("two.png", b.png([b.text("prompt", b.PJ), b.text("prompt", json.dumps(other))]))
    assert load(path).graph == other


def test_mp4_metadata_after_mdat_with_64bit_box(write) -> None:
    data = b.mp4([("prompt", b.PJ)])
    # re-encode the mdat box (second box) with a 64-bit size
    ftyp_len = int.from_bytes(data[:4], "big")
    mdat_len = int.from_bytes(data[ftyp_len : ftyp_len + 4], "big")
    mdat = data[ftyp_len : ftyp_len + mdat_len]
    big = b"\0\0\0\1mdat" + (mdat_len + 8).to_bytes(8, "big") + mdat[8:]
    path = write("v64.mp4", data[:ftyp_len] + big + data[ftyp_len + mdat_len :])
    assert load(path).graph == b.PROMPT


def test_webm_tags_found_through_seekhead(write) -> None:
    tags = b.webm([("PROMPT", b.PJ)])
    tags_el = tags[tags.index(bytes.fromhex("1254C367")) :]
    seek = lambda pos: b.element(  # noqa: E731
        0x114D9B74,
        b.element(
            0x4DBB,
            b.element(0x53AB, bytes.fromhex("1254C367"))
            + b.element(0x53AC, pos.to_bytes(8, "big")),
        ),
    )
    cluster = bytes.fromhex("1F43B675") + b"\x01\xff\xff\xff\xff\xff\xff\xff" + b"\0" * 64
    head = seek(0)
    body = seek(len(head) + len(cluster)) + cluster + tags_el
    segment = bytes.fromhex("18538067") + b"\x01\xff\xff\xff\xff\xff\xff\xff" + body
    data = b.element(0x1A45DFA3, b.element(0x4282, b"webm")) + segment
    assert load(write("seek.webm", data)).graph == b.PROMPT
