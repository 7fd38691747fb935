"""docs/plugins.md and the hooks stay in lockstep; every hook has a ``test_hook_<name>`` test."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ui_builders import saved_text_to_image

import comfykit_sync
from comfykit_sync import ComfyKit, Workflow, hookimpl, hookspecs
from comfykit_sync.models import Artifact
from comfykit_sync.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "plugins.md").read_text()
T2I = Path(comfykit_sync.__file__).parent / "testing" / "workflows" / "text_to_image.json"
HOOKS = {
    name: fn
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("comfykit_")
}


def documented_signatures() -> dict[str, list[str]]:
    found = re.findall(r"^### (comfykit_\w+)\(([^)]*)\)", DOC, flags=re.M)
    return {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in found}


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented_with_its_exact_signature(name):
    documented = documented_signatures()
    assert name in documented, f"{name} is not documented in docs/plugins.md"
    assert documented[name] == list(inspect.signature(HOOKS[name]).parameters)


def test_no_documented_hook_is_missing_from_the_specs():
    assert set(documented_signatures()) == set(HOOKS)


def test_every_hook_has_a_test_named_after_it():
    names = set(globals())
    assert {f"test_hook_{hook}" for hook in HOOKS} <= names


def test_hook_comfykit_register_backends(fake_comfyui):
    from comfykit_sync.backends.comfyui_http import ComfyUIHttpBackend

    class Mirror(ComfyUIHttpBackend):
        name = "mirror"

    class Plugin:
        @hookimpl
        def comfykit_register_backends(self, register):
            register(Mirror)

    pm = make_plugin_manager(autoload=False)
    pm.register(Plugin(), name="mirror-plugin")
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        assert kit.backends.owner("mirror") == "mirror-plugin"
        result = kit.execute(T2I, {"prompt": "x"}, backend="mirror")
    assert result.status == "completed" and result.backend == "mirror"


def test_hook_comfykit_load_workflow(fake_comfyui, tmp_path, monkeypatch):
    # the walkthrough's plugin, taken from the docs and used as written
    code = re.search(r"```python\n(\"\"\"Workflows by preset name.*?)```", DOC, re.S).group(1)
    module = tmp_path / "comfykit_sync_presets.py"
    module.write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "portrait.json").write_text(T2I.read_text())
    (presets / "saved.json").write_text(json.dumps(saved_text_to_image()))  # plain "Save"
    monkeypatch.setenv("PRESET_DIR", str(presets))
    import comfykit_sync_presets

    pm = make_plugin_manager(autoload=False)
    pm.register(comfykit_sync_presets, name="presets")
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        assert kit.execute("preset:portrait", {"prompt": "hi"}).texts == ["hi"]
        # a UI-format preset is converted by the built-in wrapper with the server's object_info
        assert kit.execute("preset:saved", {"prompt": "ui"}).texts == ["ui"]
        with pytest.raises(comfykit_sync.WorkflowLoadError, match="no preset named"):
            kit.execute("preset:missing")
        assert isinstance(kit.load_workflow(T2I), Workflow)  # other sources still load


def test_hook_comfykit_parse_output(fake_comfyui):
    class Thumbnails:
        """Claims PNG outputs of node 9 as kind 'thumbnail'; everything else falls through."""

        @hookimpl
        def comfykit_parse_output(self, output):
            if output.node_id == "9":
                return Artifact(kind="thumbnail", var=output.var, node_id="9", url=output.url)
            return None

    class Broken:
        @hookimpl(tryfirst=True)
        def comfykit_parse_output(self, output):
            if output.key == "text":
                raise RuntimeError("parser bug")
            return None

    pm = make_plugin_manager(autoload=False)
    pm.register(Thumbnails(), name="thumbnails")
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
        assert [a.kind for a in result.artifacts] == ["thumbnail", "text"]
        assert result.images == []  # claimed by the plugin, still in the raw outputs
        assert "9" in result.outputs
        pm.register(Broken(), name="broken")
        broken = kit.execute(T2I, {"prompt": "x"})
    assert broken.status == "failed" and "parser bug" in broken.msg and "node 10" in broken.msg
    assert [a.kind for a in broken.artifacts] == ["thumbnail"]


def test_plugins_command_lists_builtins_as_json():
    out = subprocess.run(
        [sys.executable, "-m", "comfykit_sync", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    infos = {info["name"]: info for info in json.loads(out)}
    http = infos["comfykit_sync.backends.comfyui_http"]
    assert http["builtin"] and http["backends"] == ["comfyui-http"]
    assert http["hooks"] == ["comfykit_register_backends"]


def test_plugins_command_reports_a_broken_plugin_and_keeps_the_rest(tmp_path):
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[comfykit_sync]\nbroken = no_such_module_xyz\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from comfykit_sync.cli import main
        sys.exit(main(["plugins"]))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert "broken" in run.stdout and "FAILED" in run.stdout
    assert "no_such_module_xyz" in run.stdout
    assert "comfykit_sync.backends.comfyui_http" in run.stdout

