"""The fake server's input/output/temp folders and ComfyUI's path rules for them."""

from __future__ import annotations

import os
import re
from pathlib import Path

FOLDER_TYPES = ("input", "temp", "output")

_MEDIA_EXTENSIONS = {
    "image": {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"},
    "video": {".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif"},
    "audio": {".flac", ".mp3", ".wav", ".ogg", ".opus", ".m4a", ".aac"},
}


def is_inside(base: str, path: str) -> bool:
    """ComfyUI's traversal check: ``path`` (made absolute) stays below ``base``."""
    return os.path.commonpath((base, os.path.abspath(path))) == base


def split_annotation(name: str) -> tuple[str, str | None]:
    """Split ``"x.png [output]"`` into ``("x.png", "output")``; no annotation -> None."""
    for folder_type in FOLDER_TYPES:
        suffix = f" [{folder_type}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], folder_type
    return name, None


class Folders:
    """The three ComfyUI folders below one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.input = root / "input"
        self.output = root / "output"
        self.temp = root / "temp"
        for folder in (self.input, self.output, self.temp):
            folder.mkdir(parents=True, exist_ok=True)
        # (folder, base name) -> (folder mtime after our last write there, counter written)
        self._last_written: dict[tuple[Path, str], tuple[int, int]] = {}

    def by_type(self, folder_type: str) -> Path | None:
        """The folder for ``input``/``temp``/``output``, None for anything else."""
        return {"input": self.input, "temp": self.temp, "output": self.output}.get(folder_type)

    def input_files(self, kind: str) -> list[str]:
        """Sorted top-level input files whose extension suits ``kind`` (image/audio/video)."""
        extensions = _MEDIA_EXTENSIONS[kind]
        if kind == "audio":
            extensions = extensions | _MEDIA_EXTENSIONS["video"]
        return sorted(
            entry.name
            for entry in os.scandir(self.input)
            if entry.is_file() and os.path.splitext(entry.name)[1].lower() in extensions
        )

    def resolve_annotated(self, name: str, default_type: str = "input") -> Path | None:
        """The file an annotated loader value (``sub/x.png [temp]``) names, if it exists."""
        name, folder_type = split_annotation(name)
        base = self.by_type(folder_type or default_type)
        if base is None or not name or name.startswith("/") or ".." in name.split("/"):
            return None
        path = base / name
        return path if path.is_file() else None

    def save_path(self, prefix: str, folder: Path) -> tuple[Path, str, int, str]:
        """ComfyUI's ``get_save_image_path``: (folder, base name, next counter, subfolder).

        The next counter is one past the highest ``{name}_{counter}`` in the folder. Raises
        ``Exception`` (like ComfyUI) when the prefix escapes ``folder``.
        """
        normalized = os.path.normpath(prefix)
        subfolder = os.path.dirname(normalized)
        filename = os.path.basename(normalized)
        full_folder = folder / subfolder
        if not is_inside(str(folder), str(full_folder)):
            raise Exception(
                "**** ERROR: Saving image outside the output folder is not allowed."
                f"\n full_output_folder: {os.path.abspath(full_folder)}"
                f"\n         output_dir: {folder}"
            )
        full_folder.mkdir(parents=True, exist_ok=True)
        return full_folder, filename, self._next_counter(full_folder, filename), subfolder

    def write(self, folder: Path, name: str, counter: int, suffix: str, data: bytes) -> str:
        """Write ``{name}_{counter:05}{suffix}`` into a :meth:`save_path` folder; its file name."""
        filename = f"{name}_{counter:05}{suffix}"
        (folder / filename).write_bytes(data)
        self._last_written[folder, name] = (folder.stat().st_mtime_ns, counter)
        return filename

    def _next_counter(self, folder: Path, name: str) -> int:
        """List the folder only if it changed since our last write of ``name`` there.

        Listing on every save (as ComfyUI does) costs O(files) per image, which dominates a
        long benchmark; an unchanged modification time proves the remembered counter current.
        """
        last = self._last_written.get((folder, name))
        if last is not None and folder.stat().st_mtime_ns == last[0]:
            return last[1] + 1
        pattern = re.compile(re.escape(name) + r"_(\d+)")
        counters = [int(m.group(1)) for m in map(pattern.match, os.listdir(folder)) if m]
        return max(counters, default=0) + 1
