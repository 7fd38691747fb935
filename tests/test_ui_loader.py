"""UI-format workflows (the editor's plain "Save"): loading, node definitions, markers, refusal.

Everything runs against the fake ComfyUI, whose ``/object_info`` carries the definitions the
conversion needs; requests are counted on the server.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import T2I, WORKFLOWS, run_in_threads
from ui_builders import judged, saved_text_to_image, text_to_image

from comfykit_sync import ComfyKit, ConfigurationError, DSLError, WorkflowLoadError
from comfykit_sync.lint import lint_graph
from comfykit_sync.plugins import make_plugin_manager
from comfykit_sync.testing import FakeComfyUI
from comfykit_sync.ui_workflow import UIConversionError

UI = saved_text_to_image()
BUNDLED_UI = WORKFLOWS / "ui" / "text_to_image.json"
API = json.loads(T2I.read_text())
SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_OBJECT_INFO = SHARED / "ui-oracle" / "object_info-0.3.64.json"


def requests_to(server: FakeComfyUI, path: str) -> int:
    return sum(1 for r in server.requests if r.path in (path, "/api" + path))


def nothing_sent(server: FakeComfyUI) -> bool:
    return not any(r.method == "POST" for r in server.requests)


@pytest.fixture
def kit(fake_comfyui: FakeComfyUI) -> Any:
    with ComfyKit(fake_comfyui.url) as kit:
        yield kit


@pytest.fixture
def object_info_file(fake_comfyui: FakeComfyUI, tmp_path: Path) -> Path:
    with ComfyKit(fake_comfyui.url) as kit:
        definitions = dict(kit.object_info())
    path = tmp_path / "object_info.json"
    path.write_text(json.dumps(definitions))
    return path


def params(spec: Any) -> dict[str, tuple[Any, ...]]:
    return {
        name: (p.type, p.required, p.default, tuple((t.node_id, t.field) for t in p.targets))
        for name, p in spec.params.items()
    }


# -- sources ---------------------------------------------------------------------------------


def test_a_saved_file_loads_as_the_api_graph(kit, tmp_path):
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(UI))
    graph = kit.load_workflow(path).graph
    assert judged(graph, kit.object_info()) == judged(API, kit.object_info())
    assert kit.load_workflow(path).source == str(path)


def test_the_bundled_ui_example_converts_to_the_api_example(kit):
    """The demo's and docs' file, as the editor saves it (positions, sizes, order, ids)."""
    definitions = kit.object_info()
    bundled = kit.load_workflow(BUNDLED_UI).graph
    assert judged(bundled, definitions) == judged(kit.load_workflow(UI).graph, definitions)


def test_files_urls_and_dicts_give_the_same_graph(kit, tmp_path, recording_server):
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(UI))
    url = recording_server.route("/saved.json", json.dumps(UI).encode())
    graphs = [kit.load_workflow(source).graph for source in (path, str(path), url, UI)]
    assert all(graph == graphs[0] for graph in graphs)


@pytest.mark.parametrize("executor", ["http", "websocket"])
def test_runs_end_to_end_on_both_executors(fake_comfyui, tmp_path, executor):
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(UI))
    with ComfyKit(fake_comfyui.url, executor_type=executor) as kit:
        for source in (path, UI):
            result = kit.execute(source, {"prompt": "a fox", "steps": 3, "seed": 5})
            assert result.status == "completed", result.msg
            assert list(result.images_by_var) == ["image"]
            assert result.texts_by_var == {"caption": ["a fox"]}
            sent = fake_comfyui.prompts[result.prompt_id].graph
            assert sent["3"]["inputs"]["steps"] == 3 and sent["3"]["inputs"]["seed"] == 5
        result = kit.execute_json(UI, {"prompt": "a cat"})
        assert result.ok and result.seeds["3"] != 0  # seed 0 randomised as for API workflows


def test_list_params_inspect_and_lint_match_the_api_format(kit):
    assert params(kit.list_params(UI)) == params(kit.list_params(API))
    assert kit.inspect(UI).json_schema()["properties"] == kit.inspect(API).json_schema()[
        "properties"
    ]
    assert dict(kit.inspect(UI).outputs) == {"image": ("9",), "caption": ("10",)}
    assert lint_graph(kit.load_workflow(UI).graph) == ()


def test_a_loaded_workflow_object_is_not_converted_again(kit, fake_comfyui):
    workflow = kit.load_workflow(UI)
    assert kit.load_workflow(workflow) is workflow
    assert kit.execute(workflow, {"prompt": "x"}).ok


# -- node definitions: fetched once, cached ----------------------------------------------------


def test_one_object_info_request_per_server_under_32_threads(fake_comfyui):
    fake_comfyui.duration = 0.0
    with ComfyKit(fake_comfyui.url) as kit:
        results = run_in_threads(lambda i: kit.execute_json(UI, {"prompt": f"p{i}"}), 64, 32)
        assert len(results) == 64 and all(r.ok for r in results.values())
        kit.list_params(UI)
        kit.inspect(UI)
    assert requests_to(fake_comfyui, "/object_info") == 1
    assert requests_to(fake_comfyui, "/system_stats") == 0  # no disk cache asked for


def test_concurrent_first_use_is_one_request(fake_comfyui):
    """Every thread asks at the same moment; one fetches, the others wait for its answer."""
    with ComfyKit(fake_comfyui.url) as kit:
        barrier = threading.Barrier(32)

        def first_use(_: int) -> int:
            barrier.wait(timeout=30)
            return len(kit.object_info())

        sizes = run_in_threads(first_use, 32, 32)
    assert len(set(sizes.values())) == 1 and len(sizes) == 32
    assert requests_to(fake_comfyui, "/object_info") == 1


def test_api_workflows_never_ask_for_node_definitions(kit, fake_comfyui):
    assert kit.execute(T2I, {"prompt": "a cat"}).ok
    assert requests_to(fake_comfyui, "/object_info") == 0


def test_a_failed_fetch_is_not_cached(fake_comfyui):
    fake_comfyui.fail_requests("/object_info", status=404)  # e.g. a proxy that hides it
    with ComfyKit(fake_comfyui.url) as kit:
        with pytest.raises(WorkflowLoadError, match="node definitions") as info:
            kit.load_workflow(UI)
        assert "object_info=" in str(info.value)
        assert kit.load_workflow(UI).graph  # the next call asks again
    assert nothing_sent(fake_comfyui)


def test_unreachable_server_names_the_way_to_convert_offline():
    with ComfyKit("http://127.0.0.1:9") as kit:
        with pytest.raises(WorkflowLoadError, match="could not be fetched") as info:
            kit.load_workflow(UI)
    assert "--object-info" in str(info.value)


def test_disk_cache_by_server_and_version(fake_comfyui, tmp_path):
    cache = tmp_path / "cache"
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        assert kit.execute_json(UI, {"prompt": "a"}).ok
    files = list(cache.glob("object_info-*.json"))
    assert len(files) == 1 and "0.3.64" in files[0].name
    assert requests_to(fake_comfyui, "/object_info") == 1
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        assert kit.execute_json(UI, {"prompt": "b"}).ok  # a new process: read from disk
        assert requests_to(fake_comfyui, "/object_info") == 1
        assert requests_to(fake_comfyui, "/system_stats") == 2  # one version probe per kit
        kit.object_info(refresh=True)
        assert requests_to(fake_comfyui, "/object_info") == 2
        kit.load_workflow(UI)  # the refreshed copy is kept in memory
        assert requests_to(fake_comfyui, "/object_info") == 2


def test_disk_cache_from_the_environment(fake_comfyui, tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYKIT_OBJECT_INFO_CACHE_DIR", str(tmp_path / "env-cache"))
    with ComfyKit(fake_comfyui.url) as kit:
        assert kit.config.object_info_cache_dir == str(tmp_path / "env-cache")
        kit.load_workflow(UI)
    assert list((tmp_path / "env-cache").glob("object_info-*.json"))


def test_stale_disk_cache_is_fetched_again_once(fake_comfyui, tmp_path):
    """A node installed after the cache was written (same version): fetched again, once."""
    cache = tmp_path / "cache"
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        kit.object_info()
    (path,) = cache.glob("object_info-*.json")
    document = json.loads(path.read_text())
    del document["object_info"]["PreviewAny"]
    path.write_text(json.dumps(document))
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        assert kit.execute_json(UI, {"prompt": "a"}).ok
        assert requests_to(fake_comfyui, "/object_info") == 2
    assert "PreviewAny" in json.loads(path.read_text())["object_info"]


def test_unreadable_disk_cache_is_ignored(fake_comfyui, tmp_path, caplog):
    cache = tmp_path / "cache"
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        kit.object_info()
    (path,) = cache.glob("object_info-*.json")
    path.write_text("{truncated")
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        assert kit.load_workflow(UI).graph
    assert "unreadable" in caplog.text
    assert "object_info" in json.loads(path.read_text())  # rewritten


def test_the_disk_cache_never_holds_the_server_url(fake_comfyui, tmp_path):
    """A URL may carry credentials (user:password@host); files name servers by a hash."""
    cache = tmp_path / "cache"
    with ComfyKit(fake_comfyui.url, object_info_cache_dir=str(cache)) as kit:
        kit.object_info()
    (path,) = cache.glob("object_info-*.json")
    host = fake_comfyui.url.split("//", 1)[1]
    assert host not in path.read_text() and host not in path.name


# -- offline: object_info= ------------------------------------------------------------------------


def test_offline_conversion_from_a_file_or_dict(object_info_file):
    definitions = json.loads(object_info_file.read_text())
    with ComfyKit("http://127.0.0.1:9", object_info=object_info_file) as kit:
        graph = kit.load_workflow(UI).graph
        assert kit.object_info()["KSampler"] == definitions["KSampler"]
        assert kit.list_params(UI).params["prompt"].required
    with ComfyKit("http://127.0.0.1:9") as kit:
        assert kit.load_workflow(UI, object_info=definitions).graph == graph
        assert kit.load_workflow(UI, object_info=str(object_info_file)).graph == graph


def test_offline_object_info_wins_over_the_server(fake_comfyui, object_info_file):
    with ComfyKit(fake_comfyui.url, object_info=object_info_file) as kit:
        assert kit.execute_json(UI, {"prompt": "a"}).ok
        kit.object_info(refresh=True)
    assert requests_to(fake_comfyui, "/object_info") == 1  # only the fixture's own fetch


@pytest.mark.parametrize(
    "value,needle",
    [
        ("missing.json", "cannot be read"),
        (42, "dict or a JSON file path"),
        ({"KSampler": 3}, "not an /object_info listing"),
    ],
)
def test_bad_object_info_argument(tmp_path, value, needle):
    with pytest.raises(ConfigurationError, match=needle):
        ComfyKit("http://127.0.0.1:9", object_info=value)
    with ComfyKit("http://127.0.0.1:9") as kit, pytest.raises(ConfigurationError, match=needle):
        kit.load_workflow(UI, object_info=value)


def test_object_info_file_that_is_not_json(tmp_path):
    path = tmp_path / "object_info.json"
    path.write_text("<html>")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        ComfyKit("http://127.0.0.1:9", object_info=path)


# -- refusal before anything is sent ------------------------------------------------------------


def test_a_node_type_the_server_lacks_is_refused_before_sending(kit, fake_comfyui):
    ui, _ = text_to_image()
    ui.add(11, "FancyInvert", title="Fancy invert", outputs=("IMAGE",))
    ui.connect(8, 0, 11, "image", "IMAGE")
    with pytest.raises(UIConversionError) as info:
        kit.execute_json(ui.workflow(), {"prompt": "a cat"})
    error = info.value
    assert (error.node_id, error.title, error.node_type) == ("11", "Fancy invert", "FancyInvert")
    assert "11" in str(error) and "Fancy invert" in str(error) and "FancyInvert" in str(error)
    assert isinstance(error, WorkflowLoadError)
    assert nothing_sent(fake_comfyui)


def test_a_legacy_group_node_is_refused_before_sending(kit, fake_comfyui):
    ui, _ = text_to_image()
    ui.add(11, "workflow>Upscale", title="My group", outputs=("IMAGE",))
    ui.connect(8, 0, 11, "image", "IMAGE")
    workflow = ui.workflow()
    workflow["extra"]["groupNodes"] = {"Upscale": {"nodes": [], "links": [], "external": []}}
    with pytest.raises(UIConversionError, match="group node") as info:
        kit.execute_json(workflow, {"prompt": "a cat"})
    assert (info.value.node_id, info.value.title) == ("11", "My group")
    assert info.value.node_type == "workflow>Upscale"
    assert nothing_sent(fake_comfyui)


def test_a_ui_workflow_with_nothing_to_run_is_refused(kit, fake_comfyui):
    ui, _ = text_to_image()
    for node in ui.nodes:
        node["mode"] = 2  # muted
    with pytest.raises(WorkflowLoadError, match="no nodes to run"):
        kit.execute_json(ui.workflow(), {"prompt": "a"})
    assert nothing_sent(fake_comfyui)


def test_refusal_names_the_source(kit, tmp_path):
    ui = saved_text_to_image()
    ui["nodes"][0]["type"] = "NoSuchLoader"
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(ui))
    with pytest.raises(UIConversionError, match="saved.json"):
        kit.load_workflow(path)


def test_without_the_ui_loader_plugin_the_old_hint_is_given(fake_comfyui):
    pm = make_plugin_manager(autoload=False, blocked=("comfykit_sync.loaders.ui",))
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        with pytest.raises(WorkflowLoadError, match=r"Save \(API Format\)"):
            kit.execute_json(UI, {"prompt": "a"})
    assert nothing_sent(fake_comfyui)


def test_a_third_party_loader_returning_ui_format_is_converted(fake_comfyui):
    from comfykit_sync import Workflow, hookimpl

    class Presets:
        @hookimpl
        def comfykit_load_workflow(self, source: Any) -> Workflow | None:
            if source != "preset:t2i":
                return None
            return Workflow(graph=UI, source=source)

    pm = make_plugin_manager(autoload=False)
    pm.register(Presets())
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        assert kit.load_workflow("preset:t2i").graph["3"]["class_type"] == "KSampler"
        assert kit.execute("preset:t2i", {"prompt": "a"}).ok


# -- DSL markers in UI titles ----------------------------------------------------------------------


def test_marker_errors_name_the_node_and_field(kit, fake_comfyui):
    ui = saved_text_to_image(prompt_title="$prompt.txt!")
    with pytest.raises(DSLError) as info:
        kit.execute_json(ui, {"prompt": "a"})
    assert info.value.node_id == "6" and info.value.field == "txt"
    assert "'6'" in str(info.value) and "txt" in str(info.value)
    problems = lint_graph(kit.load_workflow(ui).graph)
    assert [(p.node_id, p.field) for p in problems] == [("6", "txt")]
    assert nothing_sent(fake_comfyui)


def test_output_names_come_from_ui_titles(kit):
    ui, _ = text_to_image()
    ui.node(9)["title"] = "Final, $output.cover"
    result = kit.execute_json(ui.workflow(), {"prompt": "a"})
    assert list(result.images_by_var) == ["cover"]


def subgraph_workflow(inner_title: str = "$prompt.text!") -> dict[str, Any]:
    """text_to_image with the positive prompt inside a subgraph placed as node 20."""
    return saved_text_to_image(prompt_title=inner_title, positive_in_subgraph=True)


def test_markers_inside_a_subgraph_use_outer_inner_ids(kit, fake_comfyui):
    workflow = subgraph_workflow()
    spec = kit.list_params(workflow)
    assert [(t.node_id, t.field) for t in spec.params["prompt"].targets] == [("20:6", "text")]
    assert spec.params["prompt"].required
    result = kit.execute_json(workflow, {"prompt": "a heron"})
    assert result.ok, result.msg
    assert fake_comfyui.prompts[result.prompt_id].graph["20:6"]["inputs"]["text"] == "a heron"
    assert result.texts_by_var == {"caption": ["a heron"]}


def test_marker_errors_inside_a_subgraph_name_the_outer_inner_id(kit):
    with pytest.raises(DSLError) as info:
        kit.list_params(subgraph_workflow("$prompt.txt"))
    assert info.value.node_id == "20:6" and "'20:6'" in str(info.value)


def primitive_workflow(title: str, targets: tuple[tuple[int, str], ...]) -> dict[str, Any]:
    """text_to_image plus a PrimitiveNode (titled ``title``) feeding ``targets``."""
    ui, _ = text_to_image(sampler_title="Sampler, $steps")
    ui.add(12, "PrimitiveNode", [7, "fixed"], title=title, outputs=("INT",))
    for target, name in targets:
        ui.connect(12, 0, target, name, "INT", widget=True)
    return ui.workflow()


def test_a_marker_on_a_primitive_binds_every_input_it_feeds(kit, fake_comfyui):
    ui, _ = text_to_image(sampler_title="Sampler")
    ui.add(11, "EmptyLatentImage", [512, 512, 1], title="Second latent", outputs=("LATENT",))
    ui.add(12, "PrimitiveNode", [640, "fixed"], title="Size, $size", outputs=("INT",))
    ui.connect(12, 0, 5, "width", "INT", widget=True)
    ui.connect(12, 0, 5, "height", "INT", widget=True)
    ui.connect(12, 0, 11, "width", "INT", widget=True)
    ui.node(5)["title"] = "Size"
    workflow = ui.workflow()
    spec = kit.list_params(workflow)
    size = spec.params["size"]
    assert size.type == "int" and size.default == 640 and not size.required
    assert sorted((t.node_id, t.field) for t in size.targets) == [
        ("11", "width"),
        ("5", "height"),
        ("5", "width"),
    ]
    result = kit.execute_json(workflow, {"prompt": "a", "size": 768})
    sent = fake_comfyui.prompts[result.prompt_id].graph
    assert sent["5"]["inputs"]["width"] == sent["5"]["inputs"]["height"] == 768
    assert sent["11"]["inputs"]["width"] == 768
    result = kit.execute_json(workflow, {"prompt": "a"})  # omitted: the primitive's value
    assert fake_comfyui.prompts[result.prompt_id].graph["5"]["inputs"]["width"] == 640


def test_primitive_marker_forms(kit):
    for title in ("$seed!", "$seed.seed!", "$seed.value!:the seed"):
        spec = kit.list_params(primitive_workflow(title, ((3, "seed"),)))
        seed = spec.params["seed"]
        assert seed.required and [(t.node_id, t.field) for t in seed.targets] == [("3", "seed")]
    spec = kit.list_params(primitive_workflow("$s.value:the seed", ((3, "seed"),)))
    assert spec.params["s"].description == "the seed"


@pytest.mark.parametrize(
    "title,targets,needle",
    [
        ("$seed.steps", ((3, "seed"),), "feeds 'seed'"),
        ("$output.x", ((3, "seed"),), "produces no results"),
        ("$9seed", ((3, "seed"),), "invalid parameter name"),
    ],
)
def test_primitive_marker_errors_name_the_primitive(kit, fake_comfyui, title, targets, needle):
    with pytest.raises(DSLError, match=needle) as info:
        kit.execute_json(primitive_workflow(title, targets), {"prompt": "a"})
    assert info.value.node_id == "12" and "PrimitiveNode" in str(info.value)
    assert nothing_sent(fake_comfyui)


def test_a_marker_on_a_primitive_inside_a_subgraph(kit, fake_comfyui):
    ui, (encode,) = text_to_image(prompt_title="Positive", positive_in_subgraph=True)
    encode.add(12, "PrimitiveNode", ["a cat", "fixed"], title="$prompt!", outputs=("STRING",))
    encode.connect(12, 0, 6, "text", "STRING", widget=True)
    workflow = ui.workflow(encode)
    [target] = kit.list_params(workflow).params["prompt"].targets
    assert (target.node_id, target.field) == ("20:6", "text")
    result = kit.execute_json(workflow, {"prompt": "a crane"})
    assert fake_comfyui.prompts[result.prompt_id].graph["20:6"]["inputs"]["text"] == "a crane"
    encode.node(12)["title"] = "$prompt.txt"
    with pytest.raises(DSLError) as info:
        kit.list_params(ui.workflow(encode))
    assert (info.value.node_id, info.value.field) == ("20:12", "txt")


def test_a_marker_on_a_primitive_that_feeds_only_muted_nodes_is_an_error(kit, fake_comfyui):
    ui, _ = text_to_image()
    ui.add(11, "EmptyLatentImage", [512, 512, 1], mode=2, title="Muted", outputs=("LATENT",))
    ui.add(12, "PrimitiveNode", [640, "fixed"], title="$size", outputs=("INT",))
    ui.connect(12, 0, 11, "width", "INT", widget=True)
    with pytest.raises(DSLError, match="would set nothing") as info:
        kit.execute_json(ui.workflow(), {"prompt": "a"})
    assert info.value.node_id == "12"
    assert nothing_sent(fake_comfyui)


# -- the fake server's node definitions ----------------------------------------------------------


@pytest.mark.skipif(not SHARED_OBJECT_INFO.is_file(), reason="needs ../shared/ui-oracle")
def test_fake_definitions_are_the_real_servers(kit):
    """Definitions copied from the real 0.3.64 snapshot are served as the real server did.

    Only upload combos (listing the fake's input folder) and empty model lists differ.
    """
    from comfykit_sync.testing._nodes import FAKE_MODELS, SNAPSHOT

    real = json.loads(SHARED_OBJECT_INFO.read_text())
    copied = json.loads(SNAPSHOT.read_text())
    assert copied == {name: real[name] for name in copied}
    served = kit.object_info()
    input_images = served["LoadImage"]["input"]["required"]["image"][0]

    def adapted(spec: list[Any]) -> list[Any]:
        kind, options = spec[0], spec[1] if len(spec) > 1 else {}
        if options.get("image_upload") and isinstance(kind, list):
            return [input_images, options]
        if kind == []:
            return [FAKE_MODELS, *spec[1:]]
        if options.get("options") == []:
            return [kind, {**options, "options": FAKE_MODELS}]
        return spec

    for name, entry in copied.items():
        expected = json.loads(json.dumps(entry))
        for kind, section in expected["input"].items():
            for key, spec in section.items():
                section[key] = spec if kind == "hidden" else adapted(spec)  # hidden: type names
        rendered = json.loads(json.dumps(served[name]))
        assert rendered.pop("is_input_list") is False
        assert rendered == expected, name
