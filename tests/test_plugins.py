"""The plugin core: built-ins as plugins, third-party precedence, block list, broken plugins."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from comfykit_sync import ComfyKit, PluginError, Workflow, hookimpl
from comfykit_sync.backends.base import Backend
from comfykit_sync.plugins import DEFAULT_PLUGINS, make_plugin_manager
from comfykit_sync.registry import BackendRegistry


def test_builtins_are_registered_as_plugins():
    pm = make_plugin_manager(autoload=False)
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert set(DEFAULT_PLUGINS) <= names
    assert "comfyui-http" in BackendRegistry(pm).names


def test_blocking_a_builtin_through_the_environment():
    pm = make_plugin_manager(env={"COMFYKIT_SYNC_DISABLED_PLUGINS": "comfykit_sync.loaders.url"})
    assert not pm.has_plugin("comfykit_sync.loaders.url")
    assert pm.has_plugin("comfykit_sync.loaders.file")


class _Loader:
    """A third-party loader: claims sources starting with 'mem:'."""

    @hookimpl
    def comfykit_load_workflow(self, source):
        if isinstance(source, str) and source.startswith("mem:"):
            graph = {"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": source[4:]}}}
            return Workflow(graph=graph, source=source)
        return None


def test_third_party_loader_is_asked_before_builtins(tmp_path):
    pm = make_plugin_manager(autoload=False)
    pm.register(_Loader(), name="mem-loader")
    with ComfyKit(plugin_manager=pm) as kit:
        assert kit.load_workflow("mem:cat").graph["1"]["inputs"]["filename_prefix"] == "cat"


def _backend(name):
    return type(
        f"B_{name}",
        (Backend,),
        {
            "name": name,
            "upload": None,
            "submit": None,
            "status": None,
            "wait": None,
            "outputs": None,
            "cancel": None,
        },
    )


def test_backend_name_clash_names_both_plugins():
    pm = make_plugin_manager(autoload=False)

    class Clash:
        @hookimpl
        def comfykit_register_backends(self, register):
            register(_backend("comfyui-http"))

    pm.register(Clash(), name="clashing-plugin")
    with pytest.raises(PluginError) as info:
        BackendRegistry(pm)
    assert "comfykit_sync.backends.comfyui_http" in str(info.value)
    assert "clashing-plugin" in str(info.value)


def test_backend_registration_goes_through_the_hook_caller():
    """Hook wrappers and call monitoring see comfykit_register_backends like any other hook."""
    pm = make_plugin_manager(autoload=False)
    seen: list[tuple[str, object]] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def comfykit_register_backends(self, register):
            seen.append(("before", register))
            result = yield
            seen.append(("after", len(result)))
            return result

    class Extra:
        @hookimpl
        def comfykit_register_backends(self, register):
            register(_backend("extra"))

    pm.register(Wrapper(), name="wrapper-plugin")
    pm.register(Extra(), name="extra-plugin")
    monitored: list[str] = []
    undo = pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: monitored.append(name), lambda *args: None
    )
    try:
        registry = BackendRegistry(pm)
    finally:
        undo()
    assert monitored == ["comfykit_register_backends"]
    assert [step for step, _ in seen] == ["before", "after"] and callable(seen[0][1])
    assert registry.owner("extra") == "extra-plugin"
    assert registry.owner("comfyui-ws") == "comfykit_sync.backends.comfyui_ws"


def test_unknown_backend_lists_the_known_ones():
    with ComfyKit(plugin_manager=make_plugin_manager(autoload=False)) as kit:
        with pytest.raises(Exception, match="comfyui-http"):
            kit.backend("nope")


def test_plugin_with_unknown_hook_is_reported_and_dropped():
    pm = make_plugin_manager(autoload=False)

    class Typo:
        @hookimpl
        def comfykit_load_workflw(self, source):  # misspelt hook name
            return None

    pm.register(Typo(), name="typo-plugin")
    from comfykit_sync.plugins import _check_pending

    _check_pending(pm)
    assert not pm.has_plugin("typo-plugin")
    assert any("typo-plugin" in str(e) for e in pm.load_errors)


def test_entry_point_that_fails_to_import_is_reported(monkeypatch):
    broken = importlib.metadata.EntryPoint(
        name="broken", value="comfykit_sync_no_such_module", group="comfykit_sync"
    )
    good_module = types.ModuleType("comfykit_sync_test_good_plugin")
    good_module.comfykit_load_workflow = hookimpl(
        lambda source: _Loader.comfykit_load_workflow(None, source)
    )
    monkeypatch.setitem(sys.modules, "comfykit_sync_test_good_plugin", good_module)
    good = importlib.metadata.EntryPoint(
        name="good", value="comfykit_sync_test_good_plugin", group="comfykit_sync"
    )
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group=None: [broken, good] if group == "comfykit_sync" else [],
    )
    pm = make_plugin_manager(env={})
    assert pm.has_plugin("good")
    assert [e.plugin for e in pm.load_errors] == ["broken"]
    assert "comfykit_sync_no_such_module" in str(pm.load_errors[0])
    # autoload can be switched off
    pm = make_plugin_manager(env={"COMFYKIT_SYNC_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert not pm.has_plugin("good")
