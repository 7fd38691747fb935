"""The values that flow along the fake's links, and ComfyUI's pixel arithmetic on them.

A :class:`Blob` stands in for a tensor, model or media object. An image is a blob of solid
frames: each frame one colour, stored as ComfyUI holds pixels (float32 in [0, 1]), so that
the bytes written for it are the ones a real server writes -- including float32's rounding
(``1.0 - 65/255`` is saved as 189, not 190). :class:`Audio` is silence of some length.
"""

from __future__ import annotations

import hashlib
import math
import struct

import attrs

from ._media import RGB

Pixel = tuple[float, float, float]


def f32(value: float) -> float:
    """``value`` rounded to float32, as a torch or numpy float32 operation stores it."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


def pixel(rgb: RGB) -> Pixel:
    """An 8-bit colour as ComfyUI loads it (``np.array(img).astype(np.float32) / 255.0``)."""
    red, green, blue = rgb
    return f32(red / 255), f32(green / 255), f32(blue / 255)


def colour(value: Pixel) -> RGB:
    """The 8-bit colour a save node writes: ``np.clip(255. * x, 0, 255).astype(np.uint8)``,
    computed in float32 and truncated."""
    red, green, blue = (min(255, max(0, math.trunc(f32(255.0 * c)))) for c in value)
    return red, green, blue


def inverted(value: Pixel) -> Pixel:
    """``1.0 - image`` (ImageInvert), in float32."""
    red, green, blue = value
    return f32(1.0 - red), f32(1.0 - green), f32(1.0 - blue)


def colour_int(value: int) -> Pixel:
    """EmptyImage's ``color`` input (``0xRRGGBB``) as its pixel."""
    return pixel(((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


@attrs.frozen
class Blob:
    """Stand-in for a tensor, model or media object passed along a link.

    ``pixels`` holds an image's frames (one solid colour each) once a node gave it colours;
    until then :meth:`frame_pixels` derives them from ``digest``.
    """

    type: str
    digest: str
    width: int = 512
    height: int = 512
    frames: int = 1
    pixels: tuple[Pixel, ...] | None = None

    def __str__(self) -> str:
        return f"<{self.type} {self.width}x{self.height}x{self.frames} {self.digest[:8]}>"

    def frame_pixels(self) -> tuple[Pixel, ...]:
        """The colour of every frame (at least one)."""
        if self.pixels is not None:
            return self.pixels
        return tuple(pixel(_derived(self.digest, i)) for i in range(max(1, self.frames)))


def _derived(digest: str, index: int) -> RGB:
    raw = hashlib.sha256(f"{digest}/{index}".encode()).digest()
    return raw[0], raw[1], raw[2]


@attrs.frozen
class Audio:
    """An AUDIO value: ``samples`` frames of silence on ``channels`` channels."""

    sample_rate: int = 44100
    channels: int = 2
    samples: int = 0

    def __str__(self) -> str:
        return f"<AUDIO {self.channels}ch {self.samples} samples @ {self.sample_rate} Hz>"
