"""The RunningHub loader: ids, ``runninghub:<id>`` and pointer files; what it leaves alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import comfykit_sync
from comfykit_sync import (
    ComfyKit,
    ConfigurationError,
    InvalidResponseError,
    UnsupportedSourceError,
    WorkflowLoadError,
)

WORKFLOWS = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
KEY = "rh-key"
pytestmark = pytest.mark.fake_runninghub(api_key=KEY)


@pytest.fixture
def kit(fake_runninghub, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    with ComfyKit(
        runninghub_url=fake_runninghub.url, runninghub_api_key=KEY, poll_max_interval=0.05
    ) as kit:
        yield kit


@pytest.fixture
def workflow_id(fake_runninghub):
    return fake_runninghub.add_workflow(json.loads((WORKFLOWS / "text_to_image.json").read_text()))


def test_id_and_prefixed_id(kit, workflow_id):
    for source in (workflow_id, f"runninghub:{workflow_id}", f"RunningHub: {workflow_id}"):
        wf = kit.load_workflow(source)
        assert (wf.backend, wf.source_id, wf.source) == (
            "runninghub",
            workflow_id,
            f"runninghub:{workflow_id}",
        )
        assert wf.graph["3"]["class_type"] == "KSampler"
    assert set(kit.list_params(workflow_id).params) >= {"prompt", "seed", "steps"}


def test_bad_prefixed_id(kit, fake_runninghub):
    with pytest.raises(WorkflowLoadError, match="numeric workflow id"):
        kit.load_workflow("runninghub:abc")
    assert fake_runninghub.requests == []


@pytest.mark.parametrize("workflow_id_json", ['"{id}"', "{id}"])
def test_pointer_file_runs(kit, fake_runninghub, workflow_id, tmp_path, workflow_id_json):
    pointer = tmp_path / "tool.json"
    wid = workflow_id_json.format(id=workflow_id)  # a string, or a bare 19-digit number
    pointer.write_text(f'{{"_source": "runninghub", "workflow_id": {wid}, "title": "Fox"}}')
    wf = kit.load_workflow(pointer)
    assert (wf.backend, wf.source_id, wf.source) == ("runninghub", workflow_id, str(pointer))
    result = kit.execute(str(pointer), {"prompt": "a fox"})
    assert result.status == "completed", result.msg
    assert fake_runninghub.tasks[result.prompt_id].workflow_id == workflow_id


def test_pointer_file_without_a_valid_id(kit, tmp_path):
    pointer = tmp_path / "tool.json"
    pointer.write_text('{"_source": "runninghub", "workflow_id": 1.5}')
    with pytest.raises(WorkflowLoadError, match="tool.json.*workflow_id"):
        kit.load_workflow(pointer)


def test_ordinary_and_foreign_files_are_left_to_the_file_loader(kit, fake_runninghub, tmp_path):
    wf = kit.load_workflow(WORKFLOWS / "text_to_image.json")
    assert wf.backend is None and wf.source_id is None
    other = tmp_path / "other.json"
    other.write_text('{"_source": "elsewhere", "workflow_id": "1"}')
    late = tmp_path / "late.json"  # the marker is past the 4 KiB peek: not a pointer file
    late.write_text(json.dumps({"pad": "x" * 5000, "_source": "runninghub", "workflow_id": "1"}))
    for path in (other, late):
        with pytest.raises(WorkflowLoadError, match="class_type"):
            kit.load_workflow(path)
    assert fake_runninghub.requests == []


def test_local_file_named_with_digits_is_a_file(kit, fake_runninghub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "12345").write_text((WORKFLOWS / "text_to_image.json").read_text())
    assert kit.load_workflow("12345").backend is None
    assert fake_runninghub.requests == []


@pytest.mark.parametrize("source", ["²", "１２３", "12 34", "-12"])
def test_non_ascii_digits_are_not_ids(kit, fake_runninghub, source):
    with pytest.raises(UnsupportedSourceError):
        kit.load_workflow(source)
    assert fake_runninghub.requests == []


def test_missing_key_for_a_pointer_file(fake_runninghub, tmp_path, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    pointer = tmp_path / "p.json"
    pointer.write_text('{"_source": "runninghub", "workflow_id": "1953270871002394625"}')
    with ComfyKit(runninghub_url=fake_runninghub.url) as kit:
        with pytest.raises(ConfigurationError, match="runninghub_api_key"):
            kit.load_workflow(pointer)
    assert fake_runninghub.requests == []


def test_key_from_the_environment(fake_runninghub, workflow_id, monkeypatch):
    monkeypatch.setenv("RUNNINGHUB_API_KEY", KEY)
    monkeypatch.setenv("RUNNINGHUB_BASE_URL", fake_runninghub.url)
    with ComfyKit() as kit:
        assert kit.load_workflow(workflow_id).source_id == workflow_id


@pytest.mark.parametrize(
    ("data", "error", "needle"),
    [
        ({"prompt": ""}, InvalidResponseError, "no workflow JSON"),
        (None, InvalidResponseError, "no workflow JSON"),
        ({"prompt": "{not json"}, WorkflowLoadError, "not valid JSON"),
        ({"prompt": '{"nodes": [], "links": []}'}, WorkflowLoadError, "API Format"),
    ],
)
def test_unusable_workflow_json(kit, fake_runninghub, data, error, needle):
    fake_runninghub.respond("/api/openapi/getJsonApiFormat", 0, data=data)
    with pytest.raises(error, match=needle):
        kit.load_workflow("1953270871002394625")
