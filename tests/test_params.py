"""Parameter specs, validation and coercion, binding, fan-out, seeds and upload sources."""

from __future__ import annotations

import io
import math
import pathlib
import random
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfykit_sync.errors import (
    ConfigurationError,
    DSLError,
    ParameterError,
    WorkflowError,
)
from comfykit_sync.params import (
    MAX_SEED,
    ParamSpec,
    ParamTarget,
    UploadSource,
    WorkflowSpec,
    apply_params,
    parse_workflow,
    randomize_seeds,
    shared_spec,
    validate_params,
)


def node(title: str, class_type: str = "Node", **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def spec_of(**nodes: dict[str, Any]) -> WorkflowSpec:
    return parse_workflow(nodes)


# ---------------------------------------------------------------------------------------------
# The spec objects


def test_spec_is_immutable_and_in_declaration_order() -> None:
    spec = parse_workflow(
        {
            "2": node("$b, $a", b=1, a=2),
            "1": node("$c!", c="x"),
        }
    )
    assert list(spec.params) == ["b", "a", "c"]
    assert isinstance(spec.params, MappingProxyType)
    with pytest.raises(TypeError):
        spec.params["x"] = spec.params["a"]  # type: ignore[index]
    assert spec.params["c"] == ParamSpec(
        name="c",
        type="str",
        required=True,
        default=None,
        upload=False,
        targets=(ParamTarget("1", "c", "Node", False, "x"),),
        description=None,
    )


def test_shared_spec_is_remembered_by_content() -> None:
    graph = {"1": node("Sampler, $seed, $steps", seed=1, steps=20), "2": node("$output.img")}
    spec = shared_spec(graph)
    assert spec == parse_workflow(graph)
    assert shared_spec({k: dict(v) for k, v in graph.items()}) is spec  # an equal copy
    graph["1"]["inputs"]["steps"] = 30  # another default: another spec
    assert shared_spec(graph).params["steps"].default == 30
    graph["1"]["_meta"]["title"] = "$seed"
    assert list(shared_spec(graph).params) == ["seed"]
    assert list(shared_spec(dict(reversed(graph.items()))).outputs) == ["2"]
    with pytest.raises(DSLError):  # errors are raised every time, never remembered
        shared_spec({"1": node("$9x", seed=1)})
    with pytest.raises(DSLError):
        shared_spec({"1": node("$9x", seed=1)})


def test_shared_spec_of_a_graph_holding_objects_is_parsed_each_time() -> None:
    graph = {"1": node("$value", value=1), "2": {"class_type": "X", "inputs": {"o": object()}}}
    assert shared_spec(graph) == parse_workflow(graph)
    assert shared_spec(graph) is not shared_spec(graph)


def test_output_var_and_param_for() -> None:
    spec = parse_workflow(
        {
            "9": node("$output.cover", "SaveImage", filename_prefix="x"),
            "3": node("$seed, $cfg.cfg", "KSampler", seed=1, cfg=7.0),
            "5": {"class_type": "PreviewImage", "inputs": {}},
        }
    )
    assert spec.output_var("9") == "cover"
    assert spec.output_var("5") == "5"
    assert spec.param_for("3", "seed") == "seed"
    assert spec.param_for("3", "cfg") == "cfg"
    assert spec.param_for("3", "steps") is None
    assert spec.param_for("9", "filename_prefix") is None


def test_nodes_without_meta_or_that_are_not_objects_have_no_markers() -> None:
    spec = parse_workflow(
        {
            "1": "not a node",
            "2": {"class_type": "KSampler", "inputs": {"seed": 0}},
            "3": {"class_type": "KSampler", "inputs": {"seed": 0}, "_meta": {"title": 5}},
            "4": {"class_type": "KSampler", "inputs": {"seed": 0}, "_meta": "$seed"},
        }
    )
    assert spec == WorkflowSpec()


def test_non_mapping_graph_and_non_string_node_ids_are_workflow_errors() -> None:
    with pytest.raises(WorkflowError, match="JSON object"):
        parse_workflow(["not", "a", "graph"])  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match="node ids must be strings"):
        parse_workflow({1: node("$seed", seed=1)})  # type: ignore[dict-item]


def test_description_is_kept_and_whitespace_before_colon_is_allowed() -> None:
    spec = spec_of(**{"1": node("$prompt.text! : the prompt", text="x")})
    assert spec.params["prompt"].required
    assert spec.params["prompt"].description == "the prompt"


def test_unicode_and_dashed_names_are_valid() -> None:
    spec = spec_of(**{"1": node("$提示词.text, $neg-prompt.other", text="x", other="y")})
    assert list(spec.params) == ["提示词", "neg-prompt"]


def test_missing_field_error_names_node_class_field_and_inputs() -> None:
    with pytest.raises(DSLError) as info:
        parse_workflow({"4": node("$video", "LoadVideo", file="a.mp4")})
    err = info.value
    assert (err.node_id, err.field) == ("4", "video")
    assert "LoadVideo" in str(err) and "'file'" in str(err) and "'$video'" in str(err)


def test_two_output_markers_on_one_node_are_an_error() -> None:
    with pytest.raises(DSLError, match="more than one"):
        parse_workflow({"1": node("$output.a, $output.b")})


@pytest.mark.parametrize("title", ["$output", "A, $output", "$output.  "])
def test_output_marker_without_name_is_an_error(title: str) -> None:
    with pytest.raises(DSLError, match="without a name"):
        parse_workflow({"1": node(title)})


def test_exact_output_title_keeps_its_remainder_verbatim() -> None:
    spec = parse_workflow({"1": node("$output.my cover ")})
    assert spec.outputs == {"1": "my cover "}


@pytest.mark.parametrize(
    ("class_type", "field", "upload"),
    [
        ("LoadImage", "image", True),
        ("LoadImageMask", "image", True),
        ("LoadAudio", "audio", True),
        ("LoadVideo", "file", True),
        ("VHS_LoadVideo", "video", True),
        ("VHS_LoadAudioUpload", "audio", True),
        ("LoadImage", "upload", False),  # a non-file input of a loader
        ("ImageScale", "image", False),
    ],
)
def test_media_loader_file_inputs_are_uploads(class_type: str, field: str, upload: bool) -> None:
    spec = spec_of(**{"1": node(f"$x.{field}", class_type, **{field: "a"})})
    assert spec.params["x"].upload is upload
    assert spec.params["x"].targets[0].upload is upload


def test_same_param_twice_on_one_input_warns_and_binds_once() -> None:
    spec = spec_of(**{"1": node("$seed, $seed", seed=1)})
    assert len(spec.params["seed"].targets) == 1
    assert len(spec.warnings) == 1 and "declared twice" in spec.warnings[0]


def test_two_params_on_one_input_are_an_error() -> None:
    with pytest.raises(DSLError, match="bound to both 'a' and 'b'"):
        parse_workflow({"1": node("$a.x, $b.x", x=1)})


# ---------------------------------------------------------------------------------------------
# Fan-out


def fan_out_graph() -> dict[str, Any]:
    return {
        "1": node("$seed", "KSampler", seed=1, steps=20),
        "2": node("$seed", "KSampler", seed=2, steps=30),
    }


def test_fan_out_writes_a_supplied_value_to_every_target() -> None:
    graph = fan_out_graph()
    spec = parse_workflow(graph)
    assert [t.node_id for t in spec.params["seed"].targets] == ["1", "2"]
    assert [t.default for t in spec.params["seed"].targets] == [1, 2]
    assert spec.params["seed"].default == 1
    applied = apply_params(graph, spec, validate_params(spec, {"seed": 7}))
    assert [applied[n]["inputs"]["seed"] for n in ("1", "2")] == [7, 7]


def test_fan_out_omitted_value_leaves_each_node_its_own_value() -> None:
    graph = fan_out_graph()
    spec = parse_workflow(graph)
    applied = apply_params(graph, spec, validate_params(spec, {}))
    assert [applied[n]["inputs"]["seed"] for n in ("1", "2")] == [1, 2]


def test_fan_out_is_required_if_any_declaration_is() -> None:
    spec = parse_workflow({"1": node("$seed", seed=1), "2": node("$seed!", seed=2)})
    assert spec.params["seed"].required
    assert spec.params["seed"].default == 1  # the first optional declaration
    with pytest.raises(ParameterError, match="missing required parameter"):
        validate_params(spec, {})


def test_fan_out_default_is_first_optional_declaration() -> None:
    spec = parse_workflow({"1": node("$seed!", seed=1), "2": node("$seed", seed=2)})
    assert spec.params["seed"].default == 2


def test_fan_out_int_and_float_unify_to_float() -> None:
    spec = parse_workflow({"1": node("$v", v=1), "2": node("$v", v=1.5)})
    assert spec.params["v"].type == "float"
    assert validate_params(spec, {"v": 2}) == {"v": 2.0}


def test_fan_out_linked_declaration_takes_the_other_type() -> None:
    spec = parse_workflow({"1": node("$w!", w=["5", 0]), "2": node("$w", w=512)})
    assert spec.params["w"].type == "int"


def test_fan_out_type_conflict_names_both_nodes() -> None:
    with pytest.raises(DSLError, match=r"'v' is int on node '1' but str on node '2'") as info:
        parse_workflow({"1": node("$v", v=1), "2": node("$v", v="x")})
    assert info.value.node_id == "2"


def test_fan_out_upload_conflict_names_both_nodes() -> None:
    graph = {
        "1": node("$img.image", "LoadImage", image="a.png"),
        "2": node("$img.image", image="b"),
    }
    with pytest.raises(DSLError, match=r"upload on node '1' but not on node '2'"):
        parse_workflow(graph)


def test_fan_out_to_two_inputs_of_one_node() -> None:
    graph = {"1": node("$size.width, $size.height", "EmptyLatentImage", width=512, height=512)}
    spec = parse_workflow(graph)
    applied = apply_params(graph, spec, validate_params(spec, {"size": 768}))
    assert applied["1"]["inputs"] == {"width": 768, "height": 768}


# ---------------------------------------------------------------------------------------------
# Validation


def typed_spec() -> WorkflowSpec:
    return parse_workflow(
        {
            "1": node(
                "$steps, $cfg, $flag, $text, $obj, $link!, $must!, $also!",
                steps=20,
                cfg=7.5,
                flag=True,
                text="x",
                obj={"a": 1},
                link=["2", 0],
                must=1,
                also="y",
            )
        }
    )


def test_missing_required_params_are_listed_together() -> None:
    with pytest.raises(ParameterError) as info:
        validate_params(typed_spec(), {"steps": 1})
    assert info.value.params == ("link", "must", "also")
    assert "missing required parameter(s) link, must, also" in str(info.value)


def test_unknown_params_list_unknown_and_known_names() -> None:
    spec = spec_of(**{"1": node("$seed, $steps", seed=1, steps=2)})
    with pytest.raises(ParameterError) as info:
        validate_params(spec, {"sed": 1, "step": 2, "seed": 3})
    assert info.value.params == ("sed", "step")
    assert "unknown parameter(s) sed, step" in str(info.value)
    assert "seed, steps" in str(info.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ParameterError) as info:
        validate_params(typed_spec(), {1: 2, "nope": 3, "steps": "many", "link": 1, "must": 1})
    assert info.value.params == ("1", "nope", "also", "steps")
    message = str(info.value)
    for part in ("must be strings", "unknown", "missing", "'steps': expected int, got str 'many'"):
        assert part in message


def test_params_none_and_empty() -> None:
    spec = spec_of(**{"1": node("$seed", seed=1)})
    assert validate_params(spec, None) == {}
    assert validate_params(spec, {}) == {}


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(ParameterError, match="must be a mapping"):
        validate_params(WorkflowSpec(), [("a", 1)])  # type: ignore[arg-type]


def test_only_supplied_params_are_returned() -> None:
    assert validate_params(typed_spec(), {"link": 5, "must": "3", "also": 4}) == {
        "link": 5,
        "must": 3,
        "also": "4",
    }


ACCEPTED = [
    ("steps", 5, 5),
    ("steps", 5.0, 5),
    ("steps", "20", 20),
    ("steps", " -3 ", -3),
    ("cfg", 7, 7.0),
    ("cfg", 6.5, 6.5),
    ("cfg", "1e-3", 0.001),
    ("flag", False, False),
    ("flag", 1, True),
    ("flag", 0, False),
    ("flag", "TRUE", True),
    ("flag", "false", False),
    ("flag", "1", True),
    ("flag", "0", False),
    ("flag", " Yes ", True),
    ("flag", "no", False),
    ("flag", "On", True),
    ("flag", "off", False),
    ("text", "hello", "hello"),
    ("text", 3, "3"),
    ("text", 2.5, "2.5"),
    ("obj", {"b": [1, 2]}, {"b": [1, 2]}),
    ("obj", None, None),
    ("link", ["3", 0], ["3", 0]),
    ("link", "anything", "anything"),
]


@pytest.mark.parametrize(("name", "value", "expected"), ACCEPTED)
def test_coercion_accepts(name: str, value: Any, expected: Any) -> None:
    params = {"link": 0, "must": 0, "also": "", name: value}
    result = validate_params(typed_spec(), params)[name]
    assert result == expected and type(result) is type(expected)


REJECTED = [
    ("steps", True, "expected int, got bool"),
    ("steps", 2.5, "expected int, got float"),
    ("steps", "2.5", "expected int, got str '2.5'"),
    ("steps", "abc", "expected int"),
    ("steps", [1], "expected int, got list"),
    ("steps", None, "expected int, got NoneType"),
    ("steps", "9" * 5000, "expected int"),
    ("cfg", True, "expected a finite float, got bool"),
    ("cfg", "fast", "expected a finite float"),
    ("cfg", math.nan, "expected a finite float"),
    ("cfg", "inf", "expected a finite float"),
    ("cfg", 10**400, "expected a finite float"),
    ("cfg", [1.0], "expected a finite float, got list"),
    ("flag", 2, "expected bool"),
    ("flag", "maybe", "expected bool"),
    ("flag", 1.0, "expected bool"),
    ("flag", [True], "expected bool"),
    ("text", True, "expected str, got bool"),
    ("text", ["a"], "expected str, got list"),
    ("text", {"a": 1}, "expected str, got dict"),
    ("text", b"x", "expected str, got bytes"),
    ("text", None, "expected str, got NoneType"),
    pytest.param("text", 10**5000, "expected str, got int", id="text-huge-int"),
    ("obj", b"x", "JSON-serialisable"),
    ("obj", {1j: 1}, "JSON-serialisable"),
    ("obj", math.inf, "JSON-serialisable"),
    ("link", object(), "JSON-serialisable"),
]


@pytest.mark.parametrize(("name", "value", "message"), REJECTED)
def test_coercion_rejects(name: str, value: Any, message: str) -> None:
    params = {"link": 0, "must": 0, "also": "", name: value}
    with pytest.raises(ParameterError, match=f"parameter '{name}': ") as info:
        validate_params(typed_spec(), params)
    assert message in str(info.value)
    assert info.value.params == (name,)


# ---------------------------------------------------------------------------------------------
# Upload sources


def upload_spec() -> WorkflowSpec:
    return spec_of(**{"1": node("$img.image", "LoadImage", image="example.png")})


def upload(value: Any) -> Any:
    return validate_params(upload_spec(), {"img": value})["img"]


def test_upload_url() -> None:
    assert upload("https://example.com/a/b/cat%20one.png?x=1") == UploadSource(
        "url", "https://example.com/a/b/cat%20one.png?x=1", "cat one.png"
    )
    assert upload("HTTP://example.com/") == UploadSource("url", "HTTP://example.com/", None)


def test_upload_invalid_url() -> None:
    with pytest.raises(ParameterError, match="invalid URL"):
        upload("http://[::1")


def test_upload_existing_local_paths(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "cat.png"
    file.write_bytes(b"png")
    assert upload(str(file)) == UploadSource("path", str(file), "cat.png")
    assert upload(file) == UploadSource("path", str(file), "cat.png")
    monkeypatch.chdir(tmp_path)
    assert upload("cat.png") == UploadSource("path", "cat.png", "cat.png")
    assert upload("./cat.png") == UploadSource("path", "./cat.png", "cat.png")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert upload("~/cat.png") == UploadSource("path", str(file), "cat.png")


@pytest.mark.parametrize("value", ["/nonexistent/cat.png", "./cat.png", "../cat.png", "~/cat.png"])
def test_upload_explicit_local_path_must_exist(
    value: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ParameterError, match=f"parameter 'img': upload file not found: {value}"):
        upload(value)


def test_upload_missing_pathlike(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "gone.png"
    with pytest.raises(ParameterError, match="upload file not found") as info:
        upload(missing)
    assert info.value.params == ("img",)
    with pytest.raises(ParameterError, match="upload file not found"):
        upload(tmp_path)  # a directory is not a file


@pytest.mark.parametrize("value", ["cat.png", "sub/cat.png", "pasted/image (1).png"])
def test_upload_server_file_names_are_kept(
    value: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert upload(value) == value


@pytest.mark.parametrize("value", [b"\x89PNG", bytearray(b"\x89PNG"), memoryview(b"\x89PNG")])
def test_upload_bytes(value: Any) -> None:
    assert upload(value) == UploadSource("bytes", b"\x89PNG", None)


def test_upload_file_objects(tmp_path: pathlib.Path) -> None:
    buffer = io.BytesIO(b"data")
    assert upload(buffer) == UploadSource("file", buffer, None)
    file = tmp_path / "dog.jpg"
    file.write_bytes(b"jpg")
    with file.open("rb") as handle:
        assert upload(handle) == UploadSource("file", handle, "dog.jpg")


@pytest.mark.parametrize("value", [1, 2.5, True, None, ["a.png"], {"a": 1}])
def test_upload_other_types_are_rejected(value: Any) -> None:
    with pytest.raises(ParameterError, match="parameter 'img': expected a URL, path"):
        upload(value)


def test_tilde_marked_upload_on_any_class() -> None:
    spec = spec_of(**{"1": node("$~clip.path", "CustomLoader", path="x.bin")})
    assert validate_params(spec, {"clip": b"x"}) == {"clip": UploadSource("bytes", b"x", None)}


# ---------------------------------------------------------------------------------------------
# Binding


def test_apply_params_deep_copies_and_never_mutates() -> None:
    graph = {
        "1": node("$prompt.text, $obj", text="a", obj={"k": [1]}),
        "2": {"class_type": "Other", "inputs": {"nested": {"x": [1]}}},
    }
    spec = parse_workflow(graph)
    value = {"k": [2]}
    applied = apply_params(graph, spec, validate_params(spec, {"prompt": "b", "obj": value}))
    assert applied["1"]["inputs"] == {"text": "b", "obj": {"k": [2]}}
    assert graph["1"]["inputs"] == {"text": "a", "obj": {"k": [1]}}
    assert applied["2"] == graph["2"] and applied["2"]["inputs"] is not graph["2"]["inputs"]
    value["k"].append(3)
    assert applied["1"]["inputs"]["obj"] == {"k": [2]}


def test_apply_params_copies_other_mappings_and_tuples_deeply() -> None:
    shared = [1, 2]
    graph = {"1": {"class_type": "Other", "inputs": {"a": shared, "b": shared, "t": ([3],)}}}
    graph["2"] = OrderedDict(class_type="Ordered", inputs={"x": [4]})
    applied = apply_params(graph, WorkflowSpec(), {})
    assert applied == graph
    assert applied["1"]["inputs"]["a"] is not shared and applied["1"]["inputs"]["t"][0] == [3]
    assert applied["1"]["inputs"]["t"][0] is not graph["1"]["inputs"]["t"][0]
    assert type(applied["2"]) is OrderedDict and applied["2"]["inputs"] is not graph["2"]["inputs"]


def test_a_graph_that_contains_itself_is_a_workflow_error_before_sending() -> None:
    graph: dict[str, Any] = {"1": {"class_type": "Node", "inputs": {}}}
    graph["1"]["inputs"]["loop"] = graph["1"]
    with pytest.raises(WorkflowError, match="contains itself"):
        apply_params(graph, WorkflowSpec(), {})


def test_apply_params_creates_missing_inputs() -> None:
    graph = {"1": node("$seed", seed=5)}
    spec = parse_workflow(graph)
    applied = apply_params({"1": {"class_type": "Node"}}, spec, {"seed": 9})
    assert applied["1"]["inputs"] == {"seed": 9}


def test_apply_params_rejects_unresolved_uploads() -> None:
    spec = upload_spec()
    with pytest.raises(ParameterError, match="unresolved bytes upload") as info:
        apply_params({"1": {}}, spec, {"img": UploadSource("bytes", b"x", None)})
    assert info.value.params == ("img",)


def test_apply_params_with_resolved_upload_name() -> None:
    graph = {"1": node("$img.image", "LoadImage", image="example.png")}
    applied = apply_params(graph, parse_workflow(graph), {"img": "uploaded (1).png"})
    assert applied["1"]["inputs"]["image"] == "uploaded (1).png"


def test_apply_params_errors_for_a_foreign_graph_or_name() -> None:
    spec = spec_of(**{"1": node("$seed", seed=5)})
    with pytest.raises(WorkflowError, match="node '1'"):
        apply_params({}, spec, {"seed": 1})
    with pytest.raises(ParameterError, match="unknown parameter 'x'"):
        apply_params({}, spec, {"x": 1})
    with pytest.raises(WorkflowError, match="JSON object"):
        apply_params(None, spec, {})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Seeds


def seed_graph() -> dict[str, Any]:
    return {
        "1": {"class_type": "KSampler", "inputs": {"seed": 0}},
        "2": {"class_type": "KSampler", "inputs": {"seed": " 0 "}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 42}},
        "4": {"class_type": "RandomNoise", "inputs": {"noise_seed": 0}},
        "5": {"class_type": "KSampler", "inputs": {"seed": False}},
        "6": {"class_type": "KSampler", "inputs": {"seed": ["9", 0]}},
        "7": {"class_type": "KSampler", "inputs": {"seed": "5"}},
        "8": "not a node",
        "9": {"class_type": "Note"},
    }


def test_seed_policy_zero() -> None:
    graph = seed_graph()
    used = randomize_seeds(graph, rng=random.Random(1))
    expected = random.Random(1)
    first, second = expected.randint(0, MAX_SEED), expected.randint(0, MAX_SEED)
    assert graph["1"]["inputs"]["seed"] == first
    assert graph["2"]["inputs"]["seed"] == second
    assert graph["3"]["inputs"]["seed"] == 42
    assert graph["4"]["inputs"]["noise_seed"] == 0  # noise_seed is reported, not randomized
    assert graph["5"]["inputs"]["seed"] is False
    assert graph["7"]["inputs"]["seed"] == "5"
    assert used == {"1": first, "2": second, "3": 42, "4": 0}


def test_seed_policy_off() -> None:
    graph = seed_graph()
    assert randomize_seeds(graph, policy="off") == {"1": 0, "3": 42, "4": 0}
    assert graph == seed_graph()


def test_seed_policy_always() -> None:
    graph = seed_graph()
    used = randomize_seeds(graph, policy="always", rng=random.Random(3))
    expected = random.Random(3)
    first, third = expected.randint(0, MAX_SEED), expected.randint(0, MAX_SEED)
    assert used == {"1": first, "3": third, "4": 0}
    assert graph["2"]["inputs"]["seed"] == " 0 "
    assert graph["3"]["inputs"]["seed"] == third


def test_seed_prefers_seed_over_noise_seed() -> None:
    graph = {"1": {"inputs": {"noise_seed": 3, "seed": 4}}}
    assert randomize_seeds(graph, policy="off") == {"1": 4}


def test_seed_default_rng_is_in_range() -> None:
    graph = {str(i): {"inputs": {"seed": 0}} for i in range(20)}
    used = randomize_seeds(graph)
    assert all(0 <= v <= MAX_SEED for v in used.values())
    assert len(set(used.values())) > 1


def test_unknown_seed_policy() -> None:
    with pytest.raises(ConfigurationError, match="seed policy"):
        randomize_seeds({}, policy="sometimes")


# ---------------------------------------------------------------------------------------------
# Property: bad input only ever raises our errors

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
links = st.tuples(st.text(max_size=2), st.integers(0, 3)).map(list)
MARKERS = ["$a", "$b!", "$~image", "$img.image", "$x.b.c", "$a.seed", "$seed", "$seed!", "$a:d!"]
titles = st.one_of(
    st.lists(st.sampled_from([*MARKERS, "$output.o", "Text"]), min_size=1, max_size=3).map(
        ", ".join
    ),
    st.text(alphabet="$~!.:, abx_-0é中", max_size=20),
    st.integers(),
    st.none(),
)


@st.composite
def nodes(draw: st.DrawFn) -> Any:
    """Mostly well-formed nodes whose inputs usually hold the fields their markers name."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(json_scalars)
    present = [k for k in ("a", "b", "image", "b.c", "seed", "", " a b") if draw(st.integers(0, 5))]
    node: dict[str, Any] = {
        "class_type": draw(st.sampled_from(["LoadImage", "KSampler", "SaveImage", "", 3])),
        "inputs": {k: draw(st.one_of(json_scalars, links, json_values)) for k in present},
    }
    if shape == 1:
        node["inputs"] = draw(json_values)
    if shape != 2:
        node["_meta"] = {"title": draw(titles)} if shape != 3 else draw(json_values)
    return node


graphs = st.dictionaries(st.sampled_from(["1", "2", "3"]), nodes(), max_size=3)
any_values = st.one_of(
    json_values,
    st.binary(max_size=4),
    st.text(max_size=6).map(pathlib.Path),
    st.sampled_from(["https://h/x.png", "http://[::1", "./nope.png", "~/nope", "/nope", "cat.png"]),
    st.builds(io.BytesIO),
)
fitting_values = {
    "int": st.integers() | st.integers().map(str),
    "float": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 9),
    "bool": st.booleans() | st.sampled_from(["yes", "Off", "1", 0]),
    "str": st.text(max_size=8) | st.integers(),
    "object": json_values,
    "any": json_values,
}
any_params = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "img", "seed", "z"]) | st.integers(), any_values),
    st.none(),
    st.integers(),
)


def params_for(spec: WorkflowSpec) -> st.SearchStrategy[dict[str, Any]]:
    """Params for spec's names, with values that often (not always) fit their parameter."""
    strategies = {
        name: (st.sampled_from(["cat.png", "s/x.png"]) if p.upload else fitting_values[p.type])
        | any_values
        for name, p in spec.params.items()
    }
    required = {n: s for n, s in strategies.items() if spec.params[n].required}
    return st.fixed_dictionaries(
        required, optional={n: s for n, s in strategies.items() if n not in required}
    )


@settings(max_examples=500, deadline=None)
@given(graph=graphs, data=st.data())
def test_bad_input_only_raises_our_errors(graph: dict[str, Any], data: st.DataObject) -> None:
    try:
        spec = parse_workflow(graph)
    except (DSLError, WorkflowError):
        return
    try:
        values = validate_params(
            spec, data.draw(params_for(spec) if data.draw(st.booleans()) else any_params)
        )
    except ParameterError:
        return
    if any(isinstance(v, UploadSource) for v in values.values()):
        return
    applied = apply_params(graph, spec, values)
    for name, value in values.items():
        for target in spec.params[name].targets:
            assert applied[target.node_id]["inputs"][target.field] == value
    assert isinstance(randomize_seeds(applied, rng=random.Random(0)), Mapping)
