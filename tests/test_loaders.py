"""Workflow sources: files, paths, dicts and URLs, with the API-format check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import comfykit_sync
from comfykit_sync import (
    ComfyKit,
    UnsupportedSourceError,
    WorkflowLoadError,
)

API = {
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}, "_meta": {"title": "t"}}
}
UI = {"last_node_id": 9, "nodes": [{"id": 9, "type": "SaveImage"}], "links": [], "version": 0.4}


@pytest.fixture
def kit():
    with ComfyKit("http://127.0.0.1:9") as kit:
        yield kit


def test_path_and_str_sources(kit, tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(API))
    assert kit.load_workflow(path).graph == API
    assert kit.load_workflow(str(path)).graph == API
    assert kit.load_workflow(str(path)).source == str(path)


def test_dict_source_is_used_without_temp_files(kit, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.mkstemp", lambda *a, **k: pytest.fail("temp file created"))
    assert kit.load_workflow(API).graph == API


def test_ui_format_is_handed_on_for_conversion(kit, tmp_path):
    """Loaders accept UI format; converting it needs the (here unreachable) server's nodes."""
    path = tmp_path / "ui.json"
    path.write_text(json.dumps(UI))
    for source in (path, UI):
        with pytest.raises(WorkflowLoadError, match="node definitions"):
            kit.load_workflow(source)


def test_node_without_class_type_is_named(kit):
    with pytest.raises(WorkflowLoadError, match="node '7'"):
        kit.load_workflow({"7": {"inputs": {}}})


@pytest.mark.parametrize(
    "content,needle",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "no nodes"),
    ],
)
def test_unusable_files(kit, tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(WorkflowLoadError, match=needle):
        kit.load_workflow(path)


def test_missing_file_names_the_path(kit, tmp_path):
    with pytest.raises(WorkflowLoadError, match="does not exist"):
        kit.load_workflow(tmp_path / "missing.json")
    with pytest.raises(WorkflowLoadError, match="missing.json"):
        kit.load_workflow("missing.json")


def test_unrecognised_source(kit):
    with pytest.raises(UnsupportedSourceError):
        kit.load_workflow(12.5)
    with pytest.raises(UnsupportedSourceError):
        kit.load_workflow("not-a-workflow")


def test_file_size_cap(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(API) + " " * 2048)
    with ComfyKit("http://127.0.0.1:9", max_workflow_bytes=1024) as kit:
        with pytest.raises(WorkflowLoadError, match="limit"):
            kit.load_workflow(path)


def test_url_source_sends_no_credentials_to_another_host(recording_server):
    url = recording_server.route("/wf.json", json.dumps(API).encode())
    with ComfyKit("http://127.0.0.1:9", api_key="sk-secret", cookies="sid=c00kie") as kit:
        assert kit.load_workflow(url).graph == API
    headers = recording_server.requests[-1]["headers"]
    assert "Authorization" not in headers and "Cookie" not in headers


def test_url_source_gets_credentials_on_its_own_origin(recording_server):
    url = recording_server.route("/wf.json", json.dumps(API).encode())
    with ComfyKit(recording_server.url, api_key="sk-secret", cookies="sid=c00kie") as kit:
        kit.load_workflow(url)
    headers = recording_server.requests[-1]["headers"]
    assert headers["Authorization"] == "Bearer sk-secret"
    assert headers["Cookie"] == "sid=c00kie"


def test_redirect_to_another_host_drops_credentials(recording_server):
    other = type(recording_server)().start()
    try:
        target = other.route("/wf.json", json.dumps(API).encode())
        url = recording_server.route("/go", b"", status=302, Location=target)
        with ComfyKit(recording_server.url, api_key="sk-secret", cookies="sid=c00kie") as kit:
            assert kit.load_workflow(url).graph == API
        headers = other.requests[-1]["headers"]
        assert "Authorization" not in headers and "Cookie" not in headers
    finally:
        other.stop()


def test_url_errors(recording_server):
    with ComfyKit("http://127.0.0.1:9", max_workflow_bytes=100) as kit:
        with pytest.raises(WorkflowLoadError, match="HTTP 404"):
            kit.load_workflow(recording_server.url + "/missing.json")
        url = recording_server.route("/big.json", b"{" + b" " * 500 + b"}")
        with pytest.raises(WorkflowLoadError, match="limit"):
            kit.load_workflow(url)
        url = recording_server.route("/ui.json", json.dumps(UI).encode())
    with ComfyKit("http://127.0.0.1:9") as kit:
        with pytest.raises(WorkflowLoadError, match="UI format"):
            kit.load_workflow(url)


def test_url_server_unreachable(tmp_path):
    with ComfyKit("http://127.0.0.1:9") as kit:
        with pytest.raises(WorkflowLoadError, match="could not load"):
            kit.load_workflow("http://127.0.0.1:9/wf.json")


def test_bundled_workflows_are_api_format(kit):
    folder = Path(comfykit_sync.__file__).parent / "testing" / "workflows"
    assert len(list(folder.glob("*.json"))) >= 2
    for path in folder.glob("*.json"):
        assert kit.load_workflow(path).graph


def test_tilde_of_an_unknown_user_is_a_load_error_not_a_crash(kit):
    # Path.expanduser() raises RuntimeError for "~unknownuser"; found by the fuzz test
    for source in ("~0/workflow.json", "~0"):
        with pytest.raises(WorkflowLoadError, match="does not exist"):
            kit.load_workflow(source)


def test_path_with_a_nul_byte_is_a_load_error(kit):
    """Found by the fuzz test: pathlib raised a bare ValueError for an embedded NUL byte."""
    with pytest.raises(WorkflowLoadError, match="not a valid path"):
        kit.load_workflow("\x00\\")
