"""docs/plugins.md, the hooks and the public API stay in lockstep.

Every hook is documented with its exact signature and has a ``test_hook_<name>`` test; every
name of ``comfykit_sync.backend`` (and the public test helpers) is documented, and each signature
the reference shows is the real one.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
from ui_builders import saved_text_to_image

import comfykit_sync
import comfykit_sync.backend
import comfykit_sync.testing
from comfykit_sync import ComfyKit, ConfigurationError, PluginError, Workflow, hookimpl, hookspecs
from comfykit_sync.backend import Setting, parse_seconds
from comfykit_sync.models import Artifact
from comfykit_sync.plugins import make_plugin_manager
from comfykit_sync.testing import conformance

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


# -- the reference of comfykit_sync.backend and comfykit_sync.testing --------------------------
REFERENCE = re.findall(r"^#### `([\w.]+)(\(.*\))?`[ \t]*$", DOC, flags=re.M)
TEST_HELPERS = {
    "BackgroundServer": comfykit_sync.testing.BackgroundServer,
    "cli_parser": comfykit_sync.testing.cli_parser,
    "conformance.BackendConformance": conformance.BackendConformance,
    "conformance.BackendControls": conformance.BackendControls,
    "conformance.check_result_contract": conformance.check_result_contract,
}


#: what the reference documents by name, without parentheses
PROPERTIES = (property, functools.cached_property)


def documented_object(name: str) -> object:
    if name in TEST_HELPERS:
        return TEST_HELPERS[name]
    head, _, attr = name.partition(".")
    owner = TEST_HELPERS.get(head) or getattr(comfykit_sync.backend, head)
    return inspect.getattr_static(owner, attr) if attr else owner


def plain_signature(obj: object) -> str:
    """A signature as the docs show it: no annotations, no ``self``, callables by name."""
    parts: list[str] = []
    star = False
    for param in inspect.signature(obj).parameters.values():  # type: ignore[arg-type]
        if param.name == "self":
            continue
        if param.kind is param.VAR_POSITIONAL:
            parts.append(f"*{param.name}")
            star = True
            continue
        if param.kind is param.VAR_KEYWORD:
            parts.append(f"**{param.name}")
            continue
        if param.kind is param.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = param.name
        if param.default is attrs.NOTHING:
            text += "=<factory>"
        elif param.default is not param.empty:
            default = param.default
            text += "=" + (default.__name__ if callable(default) else repr(default))
        parts.append(text)
    return f"({', '.join(parts)})"


@pytest.mark.parametrize("name, signature", REFERENCE, ids=[name for name, _ in REFERENCE])
def test_every_documented_signature_is_the_real_one(name, signature):
    obj = documented_object(name)
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if not signature:  # a property, a type alias or the hook marker: documented by name
        assert isinstance(obj, PROPERTIES) or not inspect.isroutine(obj), name
        return
    if isinstance(obj, PROPERTIES):
        raise AssertionError(f"{name} is a property: document it without parentheses")
    assert signature == plain_signature(obj), name


@pytest.mark.parametrize("name", comfykit_sync.backend.__all__)
def test_every_public_name_is_documented(name):
    assert name in {documented for documented, _ in REFERENCE}, f"{name} is not in the reference"


@pytest.mark.parametrize("name", sorted(TEST_HELPERS))
def test_every_public_test_helper_is_documented(name):
    assert name in {documented for documented, _ in REFERENCE}


def public_members(cls: type) -> list[str]:
    return [
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, PROPERTIES))
    ]


@pytest.mark.parametrize(
    "owner",
    [n for n in comfykit_sync.backend.__all__ if inspect.isclass(getattr(comfykit_sync.backend, n))]
    + ["BackgroundServer"],
)
def test_every_public_method_is_documented(owner):
    cls = documented_object(owner)
    documented = {name for name, _ in REFERENCE}
    missing = [m for m in public_members(cls) if f"{owner}.{m}" not in documented]  # type: ignore[arg-type]
    assert not missing, f"undocumented: {missing}"


def test_backend_module_exports_exactly_its_all():
    exported = {
        name
        for name, value in vars(comfykit_sync.backend).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert exported == set(comfykit_sync.backend.__all__)


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


class _Presets:
    """Declares the settings of a preset loader (the hook under test)."""

    @hookimpl
    def comfykit_register_settings(self, register):
        register(Setting("presets_dir", "PRESETS_DIR", "presets", help="where presets live"))
        register(Setting("presets_timeout", "PRESETS_TIMEOUT", 30.0, parse_seconds))
        register(Setting("presets_token", "PRESETS_TOKEN", secret=True))

    @hookimpl
    def comfykit_load_workflow(self, source, config):
        if source == "preset:current":
            graph = json.loads(T2I.read_text())
            return Workflow(graph=graph, source=config.settings["presets_dir"])
        return None


def test_hook_comfykit_register_settings(fake_comfyui, monkeypatch):
    monkeypatch.setenv("PRESETS_TIMEOUT", "12")
    monkeypatch.setenv("PRESETS_TOKEN", "tok-secret")
    pm = make_plugin_manager(autoload=False)
    pm.register(_Presets(), name="presets")
    with ComfyKit(fake_comfyui.url, plugin_manager=pm, presets_dir="/srv/presets") as kit:
        settings = kit.config.settings
        assert settings["presets_dir"] == "/srv/presets"  # argument
        assert settings["presets_timeout"] == 12.0  # environment, parsed
        assert settings.require("presets_token") == "tok-secret"
        assert kit.load_workflow("preset:current").source == "/srv/presets"  # seen by the loader
        assert "tok-secret" not in repr(settings) + repr(kit.config) + repr(kit)
    with pytest.raises(ConfigurationError, match="argument presets_timeout"):
        ComfyKit(fake_comfyui.url, plugin_manager=pm, presets_timeout=-1)
    with pytest.raises(ConfigurationError, match="unknown setting.*presets_dri"):
        ComfyKit(fake_comfyui.url, plugin_manager=pm, presets_dri="/x")
    monkeypatch.setenv("PRESETS_TIMEOUT", "soon")  # a bad variable fails where it is read
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        assert kit.execute(T2I, {"prompt": "x"}).status == "completed"
        with pytest.raises(ConfigurationError, match="environment variable PRESETS_TIMEOUT"):
            kit.config.settings["presets_timeout"]

    class Clash:
        @hookimpl
        def comfykit_register_settings(self, register):
            register(Setting("presets_dir"))

    class Core:
        @hookimpl
        def comfykit_register_settings(self, register):
            register(Setting("timeout"))

    both = "declared by both '(presets|clash)' and '(presets|clash)'"
    for plugin, pattern in ((Clash(), both), (Core(), "'core'.*ComfyKit option")):
        clashing = make_plugin_manager(autoload=False)
        clashing.register(_Presets(), name="presets")
        clashing.register(plugin, name=type(plugin).__name__.lower())
        with pytest.raises(PluginError, match=pattern):
            ComfyKit(fake_comfyui.url, plugin_manager=clashing, presets_dir="/x")


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
