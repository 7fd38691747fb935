"""No secret ever reaches a log line, a message or another host (spec §12 items 23-27).

Every scenario runs with distinctive secrets while all logging is captured at DEBUG on the root
logger; the log text, every result message, error repr and raised exception text are then
searched for each secret. A second server records the headers it receives to prove credentials
stay on their own origin.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest
from helpers import T2I, WORKFLOWS

from comfykit_sync import ComfyKit, ComfyKitError
from comfykit_sync.testing import FakeComfyUI, Script
from comfykit_sync.testing.fake_runninghub import FakeRunningHub

API_KEY = "sk-SECRET-api-7f3a9c"
COOKIE = "cookie-SECRET-51b2e8"
COMFY_ORG = "corg-SECRET-0d4e6f"
RH_KEY = "rh-SECRET-9a8b7c6d"
SECRETS = (API_KEY, COOKIE, COMFY_ORG, RH_KEY)
I2I = WORKFLOWS / "image_to_image.json"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def texts(caplog):
    """Collects every message text of a scenario; asserts no secret in them or in the logs."""
    caplog.set_level(logging.DEBUG)  # the root logger: every library logger propagates to it
    collected: list[str] = []
    yield collected
    everything = caplog.text + "\n".join(collected)
    for record in caplog.records:
        everything += repr(record.args) + str(record.exc_text or "")
    for secret in SECRETS:
        assert secret not in everything


def note(texts: list[str], result) -> None:
    texts.extend([repr(result), str(result.msg), repr(result.error), str(result.error)])
    if result.error is not None:
        texts.append(repr(vars(result.error)))


def local_kit(server: FakeComfyUI, executor: str = "http", **options) -> ComfyKit:
    return ComfyKit(
        server.url,
        executor_type=executor,
        api_key=API_KEY,
        cookies={"sid": COOKIE},
        comfy_org_api_key=COMFY_ORG,
        poll_max_interval=0.2,
        **options,
    )


def no_credentials(headers: dict[str, str]) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    assert "authorization" not in lowered and "cookie" not in lowered
    assert not any(secret in value for value in headers.values() for secret in SECRETS)


@pytest.mark.parametrize("executor", ["http", "websocket"])
def test_no_secret_in_logs_or_messages_across_local_scenarios(fake_comfyui, texts, executor):
    with local_kit(fake_comfyui, executor, timeout=20) as kit:
        note(texts, kit.execute(T2I, {"prompt": "ok"}))  # success
        fake_comfyui.script(Script(error_node="3"))
        note(texts, kit.execute(T2I, {"prompt": "fails"}))  # execution error
        fake_comfyui.script(Script(submit_status=500))
        note(texts, kit.execute(T2I, {"prompt": "500"}))  # server error on submit
        fake_comfyui.fault("status", "/prompt", status=401, body={"error": "who are you"})
        note(texts, kit.execute(T2I, {"prompt": "401"}))  # authentication error
        fake_comfyui.script(Script(duration=3.0))
        note(texts, kit.execute(T2I, {"prompt": "slow"}, timeout=0.3))  # timeout + cancel
        fake_comfyui.script(Script(vanish=True))
        note(texts, kit.execute(T2I, {"prompt": "lost"}))  # prompt lost
        note(texts, kit.execute(I2I, {"image": PNG}))  # upload
        with pytest.raises(ComfyKitError) as caught:
            kit.execute(T2I, {"nope": 1})
        texts.append(repr(caught.value))
    assert fake_comfyui.prompts


def test_no_secret_when_the_server_is_unreachable(texts):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for executor in ("http", "websocket"):
        with ComfyKit(
            f"http://127.0.0.1:{port}",
            executor_type=executor,
            api_key=API_KEY,
            cookies={"sid": COOKIE},
            comfy_org_api_key=COMFY_ORG,
        ) as kit:
            note(texts, kit.execute(T2I, {"prompt": "x"}))


def test_credentials_never_reach_other_hosts(fake_comfyui, recording_server, texts, tmp_path):
    workflow_url = recording_server.route(
        "/wf.json", json.dumps(json.loads(I2I.read_text())).encode()
    )
    media_url = recording_server.route("/media/cat.png", PNG)
    file_url = recording_server.route("/out/x.png", PNG)
    redirect_url = recording_server.route("/go.png", b"", status=302, Location=media_url)
    with local_kit(fake_comfyui, timeout=20) as kit:
        result = kit.execute(workflow_url, {"image": media_url})  # URL workflow + media URL
        note(texts, result)
        assert result.status == "completed", result.msg
        note(texts, kit.execute(I2I, {"image": redirect_url}))  # a redirect elsewhere
        assert kit.download(file_url, tmp_path / "x.png").read_bytes() == PNG  # other host
        saved = kit.download(result.artifacts[0], tmp_path / "own.png")  # own host
        assert saved.read_bytes().startswith(b"\x89PNG")
    paths = {r["path"] for r in recording_server.requests}
    assert {"/wf.json", "/media/cat.png", "/out/x.png"} <= paths
    for request in recording_server.requests:
        no_credentials(request["headers"])
    # ... while the server's own origin got them on every request, including /view
    for record in fake_comfyui.requests:
        headers = {k.lower(): v for k, v in record.headers.items()}
        assert headers["authorization"] == f"Bearer {API_KEY}"
        assert headers["cookie"] == f"sid={COOKIE}"


def test_websocket_handshake_carries_the_http_credentials(fake_comfyui, texts):
    with local_kit(fake_comfyui, "websocket", timeout=20) as kit:
        note(texts, kit.execute(T2I, {"prompt": "x"}))
    handshakes = [r for r in fake_comfyui.requests if r.path == "/ws"]
    posts = [r for r in fake_comfyui.requests if r.path == "/prompt"]
    assert handshakes and posts
    for handshake in handshakes:
        ws = {k.lower(): v for k, v in handshake.headers.items()}
        http = {k.lower(): v for k, v in posts[0].headers.items()}
        assert ws["authorization"] == http["authorization"] == f"Bearer {API_KEY}"
        assert ws["cookie"] == http["cookie"] == f"sid={COOKIE}"


def test_comfy_org_key_is_not_exposed_by_the_queue_or_history(fake_comfyui, texts):
    with local_kit(fake_comfyui, timeout=20) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
        note(texts, result)
        history = kit._http.json("GET", f"/history/{result.prompt_id}")
    assert fake_comfyui.prompts[result.prompt_id].extra_data["api_key_comfy_org"] == COMFY_ORG
    assert COMFY_ORG not in json.dumps(history)


def test_runninghub_key_stays_in_runninghub_bodies(texts, recording_server, monkeypatch):
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    media_url = recording_server.route("/media/dog.png", PNG)
    with FakeRunningHub(api_key=RH_KEY, run_time=0.05) as hub:
        t2i = hub.add_workflow(json.loads(T2I.read_text()))
        i2i = hub.add_workflow(json.loads(I2I.read_text()))
        options = {"poll_max_interval": 0.05, "runninghub_timeout": 20}
        with ComfyKit(runninghub_url=hub.url, runninghub_api_key=RH_KEY, **options) as kit:
            result = kit.execute(t2i, {"prompt": "x"})  # text output fetched from the CDN
            note(texts, result)
            assert result.status == "completed", result.msg
            note(texts, kit.execute(i2i, {"image": media_url}))  # media URL on another host
            hub.respond("/task/openapi/create", 802)
            note(texts, kit.execute(t2i, {"prompt": "x"}))  # key refused
        with ComfyKit(runninghub_url=hub.url, runninghub_api_key="rh-wrong", **options) as kit:
            with pytest.raises(ComfyKitError) as caught:
                kit.execute(t2i, {"prompt": "x"})
            texts.append(repr(caught.value))
        assert hub.cdn_requests
        for record in hub.cdn_requests:
            no_credentials(record.headers)
        for record in hub.requests:  # the key travels in bodies only, never in headers
            assert not any(RH_KEY in v for v in record.headers.values())
    for request in recording_server.requests:
        no_credentials(request["headers"])
