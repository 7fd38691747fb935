"""The node-title DSL: one case per row of spec/dsl.md §4, asserting comfykit-sync's behaviour.

Where the original's behaviour was a trap, the row expects the decided fix (a ``DSLError`` or
the corrected result); the comment on such rows says what the original did.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from comfykit_sync.errors import DSLError
from comfykit_sync.lint import lint_graph
from comfykit_sync.params import apply_params, parse_workflow


@attrs.frozen
class P:
    """Expected parameter: field, required, type, default (compared with its type), upload."""

    field: str
    required: bool
    type: str
    default: Any
    upload: bool = False


@attrs.frozen
class Row:
    title: str | None  # None: the node has no _meta at all
    class_type: str = "Node"
    inputs: dict[str, Any] = attrs.field(factory=dict)
    params: dict[str, P] = attrs.field(factory=dict)
    output: str | None = None  # the node's explicit output var
    error: str | None = None  # regex a DSLError must match
    warning: str | None = None  # substring of the single expected warning
    description: str | None = None  # description of the (single) parameter


LINK = ["4", 1]

ROWS = [
    pytest.param(
        Row(
            "$prompt.text!",
            "CLIPTextEncode",
            {"text": "a cat", "clip": LINK},
            {"prompt": P("text", True, "str", None)},
        ),
        id="$prompt.text!",
    ),
    pytest.param(
        Row(
            "$prompt.text!:image prompt",
            "CLIPTextEncode",
            {"text": "..."},
            {"prompt": P("text", True, "str", None)},
            description="image prompt",
        ),
        id="$prompt.text!:image prompt",
    ),
    pytest.param(  # still optional as in the original, but now with a warning
        Row(
            "$prompt.text:image prompt!",
            "CLIPTextEncode",
            {"text": "x"},
            {"prompt": P("text", False, "str", "x")},
            warning="inside the ':' description",
            description="image prompt!",
        ),
        id="$prompt.text:image prompt!",
    ),
    pytest.param(
        Row("$seed", "KSampler", {"seed": 0, "steps": 20}, {"seed": P("seed", False, "int", 0)}),
        id="$seed",
    ),
    pytest.param(
        Row(
            "Sampler, $seed, $steps",
            "KSampler",
            {"seed": 0, "steps": 20},
            {"seed": P("seed", False, "int", 0), "steps": P("steps", False, "int", 20)},
        ),
        id="Sampler, $seed, $steps",
    ),
    pytest.param(
        Row(
            "Size, $width!, $height!",
            "EmptyLatentImage",
            {"width": 512, "height": 512},
            {"width": P("width", True, "int", None), "height": P("height", True, "int", None)},
        ),
        id="Size, $width!, $height!",
    ),
    pytest.param(
        Row("$width.value", "easy int", {"value": 1024}, {"width": P("value", False, "int", 1024)}),
        id="$width.value",
    ),
    pytest.param(
        Row("$cfg", inputs={"cfg": 7.5}, params={"cfg": P("cfg", False, "float", 7.5)}), id="$cfg"
    ),
    pytest.param(
        Row("$flag", inputs={"flag": False}, params={"flag": P("flag", False, "bool", False)}),
        id="$flag",
    ),
    pytest.param(Row("$n", inputs={"n": ""}, params={"n": P("n", False, "str", "")}), id="$n"),
    pytest.param(  # original: type "str"
        Row(
            "$obj",
            inputs={"obj": {"__value__": [1]}},
            params={"obj": P("obj", False, "object", {"__value__": [1]})},
        ),
        id="$obj",
    ),
    pytest.param(
        Row(
            "$~image",
            "LoadImage",
            {"image": "a.png"},
            {"image": P("image", False, "str", "a.png", upload=True)},
        ),
        id="$~image",
    ),
    pytest.param(
        Row(
            "$img.~image!",
            "LoadImage",
            {"image": "a.png"},
            {"img": P("image", True, "str", None, True)},
        ),
        id="$img.~image!",
    ),
    pytest.param(
        Row(
            "$~img.~image!",
            "LoadImage",
            {"image": "a.png"},
            {"img": P("image", True, "str", None, True)},
        ),
        id="$~img.~image!",
    ),
    pytest.param(  # original: need_upload=False (but upload-processed by class anyway)
        Row(
            "$img.image",
            "LoadImage",
            {"image": "a.png"},
            {"img": P("image", False, "str", "a.png", True)},
        ),
        id="$img.image",
    ),
    pytest.param(
        Row(
            "$~input_image",
            "LoadImage",
            {"image": "default.png"},
            error=r"'input_image'.*LoadImage.*inputs: 'image'",
        ),
        id="$~input_image",
    ),
    pytest.param(  # original: parsed, then wrote an ignored input (silent no-op)
        Row(
            "$~input_image!",
            "LoadImage",
            {"image": "default.png"},
            error=r"'input_image'.*LoadImage.*inputs: 'image'",
        ),
        id="$~input_image!",
    ),
    pytest.param(
        Row("$a.b.c", inputs={"b.c": 1}, params={"a": P("b.c", False, "int", 1)}),
        id="$a.b.c",
    ),
    pytest.param(  # original: name "a!"
        Row("$a!.b", inputs={"b": 1, "a!": 1}, error=r"invalid parameter name 'a!'"),
        id="$a!.b",
    ),
    pytest.param(  # original: required, name "a!"
        Row("$a!!", inputs={"a!": 1}, error=r"invalid parameter name 'a!'"),
        id="$a!!",
    ),
    pytest.param(  # original: name " a b"
        Row("$ a b", inputs={" a b": 1}, error=r"invalid parameter name ' a b'"),
        id="$ a b",
    ),
    pytest.param(Row("$", inputs={"": 1}, error=r"invalid parameter name ''"), id="$"),
    pytest.param(Row("$~", inputs={"": 1}, error=r"invalid parameter name ''"), id="$~"),
    pytest.param(Row("$.x", inputs={"x": 1}, error=r"invalid parameter name ''"), id="$.x"),
    pytest.param(Row("$a.", inputs={"a": 1}, error=r"empty input field"), id="$a."),
    pytest.param(
        Row(
            "$w", inputs={"w": ["2", 0]}, error=r"'w'.*linked to node '2'.*must be required \('!'\)"
        ),
        id="$w on a link",
    ),
    pytest.param(
        Row("$w!", inputs={"w": ["2", 0]}, params={"w": P("w", True, "any", None)}),
        id="$w! on a link",
    ),
    pytest.param(
        Row("$w", inputs={"w": None}, error=r"'w' has no default.*mark it required \('!'\)"),
        id="$w on null",
    ),
    pytest.param(
        Row("text $x, $y.z", inputs={"x": 1, "z": 2}, params={"y": P("z", False, "int", 2)}),
        id="text $x, $y.z",
    ),
    pytest.param(
        Row("$output.cover", "SaveImage", {"filename_prefix": "x"}, output="cover"),
        id="$output.cover on SaveImage",
    ),
    pytest.param(
        Row("$output.cover", "CLIPTextEncode", {"text": "x"}, output="cover"),
        id="$output.cover on CLIPTextEncode",
    ),
    pytest.param(  # original: output var "cover, $foo", no parameter
        Row(
            "$output.cover, $foo",
            inputs={"foo": 1},
            params={"foo": P("foo", False, "int", 1)},
            output="cover",
        ),
        id="$output.cover, $foo",
    ),
    pytest.param(  # original: parameter "output" -> field "cover"
        Row(" $output.cover", inputs={"cover": 1}, output="cover"),
        id=" $output.cover (leading space)",
    ),
    pytest.param(  # original: parameter "output" -> field "x"
        Row("Final, $output.x", inputs={"x": 1}, output="x"),
        id="Final, $output.x with input x",
    ),
    pytest.param(  # original: parse error for parameter "output"
        Row("Final, $output.x", inputs={"y": 1}, output="x"),
        id="Final, $output.x without input x",
    ),
    pytest.param(  # original: marker ignored, var = node id
        Row("Final, $output.x", "SaveImage", {"filename_prefix": "p"}, output="x"),
        id="Final, $output.x on SaveImage",
    ),
    pytest.param(
        Row("$output.", inputs={"": 1}, error=r"\$output marker without a name"), id="$output."
    ),
    pytest.param(  # original: no parameter on known output classes
        Row(
            "$filename_prefix",
            "SaveImage",
            {"filename_prefix": "x", "images": LINK},
            {"filename_prefix": P("filename_prefix", False, "str", "x")},
        ),
        id="$filename_prefix on SaveImage",
    ),
    pytest.param(Row(None, "SaveImage", {"filename_prefix": "x"}), id="(no _meta) SaveImage"),
]


def _graph(row: Row) -> dict[str, Any]:
    node: dict[str, Any] = {"class_type": row.class_type, "inputs": row.inputs}
    if row.title is not None:
        node["_meta"] = {"title": row.title}
    return {"7": node}


@pytest.mark.parametrize("row", [r for r in ROWS if r.values[0].error is not None])
def test_lint_reports_what_the_parser_raises(row: Row) -> None:
    """One set of marker rules: the linter's problems include the parser's error, word for word."""
    graph = _graph(row)
    with pytest.raises(DSLError) as info:
        parse_workflow(graph)
    assert str(info.value) in [problem.message for problem in lint_graph(graph)]


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        ("$v", "parameter 'v' is int on node '1' but str on node '2'"),
        ("$v.~v", "parameter 'v' is an upload on node '2' but not on node '1'"),
    ],
)
def test_lint_and_parser_share_the_fan_out_rules(second: str, problem: str) -> None:
    graph = {
        "1": {"class_type": "A", "inputs": {"v": 1}, "_meta": {"title": "$v"}},
        "2": {"class_type": "B", "inputs": {"v": "x"}, "_meta": {"title": second}},
    }
    with pytest.raises(DSLError, match=problem) as info:
        parse_workflow(graph)
    assert str(info.value) in [p.message for p in lint_graph(graph)]


@pytest.mark.parametrize("row", ROWS)
def test_dsl_table_row(row: Row) -> None:
    graph = _graph(row)
    if row.error is not None:
        with pytest.raises(DSLError, match=row.error) as info:
            parse_workflow(graph)
        assert info.value.node_id == "7"
        return

    spec = parse_workflow(graph)

    got = {
        name: (
            [(t.node_id, t.field) for t in p.targets],
            P(p.targets[0].field, p.required, p.type, p.default, p.upload),
            type(p.default),
        )
        for name, p in spec.params.items()
    }
    want = {name: ([("7", e.field)], e, type(e.default)) for name, e in row.params.items()}
    assert got == want
    assert list(spec.params) == list(row.params)  # declaration order
    assert dict(spec.outputs) == ({"7": row.output} if row.output else {})
    assert spec.output_var("7") == (row.output or "7")
    if row.warning is None:
        assert spec.warnings == ()
    else:
        assert len(spec.warnings) == 1 and row.warning in spec.warnings[0]
    if row.description is not None:
        (param,) = spec.params.values()
        assert param.description == row.description


def test_required_link_is_replaced_by_the_supplied_literal() -> None:
    graph = {"7": {"class_type": "Node", "inputs": {"w": ["2", 0]}, "_meta": {"title": "$w!"}}}
    applied = apply_params(graph, parse_workflow(graph), {"w": 640})
    assert applied["7"]["inputs"]["w"] == 640
    assert graph["7"]["inputs"]["w"] == ["2", 0]


def test_a_malformed_title_raises_a_new_error_each_time() -> None:
    """Well-formed titles are parsed once; a malformed one fails afresh every time."""
    graph = {"3": {"class_type": "KSampler", "inputs": {"seed": 1}, "_meta": {"title": "$9x"}}}
    errors = []
    for _ in range(2):
        with pytest.raises(DSLError, match="invalid parameter name '9x'") as info:
            parse_workflow(graph)
        errors.append(info.value)
    assert errors[0] is not errors[1] and errors[1].node_id == "3"
