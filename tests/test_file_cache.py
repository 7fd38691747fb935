"""Workflow files are parsed once and kept while unchanged (path, mtime, size, inode)."""

from __future__ import annotations

import json
import marshal
import os
import time
from pathlib import Path

import pytest
from helpers import T2I

from comfykit_sync import ComfyKit
from comfykit_sync.loaders._file_cache import GraphCache

HOUR_AGO = time.time_ns() - 3600 * 10**9


def write(path: Path, graph: dict, *, mtime_ns: int = HOUR_AGO) -> None:
    path.write_text(json.dumps(graph))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def prompt_of(kit: ComfyKit, path: Path) -> str:
    return kit.load_workflow(path).graph["6"]["inputs"]["text"]


@pytest.fixture
def kit():
    with ComfyKit("http://127.0.0.1:9") as kit:
        yield kit


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    path = tmp_path / "wf.json"
    write(path, json.loads(T2I.read_text()))
    return path


def _with_prompt(path: Path, text: str) -> dict:
    graph = json.loads(path.read_text())
    graph["6"]["inputs"]["text"] = text
    return graph


def test_an_unchanged_file_is_not_read_again(kit, workflow):
    """Same path, mtime and size: the kept graph is used, even if the bytes changed (that is
    the cache's contract; editors and copies change the mtime)."""
    assert prompt_of(kit, workflow) == "a cat"
    write(workflow, _with_prompt(workflow, "a dog"))  # same length, same mtime
    assert prompt_of(kit, workflow) == "a cat"


def test_a_new_mtime_is_read_again(kit, workflow):
    assert prompt_of(kit, workflow) == "a cat"
    write(workflow, _with_prompt(workflow, "a dog"), mtime_ns=HOUR_AGO + 10**9)
    assert prompt_of(kit, workflow) == "a dog"


def test_a_new_size_is_read_again(kit, workflow):
    assert prompt_of(kit, workflow) == "a cat"
    write(workflow, _with_prompt(workflow, "a black cat"))  # same mtime, other size
    assert prompt_of(kit, workflow) == "a black cat"


def test_a_replaced_file_is_read_again(kit, workflow, tmp_path):
    assert prompt_of(kit, workflow) == "a cat"
    other = tmp_path / "other.json"
    write(other, _with_prompt(workflow, "a dog"))  # same mtime and size, another inode
    other.replace(workflow)
    assert prompt_of(kit, workflow) == "a dog"


def test_changing_a_loaded_graph_changes_nothing_for_the_next_load(kit, workflow):
    for _ in range(2):  # the first load parses the file, the second comes from the cache
        graph = kit.load_workflow(workflow).graph
        graph["6"]["inputs"]["text"] = "changed"
        graph["6"]["_meta"]["title"] = "$changed"
        del graph["9"]
    again = kit.load_workflow(workflow).graph
    assert again == json.loads(workflow.read_text())
    assert kit.list_params(workflow).params["prompt"].targets[0].default == "a cat"


def test_a_file_written_just_now_is_not_kept(kit, workflow):
    """A second change within the clock's resolution could keep mtime and size."""
    now = time.time_ns()
    write(workflow, _with_prompt(workflow, "a cow"), mtime_ns=now)
    assert prompt_of(kit, workflow) == "a cow"
    write(workflow, _with_prompt(workflow, "a dog"), mtime_ns=now)
    assert prompt_of(kit, workflow) == "a dog"


def test_the_same_relative_path_in_another_directory_is_another_file(kit, tmp_path, monkeypatch):
    for name, text in (("a", "a cat"), ("b", "a dog")):
        (tmp_path / name).mkdir()
        write(tmp_path / name / "wf.json", _with_prompt(T2I, text))
    monkeypatch.chdir(tmp_path / "a")
    assert prompt_of(kit, Path("wf.json")) == "a cat"
    monkeypatch.chdir(tmp_path / "b")
    assert prompt_of(kit, Path("wf.json")) == "a dog"


def test_the_size_limit_applies_to_a_kept_file(workflow):
    with ComfyKit("http://127.0.0.1:9") as kit:
        kit.load_workflow(workflow)
    with ComfyKit("http://127.0.0.1:9", max_workflow_bytes=100) as small:
        with pytest.raises(Exception, match="over the 100 limit"):
            small.load_workflow(workflow)


def test_the_cache_keeps_the_most_recently_used_within_its_budget(workflow):
    stat = workflow.stat()  # an hour old: settled
    graph = json.loads(workflow.read_text())
    by_count = GraphCache(max_files=2)
    for name in ("a", "b", "c"):
        by_count.put(name, stat, graph)
    by_count.get("b", stat)  # used: "c" is now the least recently used
    by_count.put("d", stat, graph)
    assert [by_count.get(name, stat) == graph for name in "abcd"] == [False, True, False, True]
    by_size = GraphCache(max_bytes=2 * len(marshal.dumps(graph)) + 1)
    for name in ("a", "b", "c"):
        by_size.put(name, stat, graph)
    assert [by_size.get(name, stat) == graph for name in "abc"] == [False, True, True]
