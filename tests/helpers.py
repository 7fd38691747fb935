"""Small helpers shared by the test modules."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import comfykit_sync

WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
T2I = WORKFLOWS / "text_to_image.json"
SMOKE = WORKFLOWS / "smoke.json"
REAL_OBJECT_INFO = Path(__file__).parents[2] / "shared" / "ui-oracle" / "object_info-0.3.64.json"
"""``GET /object_info`` of a real ComfyUI 0.3.64 (kept beside the repository, when it is)."""

T = TypeVar("T")


def run_in_threads(
    fn: Callable[[int], T], n_jobs: int, n_threads: int, timeout: float = 120
) -> dict[int, T]:
    """Call ``fn(i)`` for every ``i`` in ``range(n_jobs)`` from ``n_threads`` threads at once.

    Returns job number -> result for the jobs that finished (a job that raised is missing).
    """
    results: dict[int, T] = {}
    lock = threading.Lock()
    jobs = iter(range(n_jobs))

    def worker() -> None:
        while True:
            with lock:
                i = next(jobs, None)
            if i is None:
                return
            res = fn(i)
            with lock:
                results[i] = res

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results


def execute_numbered(
    kit: comfykit_sync.ComfyKit, workflow: dict[str, Any], n_jobs: int, n_threads: int
) -> dict[int, comfykit_sync.ExecuteResult]:
    """Execute job ``i`` with ``{"prompt": "prompt {i}", "prefix": "job{i}"}`` on one shared kit."""
    return run_in_threads(
        lambda i: kit.execute_json(workflow, {"prompt": f"prompt {i}", "prefix": f"job{i}"}),
        n_jobs,
        n_threads,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Width, height and every pixel of an 8-bit RGB PNG, decoded by the book (all five
    scanline filters), to check the PNG files the fakes write."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour_type, interlace) == (8, 2, 0)
    raw, stride, rows = zlib.decompress(idat), 3 * width, []
    previous = bytes(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - 3] if x >= 3 else 0
            up, corner = previous[x], previous[x - 3] if x >= 3 else 0
            estimate = left + up - corner
            paeth = min(
                (abs(estimate - left), left),
                (abs(estimate - up), up),
                (abs(estimate - corner), corner),
            )[1]
            predictor = (0, left, up, (left + up) // 2, paeth)[kind]
            line[x] = (line[x] + predictor) & 0xFF
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, 3)])
        previous = bytes(line)
    return width, height, rows


def flac_stream(data: bytes) -> dict[str, Any]:
    """STREAMINFO, Vorbis comments and the frames' block sizes of a FLAC file."""
    assert data[:4] == b"fLaC"
    pos, info, comments, last = 4, {}, {}, False
    while not last:
        last, kind = bool(data[pos] & 0x80), data[pos] & 0x7F
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        body = data[pos + 4 : pos + 4 + length]
        if kind == 0:
            packed = int.from_bytes(body[10:18], "big")
            info = {
                "sample_rate": packed >> 44,
                "channels": ((packed >> 41) & 7) + 1,
                "bits_per_sample": ((packed >> 36) & 31) + 1,
                "samples": packed & (2**36 - 1),
            }
        elif kind == 4:
            (vendor,) = struct.unpack("<I", body[:4])
            at = 4 + vendor
            (count,) = struct.unpack("<I", body[at : at + 4])
            at += 4
            for _ in range(count):
                (size,) = struct.unpack("<I", body[at : at + 4])
                key, _, value = body[at + 4 : at + 4 + size].decode().partition("=")
                comments[key] = value
                at += 4 + size
        pos += 4 + length
    return {**info, "comments": comments, "blocks": _flac_blocks(data[pos:], info["channels"])}


def _flac_blocks(frames: bytes, channels: int) -> list[int]:
    """The block size of every frame of 16-bit CONSTANT subframes (what the fakes write),
    each frame's CRC-16 (polynomial 0x8005) checked."""
    blocks, pos = [], 0
    while pos < len(frames):
        assert frames[pos : pos + 2] == b"\xff\xf8"  # sync code, fixed block size
        assert frames[pos + 2] >> 4 == 7 and (frames[pos + 3] >> 1) & 7 == 4  # 16-bit size, 16 bps
        lead = frames[pos + 4]
        at = pos + 4 + max(1, 8 - (~lead & 0xFF).bit_length())  # the UTF-8 coded frame number
        blocks.append(int.from_bytes(frames[at : at + 2], "big") + 1)
        at += 3  # block size, CRC-8
        for _ in range(channels):
            assert frames[at] == 0  # a CONSTANT subframe
            at += 3
        crc = 0
        for byte in frames[pos:at]:
            crc ^= byte << 8
            for _ in range(8):
                crc = (crc << 1) ^ (0x8005 if crc & 0x8000 else 0)
            crc &= 0xFFFF
        assert frames[at : at + 2] == crc.to_bytes(2, "big")
        pos = at + 2
    return blocks
