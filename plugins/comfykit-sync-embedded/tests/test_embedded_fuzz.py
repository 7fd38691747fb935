"""Random and mutated bytes never raise anything but a clear ``EmbeddedWorkflowError``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import embedded_builders as b
from comfykit_sync_embedded import EmbeddedWorkflowError
from comfykit_sync_embedded.loader import comfykit_load_workflow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfykit_sync import Config

SEEDS = {
    ".png": b.png([b.text("prompt", b.PJ), b.ztxt("workflow", b.UJ)], [b.itxt("x", "y", True)]),
    ".webp": b.webp(b.tiff([(0x0110, "prompt:" + b.PJ)])),
    ".flac": b.flac(["prompt=" + b.PJ]),
    ".mp3": b.mp3("prompt", b.PJ),
    ".opus": b.opus(["prompt=" + b.PJ]),
    ".mp4": b.mp4([("prompt", b.PJ)]),
    ".webm": b.webm([("PROMPT", b.PJ)]),
    ".glb": b.glb({"prompt": b.PJ}),
    ".latent": b.safetensors({"prompt": b.PJ}),
    ".svg": b.svg({"prompt": b.PROMPT}),
}


def _check(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        try:
            comfykit_load_workflow(path, Config(max_workflow_bytes=1 << 20))
        except EmbeddedWorkflowError as exc:
            assert str(path) in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suffix=st.sampled_from(sorted(SEEDS)), data=st.data())
def test_mutated_files(suffix: str, data: st.DataObject) -> None:
    raw = bytearray(SEEDS[suffix])
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _check(suffix, bytes(raw[:cut] if data.draw(st.booleans()) else raw))


@settings(max_examples=200, deadline=None)
@given(
    suffix=st.sampled_from(sorted(SEEDS)),
    head=st.sampled_from(list(SEEDS.values())),
    tail=st.binary(max_size=200),
)
def test_random_tails(suffix: str, head: bytes, tail: bytes) -> None:
    _check(suffix, head[:40] + tail)
