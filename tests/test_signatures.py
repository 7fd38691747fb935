"""``ComfyKit()`` spells out every ``Config`` option; ``execute()`` spells out ``submit()``'s."""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import pytest

from comfykit_sync import ComfyKit, Config, ConfigurationError, ExecuteResult
from comfykit_sync.config import option_names

#: the original ComfyKit's positional arguments, in its order; every other option is keyword-only
POSITIONAL = (
    "comfyui_url",
    "executor_type",
    "api_key",
    "cookies",
    "runninghub_url",
    "runninghub_api_key",
    "runninghub_timeout",
    "runninghub_retry_count",
    "runninghub_instance_type",
)
#: arguments that accept more than the resolved ``Config`` field holds
WIDER = {
    "comfyui_url": "str | Sequence[str | Mapping[str, Any]] | None",
    "cookies": "str | Mapping[str, str] | None",
    "request_timeout": "float | tuple[float, float] | None",
    "object_info_cache_dir": "str | os.PathLike[str] | None",
}
#: a valid argument for each option and the value ``Config`` resolves it to
SAMPLES: dict[str, tuple[Any, Any]] = {
    "comfyui_url": ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
    "executor_type": ("ws", "websocket"),
    "api_key": ("k1", "k1"),
    "cookies": ({"sid": "c"}, {"sid": "c"}),
    "comfy_org_api_key": ("k2", "k2"),
    "runninghub_url": ("http://127.0.0.1:8", "http://127.0.0.1:8"),
    "runninghub_api_key": ("k3", "k3"),
    "runninghub_timeout": (12.5, 12.5),
    "runninghub_retry_count": (7, 7),
    "runninghub_instance_type": ("plus", "plus"),
    "runninghub_webhook_url": ("http://127.0.0.1:7/hook", "http://127.0.0.1:7/hook"),
    "timeout": (99, 99.0),
    "request_timeout": (3, (3.0, 3.0)),
    "cancel_timeout": (2, 2.0),
    "poll_max_interval": (0.5, 0.5),
    "seed_policy": ("off", "off"),
    "on_node_errors": ("warn", "warn"),
    "upload_subfolder": ("sub", "sub"),
    "max_workflow_bytes": (1234, 1234),
    "ws_max_frame_bytes": (4321, 4321),
    "resubmit_lost": (True, True),
    "server_lost_after": (3, 3.0),
    "object_info_cache_dir": ("/tmp/definitions", "/tmp/definitions"),
    "client_id": ("cid", "cid"),
}


def test_every_config_option_is_an_argument_with_its_type_and_default_none():
    params = inspect.signature(ComfyKit).parameters
    options = option_names()
    # every Config field but ``servers``, derived from ``comfyui_url``, and the plugins' settings
    derived = {"servers", "settings"}
    assert options == tuple(f.name for f in attrs.fields(Config) if f.name not in derived)
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    keyword = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
    assert tuple(positional) == POSITIONAL
    others = ["plugin_manager", "object_info"]
    assert keyword == [*(n for n in options if n not in POSITIONAL), *others]
    assert [p.kind for p in params.values()][-1] is inspect.Parameter.VAR_KEYWORD
    for field in attrs.fields(Config):
        if field.name not in options:
            continue
        param = params[field.name]
        own = str(field.type).removesuffix(" | None")
        assert param.annotation == WIDER.get(field.name, f"{own} | None"), field.name
        assert param.default is None, field.name


def test_each_argument_reaches_its_config_field():
    assert set(SAMPLES) == set(option_names())
    with ComfyKit(**{name: given for name, (given, _) in SAMPLES.items()}) as kit:
        for name, (_, resolved) in SAMPLES.items():
            assert getattr(kit.config, name) == resolved, name


def test_other_keywords_are_plugin_settings_and_unknown_ones_are_refused():
    with pytest.raises(ConfigurationError, match="no_such_setting"):
        ComfyKit(no_such_setting=1)


def keyword_only(function: Any) -> dict[str, tuple[Any, Any]]:
    params = inspect.signature(function).parameters.values()
    assert not any(p.kind is p.VAR_KEYWORD for p in params)
    return {p.name: (p.annotation, p.default) for p in params if p.kind is p.KEYWORD_ONLY}


def test_execute_and_execute_json_spell_out_the_options_of_submit():
    expected = {"raise_on_error": ("bool", False), **keyword_only(ComfyKit.submit)}
    assert keyword_only(ComfyKit.execute) == expected
    assert keyword_only(ComfyKit.execute_json) == expected


class _Recorded:
    def __init__(self, result: ExecuteResult) -> None:
        self._result = result

    def result(self) -> ExecuteResult:
        return self._result


class _RecordingKit(ComfyKit):
    """A kit whose ``submit`` records its arguments instead of running anything."""

    calls: list[dict[str, Any]]

    def submit(self, workflow: Any, params: Any = None, **options: Any) -> Any:  # type: ignore[override]
        self.calls.append({"workflow": workflow, "params": params, **options})
        return _Recorded(ExecuteResult("completed", prompt_id="p"))


@pytest.mark.parametrize("method", ["execute", "execute_json"])
def test_execute_passes_every_option_on_to_submit(method):
    options = {name: object() for name in keyword_only(ComfyKit.submit)}
    with _RecordingKit() as kit:
        kit.calls = []
        result = getattr(kit, method)({"1": {}}, {"p": 1}, **options)
    assert result.prompt_id == "p"
    assert kit.calls == [{"workflow": {"1": {}}, "params": {"p": 1}, **options}]
