"""Claiming rules and every error outcome of spec §15.2."""

from __future__ import annotations

import json
from pathlib import Path

import embedded_builders as b
import pytest
from comfykit_sync_embedded import EmbeddedWorkflowError
from comfykit_sync_embedded.loader import comfykit_load_workflow

from comfykit_sync import Config, WorkflowLoadError


def load(path: object):
    return comfykit_load_workflow(path, Config())


def fails(tmp_path: Path, name: str, data: bytes, reason: str) -> EmbeddedWorkflowError:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(EmbeddedWorkflowError) as info:
        load(path)
    err = info.value
    assert isinstance(err, WorkflowLoadError)
    assert err.reason == reason and err.path == str(path)
    assert str(path) in str(err)
    assert len(str(err)) < 2000  # never dumps the JSON
    return err


@pytest.mark.parametrize(
    "source",
    [
        "workflow.json",
        "missing.png",
        42,
        {"1": {}},
        "https://example.com/a.png",
        "a cat",
    ],
)
def test_not_claimed(tmp_path: Path, source: object, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workflow.json").write_text(json.dumps(b.PROMPT))
    assert load(source) is None


def test_json_and_jpeg_and_unknown_files_not_claimed(tmp_path: Path) -> None:
    for name, data in [
        ("a.json", b.png([b.text("prompt", b.PJ)])),
        ("a.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 20),
        ("a.txt", b"hello"),
        ("a.wav", b"RIFF\0\0\0\0WAVEfmt "),
    ]:
        (tmp_path / name).write_bytes(data)
        assert load(tmp_path / name) is None, name


def test_directory_not_claimed(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    assert load(tmp_path / "dir.png") is None


def test_ui_only_is_handed_on_for_conversion(tmp_path: Path) -> None:
    """Only the editor's workflow: the kit converts it (see test_embedded_end_to_end)."""
    for name, data in (
        ("ui.png", b.png([b.text("workflow", b.UJ)])),
        ("ui.webp", b.webp(b.tiff([(0x010F, "workflow:" + b.UJ)]))),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        workflow = load(path)
        assert workflow.graph == b.UI and workflow.source == str(path)


def test_prompt_wins_over_the_ui_workflow(tmp_path: Path) -> None:
    path = tmp_path / "both.png"
    path.write_bytes(b.png([b.text("workflow", b.UJ), b.text("prompt", b.PJ)]))
    assert load(path).graph == b.PROMPT


def test_no_metadata(tmp_path: Path) -> None:
    err = fails(tmp_path, "plain.png", b.png(), "no_metadata")
    assert "--disable-metadata" in str(err) and "none" in str(err)


def test_a1111_parameters(tmp_path: Path) -> None:
    err = fails(
        tmp_path, "sd.png", b.png([b.text("parameters", "a cat, Steps: 20")]), "no_metadata"
    )
    assert "A1111" in str(err) and "'parameters'" in str(err)


def test_empty_webp_exif(tmp_path: Path) -> None:
    err = fails(tmp_path, "empty.webp", b.webp(b.tiff([])), "no_metadata")
    assert "empty EXIF" in str(err)


@pytest.mark.parametrize(
    "name,data",
    [
        ("none.flac", b.flac(["encoder=Lavf"])),
        ("none.mp3", b"\xff\xfb\x90\x00" + b"\0" * 100),
        ("none.mp4", b.mp4([("encoder", "Lavf")])),
        ("none.opus", b.opus(["encoder=Lavf"])),
        ("none.latent", b.safetensors({})),
        ("none.glb", b.glb({})),
    ],
)
def test_no_metadata_other_formats(tmp_path: Path, name: str, data: bytes) -> None:
    fails(tmp_path, name, data, "no_metadata")


def test_malformed_prompt_json(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "bad.png",
        b.png([b.text("prompt", '{"1": {'), b.text("workflow", b.UJ)]),
        "malformed",
    )
    assert "PNG tEXt 'prompt'" in str(err) and "not valid JSON" in str(err)
    assert "char" in str(err)  # the JSON error position


def test_prompt_with_ui_shape(tmp_path: Path) -> None:
    err = fails(tmp_path, "swap.png", b.png([b.text("prompt", b.UJ)]), "malformed")
    assert "UI-format" in str(err)


def test_prompt_not_api_shape(tmp_path: Path) -> None:
    fails(tmp_path, "list.png", b.png([b.text("prompt", "[1, 2]")]), "malformed")


def test_truncated(tmp_path: Path) -> None:
    data = b.png([b.text("prompt", b.PJ)])
    err = fails(tmp_path, "cut.png", data[: 33 + 40], "corrupt")
    assert "byte offset 33" in str(err) and "truncated" in str(err)


def test_bad_crc(tmp_path: Path) -> None:
    data = bytearray(b.png([b.text("prompt", b.PJ)]))
    data[33 + 20] ^= 0xFF
    assert "bad CRC" in str(fails(tmp_path, "crc.png", bytes(data), "corrupt"))


def test_wrong_magic(tmp_path: Path) -> None:
    err = fails(tmp_path, "fake.png", b"\xff\xd8\xff\xe0JFIF" + b"\0" * 30, "wrong_magic")
    assert "JPEG" in str(err)
    fails(tmp_path, "empty.webp", b"", "wrong_magic")


def test_value_over_cap(tmp_path: Path) -> None:
    big = {"1": {"class_type": "Note", "inputs": {"text": "y" * 200_000}}}
    path = tmp_path / "big.png"
    path.write_bytes(b.png([b.ztxt("prompt", json.dumps(big))]))
    with pytest.raises(EmbeddedWorkflowError) as info:
        comfykit_load_workflow(path, Config(max_workflow_bytes=100_000))
    assert info.value.reason == "too_large"


def test_id3_unsynchronisation_refused(tmp_path: Path) -> None:
    data = bytearray(b.mp3("prompt", b.PJ))
    data[5] = 0x80
    fails(tmp_path, "unsync.mp3", bytes(data), "unsupported")


def test_deeply_nested_json(tmp_path: Path) -> None:
    fails(tmp_path, "deep.png", b.png([b.text("prompt", "[" * 100_000)]), "malformed")
