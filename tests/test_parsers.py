"""Output classification through the ``comfykit_parse_output`` hook."""

from __future__ import annotations

import pytest

from comfykit_sync.models import Artifact, ExecuteResult, OutputItem
from comfykit_sync.plugins import make_plugin_manager


@pytest.fixture(scope="module")
def parse():
    hook = make_plugin_manager(autoload=False).hook.comfykit_parse_output

    def parse(key, value, node_output=None, var="v"):
        item = OutputItem(
            node_id="9",
            key=key,
            value=value,
            var=var,
            node_output=node_output or {key: [value]},
            url="u",
        )
        return hook(output=item, config=None)

    return parse


def rec(name, **extra):
    return {"filename": name, "subfolder": "", "type": "output", **extra}


@pytest.mark.parametrize(
    "key,name,kind",
    [
        ("images", "a.png", "image"),
        ("images", "a.JPG", "image"),
        ("images", "clip.mp4", "video"),  # SaveVideo reports videos under images
        ("images", "clip.webm", "video"),
        ("gifs", "anim.gif", "video"),  # VHS
        ("audio", "voice.flac", "audio"),
        ("audio", "voice.opus", "audio"),
        ("3d", "mesh.glb", "model3d"),
        ("images", "logo.svg", "image"),
        ("images", "x.tif", "image"),
        ("images", "film.mkv", "video"),
        ("latents", "x.latent", "file"),  # unknown types are kept, never dropped
        ("whatever", "a.png", "image"),  # any key
    ],
)
def test_files_classified_by_extension(parse, key, name, kind):
    artifact = parse(key, rec(name))
    assert artifact.kind == kind and artifact.filename == name and artifact.url == "u"


def test_vhs_format_decides_unknown_extensions(parse):
    assert parse("gifs", rec("out.bin", format="video/h264-mp4")).kind == "video"


def test_animated_webp_stays_an_image(parse):
    artifact = parse("images", rec("a.webp"), {"images": [rec("a.webp")], "animated": [True]})
    assert artifact.kind == "image" and artifact.animated


@pytest.mark.parametrize("value,text", [("hello", "hello"), (42, "42"), (["a"], "['a']")])
def test_texts_are_strings(parse, value, text):
    artifact = parse("text", value)
    assert artifact.kind == "text" and artifact.text == text


def test_non_file_items_of_other_keys_are_unclaimed(parse):
    assert parse("result", ["mesh.glb", {"camera": 1}]) is None
    assert parse("result", {"camera": 1}) is None


def test_result_groups_by_var_without_overwriting():
    arts = (
        Artifact(kind="image", var="cover", node_id="9", url="a"),
        Artifact(kind="image", var="cover", node_id="12", url="b"),
        Artifact(kind="video", var="clip", node_id="15", url="c"),
        Artifact(kind="text", var="caption", node_id="3", text="t"),
    )
    result = ExecuteResult(status="completed", artifacts=arts)
    assert result.images_by_var == {"cover": ["a", "b"]}
    assert result.images == ["a", "b"]
    assert result.videos == ["c"] and result.videos_by_var == {"clip": ["c"]}
    assert result.texts == ["t"] and result.texts_by_var == {"caption": ["t"]}
    assert result.audios == [] and result.audios_by_var == {}
    assert result.raise_for_status() is result
