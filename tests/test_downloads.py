"""Saving outputs: ``ExecuteResult.save``, ``ComfyKit.download``, ``Artifact.open``/``bytes``."""

from __future__ import annotations

import io
import threading

import pytest
from helpers import T2I

from comfykit_sync import ComfyKit, ConfigurationError, NotFoundError
from comfykit_sync.downloads import Fetcher, download
from comfykit_sync.models import Artifact, ExecuteResult
from comfykit_sync.testing import Script

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64


@pytest.fixture
def kit(fake_comfyui):
    with ComfyKit(fake_comfyui.url, timeout=30) as kit:
        yield kit


def write_outputs(fake_comfyui, files: dict[str, bytes]) -> list[dict[str, str]]:
    """Put ``files`` (relative paths) in the fake's output folder; their UI records."""
    records = []
    for rel, data in files.items():
        path = fake_comfyui.output_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        subfolder, _, name = rel.rpartition("/")
        records.append({"filename": name, "subfolder": subfolder, "type": "output"})
    return records


@pytest.fixture
def many(kit, fake_comfyui):
    """A completed result with six images, one in a subfolder."""
    files = {f"img_{i}.png": PNG + bytes([i]) for i in range(5)} | {"sub/deep.png": PNG + b"d"}
    records = write_outputs(fake_comfyui, files)
    fake_comfyui.script(Script(outputs={"9": {"images": records}}))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert len(result.images) == 6
    return result


def test_save_writes_every_output_equal_to_the_servers(many, fake_comfyui, tmp_path):
    saved = many.save(tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in saved] == [
        *(f"img_{i}.png" for i in range(5)),
        "sub/deep.png",
    ]
    for path in saved:
        rel = path.relative_to(tmp_path / "out")
        assert path.read_bytes() == (fake_comfyui.output_dir / rel).read_bytes()
    assert not list((tmp_path / "out").rglob("*.part"))


def test_save_runs_in_parallel_bounded_by_max_workers(many, tmp_path, monkeypatch):
    import comfykit_sync.downloads as downloads

    active, peak, lock = 0, 0, threading.Lock()
    real = downloads.download

    def tracked(*args):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            threading.Event().wait(0.05)
            return real(*args)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(downloads, "download", tracked)
    assert len(many.save(tmp_path, max_workers=3)) == 6
    assert peak == 3
    with pytest.raises(ConfigurationError):
        many.save(tmp_path, max_workers=0)


def test_collisions_get_unique_names_unless_overwrite(many, tmp_path):
    (tmp_path / "img_0.png").write_bytes(b"mine")
    first = many.save(tmp_path)
    assert first[0].name == "img_0-1.png" and (tmp_path / "img_0.png").read_bytes() == b"mine"
    second = many.save(tmp_path)
    assert second[0].name == "img_0-2.png" and second[5].name == "deep-1.png"
    third = many.save(tmp_path, overwrite=True)
    assert [p.name for p in third[:2]] == ["img_0.png", "img_1.png"]
    assert (tmp_path / "img_0.png").read_bytes() == PNG + b"\x00"


def test_same_name_twice_in_one_run_is_not_clobbered(kit, fake_comfyui, tmp_path):
    records = write_outputs(fake_comfyui, {"a/x.png": PNG + b"a", "b/x.png": PNG + b"b"})
    for record in records:
        record["subfolder"] = ""  # both reported under the same name (served from output/)
    write_outputs(fake_comfyui, {"x.png": PNG})
    fake_comfyui.script(Script(outputs={"9": {"images": records}}))
    result = kit.execute(T2I, {"prompt": "x"})
    saved = result.save(tmp_path, overwrite=True)
    assert [p.name for p in saved] == ["x.png", "x-1.png"]


@pytest.mark.parametrize(
    ("filename", "subfolder", "expected"),
    [
        ("../../etc/passwd", "", "passwd"),
        ("/etc/passwd", "", "passwd"),
        ("..\\..\\win.ini", "", "win.ini"),
        ("ok.png", "../../..", "ok.png"),
        ("ok.png", "/abs/../x", "abs/x/ok.png"),
        ("ok.png", "C:\\Windows\\..\\sys", "C_/Windows/sys/ok.png"),
        ("..", "..", "src.bin"),
    ],
)
def test_hostile_names_stay_inside_the_directory(tmp_path, filename, subfolder, expected):
    src = tmp_path / "server" / "src.bin"
    src.parent.mkdir()
    src.write_bytes(b"data")
    art = Artifact("file", "out", "1", url=src.as_uri(), filename=filename, subfolder=subfolder)
    target = tmp_path / "target"
    [saved] = ExecuteResult("completed", artifacts=(art,)).save(target)
    assert saved.resolve().is_relative_to(target.resolve())
    assert saved.relative_to(target).as_posix() == expected and saved.read_bytes() == b"data"
    assert {p.name for p in tmp_path.iterdir()} == {"server", "target"}


def test_credentials_only_reach_the_servers_origin(fake_comfyui, recording_server, tmp_path):
    foreign = recording_server.route("/cdn/f.png", PNG)
    records = write_outputs(fake_comfyui, {"own.png": PNG})
    fake_comfyui.script(Script(outputs={"9": {"images": records}}))
    with ComfyKit(fake_comfyui.url, api_key="sk-secret", cookies={"sid": "c1"}) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
        other = Artifact("image", "cdn", "9", url=foreign, filename="f.png")
        mixed = ExecuteResult("completed", artifacts=(*result.artifacts, other))
        saved = mixed.save(tmp_path, kit=kit)
        assert [p.read_bytes() for p in saved] == [PNG, PNG]
        assert kit.download(foreign, tmp_path / "again.png").read_bytes() == PNG
    view = [r for r in fake_comfyui.requests if r.path.startswith("/view")]
    assert view and all(r.headers.get("Authorization") == "Bearer sk-secret" for r in view)
    assert len(recording_server.requests) == 2
    for record in recording_server.requests:
        headers = {k.lower() for k in record["headers"]}
        assert "authorization" not in headers and "cookie" not in headers


def test_results_built_by_the_kit_use_its_credentials(fake_comfyui, tmp_path):
    records = write_outputs(fake_comfyui, {"own.png": PNG})
    fake_comfyui.script(Script(outputs={"9": {"images": records}}))
    with ComfyKit(fake_comfyui.url, api_key="sk-secret") as kit:
        result = kit.execute(T2I, {"prompt": "x"})
        before = len(fake_comfyui.requests)
        result.save(tmp_path)
        assert result.artifacts[0].bytes() == PNG
    # (the kit's queue watcher may still be finishing a /queue read: count downloads only)
    fetched = [r for r in fake_comfyui.requests[before:] if r.path.startswith("/view")]
    assert len(fetched) == 2
    assert all(r.headers.get("Authorization") == "Bearer sk-secret" for r in fetched)


def test_failed_download_leaves_no_part_file(kit, fake_comfyui, tmp_path):
    missing = Artifact("image", "x", "9", url=f"{fake_comfyui.url}/view?filename=nope.png")
    with pytest.raises(NotFoundError):
        kit.download(missing, tmp_path / "nope.png")
    with pytest.raises(NotFoundError):
        ExecuteResult("completed", artifacts=(missing,)).save(tmp_path / "d", kit=kit)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_stream_broken_midway_removes_the_part_file(tmp_path):
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            self.calls += 1
            if self.calls > 1:
                raise OSError("connection reset")
            buffer[:4] = b"abcd"
            return 4

    class BrokenFetcher(Fetcher):
        def __call__(self, url: str):
            return Broken()

    with pytest.raises(OSError, match="reset"):
        download(BrokenFetcher(), "http://x/y.png", tmp_path / "y.png")
    assert list(tmp_path.iterdir()) == []


def test_artifact_bytes_and_open(kit, many):
    art = many.artifacts[0]
    assert art.bytes() == PNG + b"\x00"
    with art.open() as stream:
        assert stream.read(8) == PNG[:8]
    with pytest.raises(ConfigurationError):
        Artifact("text", "t", "1", text="hi").bytes()


def test_open_is_a_buffered_binary_file_for_http_and_file_urls(kit, many, tmp_path):
    local = tmp_path / "local.png"
    local.write_bytes(PNG)
    remote = many.artifacts[0]
    for art, body in (
        (remote, PNG + b"\x00"),
        (Artifact("image", "i", "1", url=local.as_uri()), PNG),
    ):
        with art.open() as stream:
            assert isinstance(stream, io.BufferedIOBase) and stream.readable()
            assert stream.peek(1)[:1] == body[:1]
            chunks = list(iter(lambda: stream.read(1000), b""))
            assert b"".join(chunks) == body  # peeking consumed nothing
            assert all(len(chunk) == 1000 for chunk in chunks[:-1])  # no short reads
        assert stream.closed


def test_file_urls(tmp_path, kit):
    src = tmp_path / "dir with space" / "clip.mp4"
    src.parent.mkdir()
    src.write_bytes(b"video")
    art = Artifact("video", "v", "1", url=src.as_uri(), filename="clip.mp4")
    assert art.bytes() == b"video"
    assert kit.download(art, tmp_path / "copy.mp4").read_bytes() == b"video"
    [saved] = ExecuteResult("completed", artifacts=(art,)).save(tmp_path / "out")
    assert saved.name == "clip.mp4" and saved.read_bytes() == b"video"
    with pytest.raises(ConfigurationError, match="host"):
        Artifact("video", "v", "1", url="file://evil/share/x").bytes()


def test_fetcher_is_not_compared_or_shown(many):
    import attrs

    plain = [attrs.evolve(a, fetch=None) for a in many.artifacts]
    assert list(many.artifacts) == plain
    assert "fetch" not in repr(many.artifacts[0]).lower()
