"""The backend is found through the installed entry point, not a manual ``pm.register``."""

from __future__ import annotations

import comfykit_sync_runpod.backend
import pytest

from comfykit_sync import ComfyKit
from comfykit_sync.plugins import make_plugin_manager


def test_discovered_through_installed_entry_point(monkeypatch):
    monkeypatch.delenv("COMFYKIT_SYNC_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("COMFYKIT_SYNC_DISABLED_PLUGINS", raising=False)
    pm = make_plugin_manager()
    assert pm.get_plugin("runpod") is comfykit_sync_runpod.backend
    assert pm.distributions["runpod"][0] == "comfykit-sync-runpod"
    assert not pm.load_errors
    with ComfyKit() as kit:
        assert "runpod" in kit.backends.names
        assert kit.backends.owner("runpod") == "runpod"


def test_tests_run_against_the_installed_copy():
    from importlib import metadata

    dist = metadata.distribution("comfykit-sync-runpod")
    direct_url = dist.read_text("direct_url.json") or "{}"
    if '"editable": true' in direct_url:
        pytest.skip("installed editable")
    assert comfykit_sync_runpod.backend.__file__ == str(
        dist.locate_file("comfykit_sync_runpod/backend.py")
    )
