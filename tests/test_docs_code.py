"""Every fenced code block in README.md and docs/*.md runs against the fake servers.

The convention (see docs/index.md, "Code blocks in these pages"):

* ```python blocks are exec'd, each file's blocks in order in one namespace, in a temporary
  working directory holding the files the docs mention (:data:`DOC_FILES`), with
  ``COMFYUI_BASE_URL`` set to a fake ComfyUI and ``RUNNINGHUB_BASE_URL`` /
  ``RUNNINGHUB_API_KEY`` to a fake RunningHub serving the ids in :data:`RUNNINGHUB_IDS`. The
  literal default address ``http://127.0.0.1:8188`` is replaced by the fake's URL. A block that
  defines ``test_*`` functions has them called, each with fresh ``fake_comfyui`` /
  ``fake_runninghub`` servers for the arguments so named.
* ```bash blocks hold ``comfykit ...`` command lines (``\\`` continues a line), run through
  :func:`comfykit_sync.cli.main`; each must exit 0, or ``N`` when the line ends in ``# exit N``.
* ```json blocks must parse; ```console (shell sessions), ```ini, ```toml and ```text blocks
  are shown only. Any other language, or a bare fence, fails the test.
"""

from __future__ import annotations

import inspect
import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import comfykit_sync
from comfykit_sync.cli import main as cli_main
from comfykit_sync.testing import FakeComfyUI
from comfykit_sync.testing._media import png
from comfykit_sync.testing.fake_runninghub import FakeRunningHub

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEFAULT_URL = "http://127.0.0.1:8188"
EXECUTED = {"python", "bash"}
SHOWN = {"console", "ini", "toml", "text", "json"}
#: RunningHub workflow ids used in the docs, served by the fake (text_to_image.json).
RUNNINGHUB_IDS = ("1234567890123456789", "1953270871002394625")
#: Files in the working directory of the executed blocks: name -> bytes.
DOC_FILES: dict[str, bytes] = {
    "workflow.json": (WORKFLOWS / "text_to_image.json").read_bytes(),
    "my-workflow.json": (WORKFLOWS / "ui" / "text_to_image.json").read_bytes(),  # plain "Save"
    "flows/upscale.json": (WORKFLOWS / "image_to_image.json").read_bytes(),
    "photo.png": png(32, 32, (40, 120, 200)),
    "cat.png": png(32, 32, (200, 120, 40)),
    "params.json": json.dumps({"prompt": "a cat", "steps": 12}).encode(),
    "pointer.json": json.dumps(
        {"_source": "runninghub", "workflow_id": RUNNINGHUB_IDS[0], "title": "Cat"}
    ).encode(),
}

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """The fenced blocks of a Markdown file: (language, code, line number)."""
    text = path.read_text()
    return [
        (m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_the_docs_have_code_blocks():
    assert sum(len(blocks(p)) for p in DOCS) > 30
    assert len(DOCS) >= 12


@pytest.mark.parametrize("path", DOCS, ids=ids(DOCS))
def test_every_block_has_a_handled_language(path):
    for lang, _code, line in blocks(path):
        assert lang in EXECUTED | SHOWN, f"{path.name}:{line}: unhandled fence {lang!r}"
    fences = len(re.findall(r"^[ \t]*```", path.read_text(), re.M))
    assert fences == 2 * len(blocks(path)), f"{path.name}: unbalanced or indented fences"


def test_readme_quick_start_is_two_console_commands():
    """Two commands to try it, then one to run a file saved with the editor's plain "Save"."""
    quick = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    found = blocks_in(quick)
    assert [lang for lang, _ in found] == ["console", "console", "bash"]
    demo, tests = found[0][1], found[1][1]
    assert demo.startswith("python3 -m venv .venv && ")
    # the tests need redis-server (Celery): installed first when missing, as .ci/run does
    assert tests.startswith("command -v redis-server >/dev/null || ")
    assert "; python3 -m venv .venv && " in tests and tests.rstrip().endswith("python -m pytest -q")
    assert found[2][1].startswith("comfykit run my-workflow.json ")
    assert b'"nodes"' in DOC_FILES["my-workflow.json"]  # that file is in UI format


def blocks_in(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


@pytest.fixture
def doc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A working directory with the docs' files and environment pointing at fake servers."""
    for name, data in DOC_FILES.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    monkeypatch.chdir(tmp_path)
    graph = json.loads(DOC_FILES["workflow.json"])
    with FakeComfyUI() as comfy, FakeRunningHub(run_time=0.01) as hub:
        for workflow_id in RUNNINGHUB_IDS:
            hub.add_workflow(graph, workflow_id=workflow_id)
        for name in ("COMFYUI_EXECUTOR_TYPE", "COMFYUI_API_KEY", "COMFYUI_COOKIES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("COMFYUI_BASE_URL", comfy.url)
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", hub.url)
        monkeypatch.setenv("RUNNINGHUB_API_KEY", hub.api_key)
        monkeypatch.setenv("PRESET_DIR", str(tmp_path))
        yield {"comfy": comfy, "hub": hub, "dir": tmp_path}


def call_tests(namespace: dict[str, Any], before: set[str]) -> None:
    """Call the ``test_*`` functions a block defined, with fresh fake servers as fixtures."""
    for name, fn in list(namespace.items()):
        if name in before or not name.startswith("test_") or not callable(fn):
            continue
        args: dict[str, Any] = {}
        servers: list[Any] = []
        for arg in inspect.signature(fn).parameters:
            server = {"fake_comfyui": FakeComfyUI, "fake_runninghub": FakeRunningHub}[arg]()
            servers.append(server)
            args[arg] = server.__enter__()
        if "fake_runninghub" in args:
            graph = json.loads(DOC_FILES["workflow.json"])
            args["fake_runninghub"].run_time = 0.01
            for workflow_id in RUNNINGHUB_IDS:
                args["fake_runninghub"].add_workflow(graph, workflow_id=workflow_id)
        try:
            fn(**args)
        finally:
            for server in servers:
                server.__exit__(None, None, None)


def run_command(line: str, workdir: Path) -> None:
    expected = 0
    marker = re.search(r"#\s*exit\s+(\d+)\s*$", line)
    if marker:
        expected = int(marker.group(1))
    argv = shlex.split(line, comments=True)
    assert argv[0] == "comfykit", f"bash blocks hold comfykit commands only: {line!r}"
    code = cli_main(argv[1:])
    assert code == expected, f"{line!r} exited {code}, expected {expected}"


@pytest.mark.parametrize("path", DOCS, ids=ids(DOCS))
def test_code_blocks_run_against_the_fake_servers(path, doc_env, capsys):
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}"}
    for lang, code, line in blocks(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        if lang == "json":
            json.loads(code)
        elif lang == "python":
            assert "..." not in code.replace("'...'", ""), f"{where}: placeholder in a python block"
            source = code.replace(DEFAULT_URL, doc_env["comfy"].url)
            before = set(namespace)
            exec(compile(source, where, "exec"), namespace)  # noqa: S102
            call_tests(namespace, before)
        elif lang == "bash":
            for command in code.replace("\\\n", " ").splitlines():
                if command.strip() and not command.lstrip().startswith("#"):
                    run_command(command.strip(), doc_env["dir"])
    for name in ("kit",):
        kit = namespace.get(name)
        if isinstance(kit, comfykit_sync.ComfyKit):
            kit.close()
    shutil.rmtree(doc_env["dir"] / "out", ignore_errors=True)


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", DOCS, ids=ids(DOCS))
def test_relative_links_point_to_existing_files(path):
    text = FENCE.sub("", path.read_text())
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        file = (path.parent / target.split("#", 1)[0]).resolve()
        assert file.exists(), f"{path.relative_to(ROOT)}: broken link {target!r}"


def test_the_index_lists_every_docs_page():
    index = (ROOT / "docs" / "index.md").read_text()
    listed = {target for target in LINK.findall(index) if "/" not in target}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages <= listed, f"not in docs/index.md: {sorted(pages - listed)}"
