"""Settings precedence: argument > environment variable > default, for every setting."""

from __future__ import annotations

import pytest

from comfykit_sync import ComfyKit, ConfigurationError
from comfykit_sync.config import Config

# (setting, env var, env value, parsed env value, argument value, default)
CASES = [
    (
        "comfyui_url",
        "COMFYUI_BASE_URL",
        "http://10.0.0.1:8188/",
        "http://10.0.0.1:8188",
        "http://127.0.0.1:9000",
        "http://127.0.0.1:8188",
    ),
    ("executor_type", "COMFYUI_EXECUTOR_TYPE", "websocket", "websocket", "http", "http"),
    ("api_key", "COMFYUI_API_KEY", "env-key", "env-key", "arg-key", None),
    (
        "runninghub_url",
        "RUNNINGHUB_BASE_URL",
        "https://rh.example",
        "https://rh.example",
        "https://rh2.example",
        "https://www.runninghub.ai",
    ),
    ("runninghub_api_key", "RUNNINGHUB_API_KEY", "rh-env", "rh-env", "rh-arg", None),
    ("runninghub_timeout", "RUNNINGHUB_TIMEOUT", "42", 42.0, 7, 300.0),
    ("runninghub_retry_count", "RUNNINGHUB_RETRY_COUNT", "5", 5, 3, 3),
    ("runninghub_instance_type", "RUNNINGHUB_INSTANCE_TYPE", "plus", "plus", "basic", None),
    ("timeout", "COMFYUI_TIMEOUT", "12.5", 12.5, 3, 1800.0),
]


@pytest.mark.parametrize(
    "name,env_name,env_value,parsed,arg,default", CASES, ids=[c[0] for c in CASES]
)
def test_precedence(name, env_name, env_value, parsed, arg, default):
    env = {env_name: env_value}
    assert getattr(Config.resolve(env={}), name) == default
    assert getattr(Config.resolve(env=env), name) == parsed
    # the argument wins even when it equals the default (the original got this wrong for
    # executor_type "http" and runninghub_retry_count 3)
    assert getattr(Config.resolve(env=env, **{name: arg}), name) == arg


def test_empty_environment_variable_counts_as_unset():
    assert Config.resolve(env={"COMFYUI_BASE_URL": "  "}).comfyui_url == "http://127.0.0.1:8188"


def test_comfyui_api_key_is_not_a_runninghub_key():
    config = Config.resolve(env={"COMFYUI_API_KEY": "proxy-token"})
    assert config.runninghub_api_key is None
    assert config.comfy_org_api_key is None


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"comfyui_url": "ftp://x"}, "comfyui_url"),
        ({"executor_type": "grpc"}, "executor_type"),
        ({"runninghub_timeout": -1}, "runninghub_timeout"),
        ({"runninghub_retry_count": 1.5}, "runninghub_retry_count"),
        ({"seed_policy": "sometimes"}, "seed_policy"),
        ({"request_timeout": (1, 2, 3)}, "request_timeout"),
    ],
)
def test_invalid_arguments_name_the_setting(kwargs, needle):
    with pytest.raises(ConfigurationError, match=needle):
        Config.resolve(env={}, **kwargs)


def test_invalid_environment_value_names_the_variable():
    with pytest.raises(ConfigurationError, match="RUNNINGHUB_TIMEOUT"):
        Config.resolve(env={"RUNNINGHUB_TIMEOUT": "soon"})


def test_unknown_option_is_an_error():
    with pytest.raises(ConfigurationError, match="colour"):
        ComfyKit(colour="red")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ('{"a": "1", "b": 2}', {"a": "1", "b": "2"}),
    ],
)
def test_cookie_formats(text, expected):
    assert Config.resolve(env={}, cookies=text).cookies == expected
    assert Config.resolve(env={"COMFYUI_COOKIES": text}).cookies == expected


def test_bad_cookie_text_does_not_echo_the_value():
    with pytest.raises(ConfigurationError) as info:
        Config.resolve(env={}, cookies="s3cr3t-no-equals")
    assert "s3cr3t" not in str(info.value)


def test_secrets_never_in_repr():
    kit = ComfyKit(
        api_key="sk-proxy",
        cookies="session=c00kie",
        runninghub_api_key="rh-key",
        comfy_org_api_key="corg-key",
    )
    try:
        for text in (repr(kit), repr(kit.config), str(kit.config)):
            for secret in ("sk-proxy", "c00kie", "rh-key", "corg-key"):
                assert secret not in text
    finally:
        kit.close()


def test_environment_read_by_the_kit(monkeypatch):
    monkeypatch.setenv("COMFYUI_EXECUTOR_TYPE", "websocket")
    monkeypatch.setenv("COMFYUI_BASE_URL", "http://127.0.0.1:1")
    with ComfyKit() as kit:
        assert kit.config.executor_type == "websocket"
        assert kit.config.default_backend == "comfyui-ws"
    with ComfyKit(executor_type="http") as kit:
        assert kit.config.executor_type == "http"


def test_close_is_idempotent_and_final():
    kit = ComfyKit()
    with kit:
        pass
    kit.close()
    with pytest.raises(Exception, match="closed"):
        kit.backend()


def test_several_servers_from_an_argument_or_the_environment():
    env = {"COMFYUI_BASE_URL": "http://a.example:1, http://b.example:2/"}
    config = Config.resolve(env=env)
    assert [s.url for s in config.servers] == ["http://a.example:1", "http://b.example:2"]
    assert config.comfyui_url == "http://a.example:1"
    second = {"url": "http://d.example:4", "cookies": "k=v", "api_key": "s3cret"}
    mixed = ["http://c.example:3", second]
    config = Config.resolve(env=env, comfyui_url=mixed)
    assert [s.url for s in config.servers] == ["http://c.example:3", "http://d.example:4"]
    assert config.servers[1].cookies == {"k": "v"} and config.servers[1].api_key == "s3cret"
    assert "s3cret" not in repr(config.servers[1]) and "k=v" not in repr(config)
    assert [s.url for s in Config.resolve(env={}).servers] == ["http://127.0.0.1:8188"]
    assert Config(comfyui_url="http://e.example:5").servers[0].url == "http://e.example:5"
    with pytest.raises(ConfigurationError, match="COMFYUI_BASE_URL"):
        Config.resolve(env={"COMFYUI_BASE_URL": "http://a.example:1,b.example:2"})


def test_pool_settings():
    assert Config.resolve(env={}).resubmit_lost is False
    assert Config.resolve(env={"COMFYKIT_RESUBMIT_LOST": "yes"}).resubmit_lost is True
    env = {"COMFYKIT_RESUBMIT_LOST": "1"}
    assert Config.resolve(env=env, resubmit_lost=False).resubmit_lost is False
    with pytest.raises(ConfigurationError, match="COMFYKIT_RESUBMIT_LOST"):
        Config.resolve(env={"COMFYKIT_RESUBMIT_LOST": "maybe"})
    assert Config.resolve(env={}, server_lost_after=2).server_lost_after == 2.0
    with pytest.raises(ConfigurationError, match="server_lost_after"):
        Config.resolve(env={}, server_lost_after=0)
