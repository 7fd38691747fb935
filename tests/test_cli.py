"""The ``comfykit`` command: run, inspect and lint, in-process and as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from helpers import T2I, WORKFLOWS
from ui_builders import judged, saved_text_to_image

from comfykit_sync import ComfyKit, JobInterrupted
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


def test_download_uses_the_safe_names_of_result_save(fake_comfyui, capsys, tmp_path):
    (fake_comfyui.output_dir / "keep").mkdir()
    (fake_comfyui.output_dir / "keep" / "a.png").write_bytes(PNG + b"a")
    (fake_comfyui.output_dir / "b.png").write_bytes(PNG + b"b")
    records = [
        {"filename": "a.png", "subfolder": "keep", "type": "output"},
        {"filename": "nested/b.png", "subfolder": "", "type": "output"},  # served as b.png
    ]
    fake_comfyui.script(Script(outputs={"9": {"images": records}}))
    out = tmp_path / "out"
    args = ["run", str(T2I), "-p", "prompt=x", "--server", fake_comfyui.url]
    assert main([*args, "--download", str(out)]) == 0, capsys.readouterr().err
    saved = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert saved == ["b.png", "keep/a.png"]


def test_download_never_touches_anything_outside_the_folder(fake_comfyui, capsys, tmp_path):
    out = tmp_path / "runs" / "out"
    out.mkdir(parents=True)
    escaping = [
        {"filename": "../../escaped/x.png", "subfolder": "", "type": "output"},
        {"filename": "y.png", "subfolder": "../../escaped2", "type": "output"},
    ]
    fake_comfyui.script(Script(outputs={"9": {"images": escaping}}))
    args = ["run", str(T2I), "-p", "prompt=x", "--server", fake_comfyui.url]
    assert main([*args, "--download", str(out)]) == 1  # ComfyUI refuses to serve those names
    assert "download failed" in capsys.readouterr().err
    outside = [p for p in tmp_path.rglob("*") if p != out.parent and not p.is_relative_to(out)]
    assert outside == []
    assert not [p for p in out.rglob("*") if p.is_file()]  # no partial file either


def test_demo_saves_its_outputs_inside_the_output_folder(capsys, tmp_path):
    args = ["demo", "--output", str(tmp_path / "demo"), "--duration", "0.05"]
    assert main(args) == 0
    assert main(args) == 0  # a second run replaces its files
    out = capsys.readouterr().out
    files = [p for p in (tmp_path / "demo").rglob("*") if p.is_file()]
    assert files and all(f"saved {p}" in out for p in files)
    assert len(files) == len({p.name for p in files})


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


class _Run:
    """``comfykit run`` in a real subprocess; its stderr (progress lines: not a tty) is read by
    a thread so the test can wait for a line without blocking forever."""

    def __init__(self, fake_comfyui, *extra: str) -> None:
        command = [sys.executable, "-m", "comfykit_sync", "run", str(T2I), "-p", "prompt=x"]
        self.proc = subprocess.Popen(
            [*command, "--server", fake_comfyui.url, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)
            self.lines.put(line.strip())

    def wait_for_line(self, wanted: str) -> None:
        while True:
            if self.lines.get(timeout=30) == wanted:  # queue.Empty after 30 s of silence
                return

    def interrupt(self) -> tuple[int, str, str]:
        """Send SIGINT; (exit code, stdout, stderr) once the process ended."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired as exc:  # hung: have faulthandler show where, then fail
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(timeout=30)
            self.reader.join(timeout=30)
            message = "comfykit run did not exit after Ctrl-C:\n" + "".join(self.err)
            raise AssertionError(message) from exc
        finally:
            self.proc.kill()
        self.reader.join(timeout=30)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stderr.close()
        with self.proc.stdout:
            out = self.proc.stdout.read()  # small: the result is never printed after Ctrl-C
        return self.proc.returncode, out, "".join(self.err)


def _wait_for_status(fake_comfyui, status: str) -> str:
    """The id of the first prompt the fake has in ``status``, once there is one."""
    for _ in range(3000):  # bounded: 30 s (the subprocess starts Python first)
        found = [r.prompt_id for r in fake_comfyui.prompts.values() if r.status == status]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no prompt reached {status!r}")


def test_ctrl_c_while_waiting_cancels_the_job_and_exits_130(fake_comfyui):
    fake_comfyui.script(Script(duration=60))
    run = _Run(fake_comfyui)
    run.wait_for_line("running")  # printed by the wait, after submit() returned
    prompt_id = _wait_for_status(fake_comfyui, "running")
    code, out, err = run.interrupt()
    assert code == 130, err
    assert f"interrupted: prompt {prompt_id} was cancelled on the server" in err
    assert "Traceback" not in err and out == ""
    _wait_for_status(fake_comfyui, "interrupted")


def test_ctrl_c_while_submitting_cancels_the_queued_job(fake_comfyui):
    """The reply to POST /prompt is late, but the server has queued the job: it is cancelled."""
    fake_comfyui.script(Script(duration=60))
    fake_comfyui.fault("delay", "/prompt", seconds=20)
    run = _Run(fake_comfyui)
    prompt_id = _wait_for_status(fake_comfyui, "running")
    code, _, err = run.interrupt()
    assert code == 130, err
    assert f"interrupted: prompt {prompt_id} was cancelled on the server" in err
    assert "running" not in run.err and "Traceback" not in err  # never got to waiting
    _wait_for_status(fake_comfyui, "interrupted")


def test_ctrl_c_says_when_the_cancel_could_not_be_confirmed(fake_comfyui):
    """Ctrl-C (a KeyboardInterrupt out of the wait) while the server cannot be reached."""
    fake_comfyui.script(Script(duration=60))

    def ctrl_c_once_running(event: object) -> None:
        if isinstance(event, Started):
            fake_comfyui.fail_requests("/queue", status=503, times=1000)
            raise KeyboardInterrupt

    with ComfyKit(fake_comfyui.url, request_timeout=2) as kit:
        job = kit.submit(T2I, {"prompt": "x"}, on_event=ctrl_c_once_running)
        with pytest.raises(JobInterrupted) as info:
            job.wait(timeout=30)
    assert isinstance(info.value, KeyboardInterrupt) and not info.value.cancelled
    assert info.value.prompt_id == job.prompt_id
    assert f"prompt {job.prompt_id}: the cancel could not be confirmed" in str(info.value)
    assert "503" in str(info.value)


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


def test_lint_reports_every_bad_marker_of_one_title(capsys, tmp_path):
    title = "Sampler, $9lives, $seed, $a., $output, $cfg.nope, $output.x, $output.y, $steps"
    graph = {"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 7.0}}}
    graph["3"]["_meta"] = {"title": title}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(graph))
    assert main(["lint", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "6 problem(s)"
    assert all(line.startswith("node 3: ") for line in lines[:-1])
    text = "\n".join(lines)
    for words in (
        "invalid parameter name '9lives'",
        "empty input field after '.' in '$a.'",
        "$output marker without a name",
        "targets input 'nope'",
        "more than one $output marker",
        "not a known output node",  # the well-formed markers are still checked
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


# -- UI-format workflows (the editor's plain "Save") -------------------------------------------


@pytest.fixture
def saved(tmp_path):
    """A UI-format copy of the bundled text-to-image workflow, markers in the titles."""
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(saved_text_to_image()))
    return path


@pytest.fixture
def object_info_file(fake_comfyui, tmp_path):
    with ComfyKit(fake_comfyui.url) as kit:
        definitions = dict(kit.object_info())
    path = tmp_path / "object_info.json"
    path.write_text(json.dumps(definitions))
    return path


def object_info_requests(server) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/object_info"))


def test_convert_writes_the_api_format(fake_comfyui, saved, object_info_file, tmp_path, capsys):
    out = tmp_path / "api.json"
    assert main(["convert", str(saved), "-o", str(out), "--server", fake_comfyui.url]) == 0
    assert "wrote" in capsys.readouterr().err
    graph = json.loads(out.read_text())
    definitions = json.loads(object_info_file.read_text())
    assert judged(graph, definitions) == judged(json.loads(T2I.read_text()), definitions)
    assert main(["run", str(out), "-p", "prompt=again", "--server", fake_comfyui.url]) == 0
    capsys.readouterr()
    assert main(["convert", str(saved), "--server", fake_comfyui.url]) == 0
    assert json.loads(capsys.readouterr().out) == graph  # standard output


def test_convert_offline_with_object_info(object_info_file, saved, capsys):
    args = ["convert", str(saved), "--object-info", str(object_info_file)]
    assert main([*args, "--server", "http://127.0.0.1:9"]) == 0  # never asked
    assert json.loads(capsys.readouterr().out)["3"]["class_type"] == "KSampler"


def test_inspect_lint_and_run_accept_ui_files(fake_comfyui, saved, capsys):
    server = ["--server", fake_comfyui.url]
    assert main(["inspect", str(saved), "--json", *server]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["required"] == ["prompt"] and schema["properties"]["steps"]["default"] == 20
    assert main(["lint", str(saved), *server]) == 0
    assert "no problems found" in capsys.readouterr().out
    code, result, _ = run_json(capsys, str(saved), "-p", "prompt=ui", *server)
    assert code == 0 and result["texts_by_var"] == {"caption": ["ui"]}
    assert object_info_requests(fake_comfyui) == 3  # one per command (process)


def test_object_info_disk_cache_and_refresh(fake_comfyui, saved, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMFYKIT_OBJECT_INFO_CACHE_DIR", str(tmp_path / "cache"))
    server = ["--server", fake_comfyui.url]
    for _ in range(3):
        assert main(["inspect", str(saved), *server]) == 0
    assert object_info_requests(fake_comfyui) == 1
    assert main(["inspect", str(saved), "--refresh-object-info", *server]) == 0
    assert object_info_requests(fake_comfyui) == 2


def test_ui_conversion_problems_exit_2_naming_the_node(fake_comfyui, tmp_path, capsys):
    ui = saved_text_to_image()
    ui["nodes"][0]["type"] = "NoSuchLoader"
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(ui))
    for command in ("convert", "run", "inspect", "lint"):
        assert main([command, str(path), "--server", fake_comfyui.url]) == 2
        err = capsys.readouterr().err
        assert "NoSuchLoader" in err and "custom.json" in err and "Traceback" not in err
    assert fake_comfyui.prompts == {}


def test_object_info_option_mistakes(saved, object_info_file, tmp_path, capsys):
    args = ["convert", str(saved), "--object-info", str(object_info_file)]
    assert main([*args, "--refresh-object-info"]) == 2
    assert "--refresh-object-info" in capsys.readouterr().err
    assert main(["convert", str(saved), "--object-info", str(tmp_path / "none.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    assert main(["inspect", str(saved), "--object-info", str(bad)]) == 2
    assert "object_info" in capsys.readouterr().err
    assert main(["convert", str(saved), "--server", "http://127.0.0.1:9"]) == 2
    assert "--object-info" in capsys.readouterr().err  # how to convert without a server
