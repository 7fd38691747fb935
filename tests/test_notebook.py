"""Jupyter rendering and the short plain repr of ``ExecuteResult``."""

from __future__ import annotations

import pytest
from helpers import T2I

from comfykit_sync import ComfyKit
from comfykit_sync.models import Artifact, ExecuteResult
from comfykit_sync.testing import Script


def test_repr_of_a_real_run_is_short_and_has_no_secrets(fake_comfyui):
    with ComfyKit(fake_comfyui.url, api_key="sk-secret", cookies={"sid": "c00kie"}) as kit:
        result = kit.execute(T2I, {"prompt": "a fox"})
    text = repr(result)
    assert text.startswith(f"ExecuteResult(completed, prompt_id={result.prompt_id!r}, duration=")
    assert "1 image" in text and "1 text" in text and len(text) < 200
    assert "http" not in text  # no URLs either
    for secret in ("sk-secret", "c00kie"):
        assert secret not in text and secret not in result._repr_html_()
    assert str(result) == text


def test_repr_of_a_failure_truncates_the_message():
    result = ExecuteResult("failed", prompt_id="p1", msg="boom " * 100)
    text = repr(result)
    assert text.startswith("ExecuteResult(failed, prompt_id='p1', msg='boom") and len(text) < 200


def test_html_shows_media_and_escapes_texts(fake_comfyui):
    fake_comfyui.script(Script(outputs={"10": {"text": ["<script>alert('x')</script> & co"]}}))
    with ComfyKit(fake_comfyui.url) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    html = result._repr_html_()
    assert f'<img src="{result.images[0].replace("&", "&amp;")}"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)" in html
    assert "&amp; co" in html and "completed" in html


@pytest.mark.parametrize(
    ("kind", "filename", "tag"),
    [
        ("image", "a.png", "<img "),
        ("video", "a.mp4", "<video "),
        ("video", "a.gif", "<img "),
        ("audio", "a.flac", "<audio "),
        ("file", "a.glb", "<a href="),
    ],
)
def test_html_tag_per_kind(kind, filename, tag):
    url = f"http://h/view?filename={filename}&x=1"
    art = Artifact(kind, "out", "1", url=url, filename=filename)
    html = ExecuteResult("completed", artifacts=(art,))._repr_html_()
    assert tag in html
    assert ("controls" in html) == (tag in ("<video ", "<audio "))
    assert "filename=" + filename + "&amp;x=1" in html


def test_html_escapes_hostile_values_and_ignores_non_http_urls():
    arts = (
        Artifact("image", '"><b>', "1", url='http://h/"onerror="x', filename="<i>.png"),
        Artifact("image", "js", "2", url="javascript:alert(1)", filename="j.png"),
    )
    result = ExecuteResult("failed", prompt_id="<p>", msg="<bad> & worse", artifacts=arts)
    html = result._repr_html_()
    assert "<b>" not in html and "<i>" not in html and "<p>" not in html and "<bad>" not in html
    assert '"onerror="' not in html and "javascript:" not in html
    assert "&lt;bad&gt; &amp; worse" in html
