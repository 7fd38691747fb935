"""The backend is found through the installed entry point, not a manual ``pm.register``."""

from __future__ import annotations

from importlib import metadata

import comfykit_sync_comfycloud.backend
import pytest

from comfykit_sync import ComfyKit
from comfykit_sync.plugins import describe_plugins, make_plugin_manager


def test_discovered_through_installed_entry_point(monkeypatch):
    monkeypatch.delenv("COMFYKIT_SYNC_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("COMFYKIT_SYNC_DISABLED_PLUGINS", raising=False)
    pm = make_plugin_manager()
    assert pm.get_plugin("comfycloud") is comfykit_sync_comfycloud.backend
    assert pm.distributions["comfycloud"][0] == "comfykit-sync-comfycloud"
    assert not pm.load_errors
    [info] = [i for i in describe_plugins(pm) if i.name == "comfycloud"]
    assert info.backends == ("comfycloud",)
    assert info.hooks == ("comfykit_register_backends", "comfykit_register_settings")
    assert [s["name"] for s in info.settings] == [
        "comfycloud_api_key",
        "comfycloud_url",
        "comfycloud_timeout",
    ]
    assert info.settings[0]["env"] == "COMFY_CLOUD_API_KEY" and info.settings[0]["secret"]
    with ComfyKit(comfycloud_api_key="k") as kit:  # the settings come with the entry point
        assert kit.backends.owner("comfycloud") == "comfycloud"
        assert kit.config.settings["comfycloud_url"] == "https://cloud.comfy.org"


def test_tests_run_against_the_installed_copy():
    dist = metadata.distribution("comfykit-sync-comfycloud")
    direct_url = dist.read_text("direct_url.json") or "{}"
    if '"editable": true' in direct_url:
        pytest.skip("installed editable")
    assert comfykit_sync_comfycloud.backend.__file__ == str(
        dist.locate_file("comfykit_sync_comfycloud/backend.py")
    )
