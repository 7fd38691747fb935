"""The ``comfykit`` command: run, inspect and lint, in-process and as a real subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from helpers import T2I, WORKFLOWS

from comfykit_sync import ComfyKit
from comfykit_sync.cli import ProgressDisplay, main
from comfykit_sync.events import Queued, Started
from comfykit_sync.inspection import WorkflowInfo
from comfykit_sync.testing import Script

I2I = WORKFLOWS / "image_to_image.json"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def run_json(capsys, *args: str) -> tuple[int, dict, str]:
    code = main(["run", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_run_shows_progress_lines_when_not_a_tty(fake_comfyui, capsys):
    code = main(
        [
            "run",
            str(T2I),
            "-p",
            "prompt=a fox",
            "-p",
            "steps=3",
            "--server",
            fake_comfyui.url,
            "--backend",
            "comfyui-ws",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.err.splitlines()
    assert "running" in lines and "completed" in lines
    assert any(line.startswith("node 3 KSampler") for line in lines)
    assert any(line.startswith("node 3: step ") for line in lines)
    assert "\r" not in captured.err  # plain lines, no live rewriting
    assert "status:    completed" in captured.out
    assert "images[image]: " in captured.out and "texts[caption]: a fox" in captured.out


def test_progress_lines_name_nodes_created_by_expansion(fake_comfyui, capsys):
    fake_comfyui.script(Script(expand_node="3"))
    args = ["run", str(T2I), "-p", "prompt=x", "-p", "steps=2", "--server", fake_comfyui.url]
    code = main([*args, "--backend", "comfyui-ws"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 0
    assert "node 3.0.0.1 (in node 3) 'Sampler, $seed, $steps, $cfg'" in lines
    assert any(line.startswith("node 3.0.0.1 (in node 3): step 2/2") for line in lines)


def test_run_json_coerces_params(fake_comfyui, capsys, tmp_path):
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps({"prompt": "from file", "cfg": 5.5, "steps": 9}))
    code, result, _ = run_json(
        capsys,
        str(T2I),
        "--params-file",
        str(params_file),
        "-p",
        "steps=12",
        "-p",
        "seed=7",
        "--server",
        fake_comfyui.url,
    )
    assert code == 0
    assert result["status"] == "completed" and result["error"] is None and result["msg"] is None
    assert result["seeds"] == {"3": 7} and result["duration"] > 0
    assert list(result["images_by_var"]) == ["image"]
    assert result["texts_by_var"] == {"caption": ["from file"]} == {"caption": result["texts"]}
    sent = fake_comfyui.prompts[result["prompt_id"]].graph["3"]["inputs"]
    assert (sent["steps"], sent["seed"], sent["cfg"]) == (12, 7, 5.5)  # "12" became an int


def test_run_uploads_at_path_and_downloads(fake_comfyui, capsys, tmp_path):
    photo = tmp_path / "cat photo.png"
    photo.write_bytes(PNG)
    out = tmp_path / "out"
    code = main(
        [
            "run",
            str(I2I),
            "-p",
            f"image=@{photo}",
            "--server",
            fake_comfyui.url,
            "--download",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    [saved] = out.iterdir()
    assert saved.read_bytes().startswith(b"\x89PNG")
    assert f"saved: {saved}" in captured.out
    [record] = fake_comfyui.prompts.values()
    assert record.graph["10"]["inputs"]["image"] != "example.png"  # the uploaded file's name


def test_failed_job_exits_1_with_the_message_on_stderr(fake_comfyui, capsys):
    fake_comfyui.script(Script(error_node="3", error_message="CUDA out of memory"))
    code, result, err = run_json(capsys, str(T2I), "-p", "prompt=x", "--server", fake_comfyui.url)
    assert code == 1
    assert result["status"] == "failed" and result["error"] == "ExecutionError"
    assert "CUDA out of memory" in result["msg"] and "error: " in err and "CUDA" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "nope=1"], "nope"),
        (["-p", "steps=many"], "steps"),
        (["-p", "image=@/no/such/file.png"], "file.png"),
        (["--timeout", "-1"], "timeout"),
        (["--backend", "no-such-backend"], "no-such-backend"),
        (["-p", "missing-equals"], "name=value"),
    ],
)
def test_caller_mistakes_exit_2_without_traceback(fake_comfyui, capsys, args, message):
    workflow = I2I if "image" in " ".join(args) else T2I
    code = main(["run", str(workflow), "-p", "prompt=x", *args, "--server", fake_comfyui.url])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert fake_comfyui.prompts == {}  # nothing was sent


def test_run_as_subprocess(fake_comfyui):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "comfykit_sync",
            "run",
            str(T2I),
            "-p",
            "prompt=sub",
            "--server",
            fake_comfyui.url,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["texts"] == ["sub"]
    assert "completed" in proc.stderr.splitlines()


def test_inspect_table(capsys):
    assert main(["inspect", str(I2I)]) == 0
    out = capsys.readouterr().out
    [image] = [line.split() for line in out.splitlines() if line.startswith("image ")]
    assert image[:6] == ["image", "str", "no", '"example.png"', "yes", "10.image"]
    assert "OUTPUT" in out and any(line.split() == ["result", "9"] for line in out.splitlines())


def test_inspect_json_schema(capsys):
    assert main(["inspect", str(T2I), "--json"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["required"] == ["prompt"]
    props = schema["properties"]
    assert props["steps"] == {"title": "steps", "type": "integer", "default": 20}
    assert props["cfg"]["type"] == "number" and "default" not in props["prompt"]
    assert main(["inspect", str(I2I), "--json"]) == 0
    image = json.loads(capsys.readouterr().out)["properties"]["image"]
    assert image["type"] == "string" and "upload" in image["description"]


def test_kit_inspect_returns_params_and_outputs():
    with ComfyKit("http://127.0.0.1:9") as kit:
        info = kit.inspect(T2I)
    assert isinstance(info, WorkflowInfo)
    assert [p.name for p in info.params][:3] == ["width", "height", "prompt"]
    assert dict(info.outputs) == {"image": ("9",), "caption": ("10",)}
    [target] = next(p for p in info.params if p.name == "seed").targets
    assert (target.node_id, target.field, target.class_type) == ("3", "seed", "KSampler")


def test_lint_clean_workflow(capsys):
    assert main(["lint", str(T2I)]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_lint_lists_every_problem_with_node_ids(capsys, tmp_path):
    def node(class_type: str, title: str, **inputs: object) -> dict:
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    graph = {
        "1": node("KSampler", "$seed", seed=1),
        "2": node("KSampler", "$seed", seed=2),  # conflicting default
        "3": node("VAEDecode", "$samples", samples=["1", 0]),  # linked, not required
        "4": node("CLIPTextEncode", "$prompt.txt", text="x"),  # missing field
        "5": node("VAEDecode", "$output.img", samples=["1", 0]),  # not an output node
        "6": node("Note", "$note", note=None),  # optional without default
        "7": node("Bad", "$9lives"),  # raises in the core parser
        "8": node("CLIPTextEncode", "$neg.text:the negative!", text=""),  # '!' in description
        "9": node("SaveImage", "$output.image", images=["3", 0]),  # fine
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(graph))
    assert main(["lint", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "7 problem(s)"
    flagged = [line.split(":")[0] for line in lines[:-1]]
    assert sorted(flagged) == [f"node {n}" for n in "2345678"]
    text = "\n".join(lines)
    for words in (
        "conflicting defaults",
        "linked",
        "does not have",
        "not a known output",
        "no default",
        "invalid parameter name",
        "description",
    ):
        assert words in text


def test_lint_unreadable_workflow_is_a_caller_mistake(capsys, tmp_path):
    assert main(["lint", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_and_help_still_work(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("demo", "plugins", "run", "inspect", "lint"))
    assert main(["nope"]) == 2


def test_live_progress_rewrites_one_line():
    stream = io.StringIO()
    display = ProgressDisplay(stream, live=True)
    display(Queued("p", position=2))
    display(Started("p"))
    display.close()
    assert stream.getvalue() == "\rqueued (position 2)\x1b[K\rrunning\x1b[K\n"
