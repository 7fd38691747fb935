"""Every public name of ``comfykit_sync.backend`` (and the public test helpers) has a test.

Each ``test_api_<name>`` exercises that name the way a plugin uses it, against real servers on
127.0.0.1 where it talks to one. The last tests check that the plugins in ``plugins/`` import
no private ``comfykit_sync`` name.
"""

from __future__ import annotations

import ast
import asyncio
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import websocket
from helpers import T2I
from recording_server import RecordingServer

import comfykit_sync
import comfykit_sync.backend as api
from comfykit_sync import (
    ComfyKit,
    ConfigurationError,
    ExecutionError,
    ExecutionTimeout,
    InvalidResponseError,
    ServerError,
    WorkflowLoadError,
    hookimpl,
)
from comfykit_sync.events import Queued, Started
from comfykit_sync.params import parse_workflow
from comfykit_sync.plugins import make_plugin_manager
from comfykit_sync.testing import BackgroundServer, cli_parser

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
KEY = "api-key-7f3a9c"


@pytest.fixture
def servers() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    """Two HTTP servers on different ports: two origins."""
    home, elsewhere = RecordingServer().start(), RecordingServer().start()
    try:
        yield home, elsewhere
    finally:
        home.stop()
        elsewhere.stop()


# -- a backend written against the public API only --------------------------------------------
class Remote(api.Backend):
    """Runs nothing: every job "finishes" at once with one image on its own server."""

    name = "remote"
    capabilities = frozenset({"upload", "reattach"})
    server_url = ""
    fail_with: str | None = None

    def __init__(self, context: api.BackendContext) -> None:
        super().__init__(context)
        self.http = api.HttpClient(self.server_url, headers={"X-API-Key": KEY})
        self.jobs: list[api.PreparedJob] = []
        self.uploads: list[api.UploadSource] = []
        self.requests: list[api.JobRequest] = []

    def place(self, request: api.JobRequest) -> Iterator[api.Backend]:
        self.requests.append(request)
        yield self

    def upload(self, source: api.UploadSource) -> str:
        self.uploads.append(source)
        with api.open_media(source, self.http) as media:
            return media.filename

    def submit(self, job: api.PreparedJob) -> api.Submission:
        self.jobs.append(job)
        return api.Submission(job.prompt_id, warnings=("remote warning",))

    def status(self, prompt_id: str) -> api.JobState:
        return api.JobState("finished")

    def wait(self, prompt_id, spec, *, deadline, queue_deadline=None, emit=None):
        if emit:
            emit(Queued(prompt_id, 0))
            emit(Started(prompt_id))
        return self.outputs(prompt_id, spec)

    def outputs(self, prompt_id, spec):
        spec = spec or api.WorkflowSpec()
        record = {"filename": "out.png", "subfolder": "", "type": "output"}
        item = api.OutputItem(
            "9",
            "images",
            record,
            spec.output_var("9"),
            {"images": [record]},
            self.http.url("/out.png"),
        )
        error = ExecutionError(self.fail_with, prompt_id=prompt_id) if self.fail_with else None
        return api.RunOutcome(prompt_id, {"9": {"images": [record]}}, items=(item,), error=error)

    def cancel(self, prompt_id: str) -> bool:
        return False

    def close(self) -> None:
        self.http.close()


class RemotePlugin:
    @hookimpl
    def comfykit_register_backends(self, register):
        register(Remote)


@pytest.fixture
def remote_kit(fake_comfyui, servers) -> Iterator[ComfyKit]:
    home, _ = servers
    Remote.server_url, Remote.fail_with = home.url, None
    pm = make_plugin_manager(autoload=False)
    pm.register(RemotePlugin(), name="remote-plugin")
    with ComfyKit(fake_comfyui.url, plugin_manager=pm) as kit:
        yield kit


def test_api_Backend(remote_kit, servers, tmp_path):
    home, elsewhere = servers
    home.route("/out.png", b"", 302, Location=elsewhere.url + "/signed.png?sig=1")
    elsewhere.route("/signed.png", PNG, Content_Type="image/png")
    result = remote_kit.execute(T2I, {"prompt": "x"}, backend="remote")
    assert result.status == "completed" and result.backend == "remote"
    backend = remote_kit.backend("remote")
    assert backend.http is not remote_kit.backend("comfyui-http").http
    assert backend.default_timeout == remote_kit.config.timeout
    # the backend's outputs download with its client: the key goes home, never elsewhere
    [saved] = result.save(tmp_path / "saved")
    downloaded = remote_kit.download(result.images[0], tmp_path / "dl.png")
    assert saved.read_bytes() == downloaded.read_bytes() == PNG
    assert [r["headers"].get("X-API-Key") for r in home.requests] == [KEY, KEY]
    assert elsewhere.requests and all("X-API-Key" not in r["headers"] for r in elsewhere.requests)


def test_api_BackendContext(remote_kit):
    backend = remote_kit.backend("remote")
    assert backend.context.config is remote_kit.config
    assert backend.context.plugin_manager is remote_kit.plugin_manager
    assert backend.context.http.base_url == remote_kit.config.comfyui_url
    assert backend.context.clients == (backend.context.http,)  # one ComfyUI server


def test_api_PreparedJob(remote_kit):
    remote_kit.execute(T2I, {"prompt": "a fox"}, backend="remote")
    [job] = remote_kit.backend("remote").jobs
    assert uuid.UUID(job.prompt_id) and job.workflow.source.endswith("text_to_image.json")
    assert job.values == {"prompt": "a fox"} and "prompt" in job.spec.params
    [target] = job.spec.params["prompt"].targets
    assert job.graph[target.node_id]["inputs"][target.field] == "a fox"


def test_api_JobRequest(remote_kit):
    graph = json.loads((T2I.parent / "image_to_image.json").read_text())
    remote_kit.execute_json(graph, {"image": PNG, "prompt": "a fox"}, backend="remote")
    [request] = remote_kit.backend("remote").requests
    [job] = remote_kit.backend("remote").jobs
    assert request.prompt_id == job.prompt_id and request.targets is None
    assert request.values["prompt"] == "a fox"
    assert isinstance(request.values["image"], api.UploadSource)  # not uploaded yet
    [image] = request.spec.params["image"].targets
    [prompt] = request.spec.params["prompt"].targets
    assert request.uploads == {(image.node_id, image.field)}
    assert request.graph[prompt.node_id]["inputs"][prompt.field] == "a fox"
    assert request.workflow_key == api.JobRequest(
        "other", request.workflow, request.spec, {}
    ).workflow_key
    elsewhere = request.excluding(["http://127.0.0.1:9"])
    assert elsewhere.exclude == {"http://127.0.0.1:9"} and elsewhere.prompt_id == job.prompt_id
    assert request.exclude == frozenset()


def test_api_Submission(remote_kit):
    result = remote_kit.execute(T2I, {"prompt": "x"}, backend="remote")
    assert "remote warning" in result.warnings
    assert result.prompt_id == remote_kit.backend("remote").jobs[0].prompt_id


def test_api_JobState():
    assert api.JobState("pending", position=2).position == 2
    assert api.JobState("running").position is None
    assert api.JobState("failed").finished and not api.JobState("running").finished


def test_api_RunOutcome(remote_kit):
    Remote.fail_with = "the GPU caught fire"
    result = remote_kit.execute(T2I, {"prompt": "x"}, backend="remote")
    assert result.status == "failed" and isinstance(result.error, ExecutionError)
    assert "GPU caught fire" in result.msg and result.outputs == {
        "9": {"images": [{"filename": "out.png", "subfolder": "", "type": "output"}]}
    }
    assert len(result.artifacts) == 1  # a failed run keeps what it produced


def test_api_OutputItem(remote_kit):
    result = remote_kit.execute(T2I, {"prompt": "x"}, backend="remote")
    [artifact] = result.artifacts
    assert artifact.kind == "image" and artifact.node_id == "9" and artifact.var == "image"
    assert result.images_by_var == {"image": [remote_kit.backend("remote").http.url("/out.png")]}


def test_api_UploadSource(remote_kit):
    graph = json.loads((T2I.parent / "image_to_image.json").read_text())
    result = remote_kit.execute_json(graph, {"image": PNG}, backend="remote")
    assert result.status == "completed"
    [source] = remote_kit.backend("remote").uploads
    assert source.kind == "bytes" and source.value == PNG
    [job] = remote_kit.backend("remote").jobs
    assert job.values["image"].startswith("upload-") and job.values["image"].endswith(".png")


def test_api_WorkflowSpec():
    spec = parse_workflow(json.loads(T2I.read_text()))
    assert spec.output_var("9") == "image" and spec.output_var("404") == "404"
    [target] = spec.params["prompt"].targets
    assert spec.param_for(target.node_id, target.field) == "prompt"
    assert spec.param_for(target.node_id, "nope") is None


def test_api_EventCallback(remote_kit):
    events: list[object] = []
    callback: api.EventCallback = events.append
    result = remote_kit.execute(T2I, {"prompt": "x"}, backend="remote", on_event=callback)
    assert [type(e).__name__ for e in events] == ["Queued", "Started", "Completed"]
    assert {e.prompt_id for e in events} == {result.prompt_id}


# -- HTTP ----------------------------------------------------------------------------------------
def test_api_HttpClient(servers):
    home, elsewhere = servers
    home.route("/data", b'{"ok": true}', Content_Type="application/json")
    home.route("/here", b"", 302, Location="/data")
    home.route("/away", b"", 302, Location=elsewhere.url + "/data")
    elsewhere.route("/data", b'{"ok": "elsewhere"}', Content_Type="application/json")
    http = api.HttpClient(home.url + "/", token="tok-1", headers={"X-API-Key": KEY})
    try:
        assert http.json("GET", "/data") == {"ok": True}
        assert http.json("GET", "/here") == {"ok": True}  # a same-origin redirect keeps them
        assert http.json("GET", "/away") == {"ok": "elsewhere"}  # a cross-origin one drops them
        assert http.json("GET", elsewhere.url + "/data") == {"ok": "elsewhere"}
        assert http.url("/x") == home.url + "/x" and http.base_url == home.url
        with pytest.raises(comfykit_sync.NotFoundError) as info:
            http.request("GET", "/missing", what="reading the thing")
        assert "reading the thing" in str(info.value) and info.value.status_code == 404
        assert KEY not in repr(http) + repr(http.auth) and "tok-1" not in repr(http)
        with http.session() as session:
            assert session.auth is http.auth
    finally:
        http.close()
    sent = {r["path"]: r["headers"] for r in home.requests}
    assert sent["/here"]["X-API-Key"] == KEY and sent["/data"]["Authorization"] == "Bearer tok-1"
    assert all(
        "X-API-Key" not in r["headers"] and "Authorization" not in r["headers"]
        for r in elsewhere.requests
    )
    assert len(elsewhere.requests) == 2


def test_api_OriginAuth(fake_comfyui):
    http = api.HttpClient(fake_comfyui.url, headers={"X-API-Key": KEY}, ws_query={"token": KEY})
    url = http.websocket_url("/ws", {"clientId": "c 1"})
    assert url == f"ws://127.0.0.1:{fake_comfyui.port}/ws?clientId=c%201" and KEY not in url
    connect_url, headers = http.auth.websocket(url)
    assert parse_qs(urlsplit(connect_url).query) == {"clientId": ["c 1"], "token": [KEY]}
    assert headers == {"X-API-Key": KEY}
    assert http.auth.websocket("ws://other.example/ws") == ("ws://other.example/ws", {})
    assert http.auth.headers_for("http://other.example/x") == {}
    assert http.auth.header_names == {"Authorization", "X-API-Key"}
    assert http.auth.redact(f"failed: {connect_url}") == f"failed: {url}&token=***"
    ws = websocket.create_connection(connect_url, header=headers, timeout=5)
    ws.close()
    [handshake] = [r for r in fake_comfyui.requests if r.path == "/ws"]
    assert handshake.query == {"clientId": "c 1", "token": KEY}
    assert handshake.headers["X-API-Key"] == KEY


def test_api_decode_json(servers):
    home, _ = servers
    home.route("/html", b"<html>oops</html>", Content_Type="text/html")
    http = api.HttpClient(home.url)
    try:
        response = http.request("GET", "/html")
        with pytest.raises(InvalidResponseError, match="Acme replied with non-JSON.*oops"):
            api.decode_json(response, "reading the status", "Acme")
    finally:
        http.close()


def test_api_iter_body(servers):
    home, _ = servers
    home.route("/big", bytes(range(256)) * 1000)
    http = api.HttpClient(home.url)
    try:
        with http.request("GET", "/big", stream=True) as response:
            chunks = list(api.iter_body(response, "downloading", chunk_size=4096))
    finally:
        http.close()
    assert b"".join(chunks) == bytes(range(256)) * 1000 and len(chunks) > 1


def test_api_remaining_timeout():
    far = time.monotonic() + 3600
    assert api.remaining_timeout((5.0, 60.0), far) == (5.0, 60.0)
    connect, read = api.remaining_timeout((5.0, 60.0), time.monotonic() + 2)
    assert 0.5 <= read <= 2 and connect <= 2
    assert api.remaining_timeout((5.0, 60.0), time.monotonic() - 10) == (0.5, 0.5)


# -- waiting ---------------------------------------------------------------------------------
def test_api_poll_job():
    answers = iter([None, ServerError("busy", status_code=503), "done"])

    def check():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert (
        api.poll_job(
            check,
            prompt_id="p1",
            deadline=time.monotonic() + 10,
            max_interval=0.01,
            min_interval=0.001,
        )
        == "done"
    )

    slept: list[float] = []  # an injected sleep: called between checks, never past the deadline
    replies = iter([None, None, "ok"])
    assert (
        api.poll_job(
            lambda: next(replies),
            prompt_id="p4",
            deadline=time.monotonic() + 10,
            max_interval=0.5,
            sleep=slept.append,
        )
        == "ok"
    )
    assert len(slept) == 2 and all(0 <= s <= 0.5 for s in slept)

    def busy():
        raise ServerError("still busy", status_code=503)

    with pytest.raises(ExecutionTimeout) as info:
        api.poll_job(
            busy,
            prompt_id="p2",
            deadline=time.monotonic() + 0.05,
            max_interval=0.01,
            label="Acme job",
        )
    assert info.value.prompt_id == "p2" and "Acme job p2" in str(info.value)
    assert isinstance(info.value.__cause__, ServerError)
    with pytest.raises(ValueError):  # not transient: ends the wait at once
        api.poll_job(
            lambda: int("x"), prompt_id="p3", deadline=time.monotonic() + 10, max_interval=0.01
        )


# -- media -----------------------------------------------------------------------------------
def test_api_open_media(servers, tmp_path):
    home, elsewhere = servers
    elsewhere.route("/media/cat.png", PNG)
    path = tmp_path / "photo.png"
    path.write_bytes(PNG)
    http = api.HttpClient(home.url, headers={"X-API-Key": KEY})
    try:
        with api.open_media(api.UploadSource("path", path, None), http) as media:
            assert (media.filename, media.size, media.fileobj.read()) == (
                "photo.png",
                len(PNG),
                PNG,
            )
        with api.open_media(api.UploadSource("bytes", PNG, None), http) as media:
            assert media.filename.startswith("upload-") and media.content_type == "image/png"
        url = elsewhere.url + "/media/cat.png"
        with api.open_media(api.UploadSource("url", url, None), http) as media:
            assert media.filename == "cat.png" and media.fileobj.read() == PNG
        with pytest.raises(comfykit_sync.ParameterError, match="larger than 8 bytes"):
            with api.open_media(api.UploadSource("url", url, None), http, max_bytes=8):
                pass
    finally:
        http.close()
    assert all("X-API-Key" not in r["headers"] for r in elsewhere.requests)


def test_api_OpenedMedia():
    media = api.OpenedMedia("a.png", io.BytesIO(PNG), len(PNG), "image/png")
    assert media.size == len(PNG) and media.fileobj.read() == PNG


def test_api_safe_filename():
    assert api.safe_filename("../../etc/passwd") == "passwd"
    assert api.safe_filename("C:\\dir\\a<b>:c?.png") == "a_b_c_.png"
    assert api.safe_filename("..") == "" and len(api.safe_filename("x" * 500 + ".png")) == 124


def test_api_MultipartStream(fake_comfyui):
    body = api.MultipartStream(
        {"type": "input", "overwrite": "true"},
        file_field="image",
        filename='odd "name".png',
        fileobj=io.BytesIO(PNG),
        size=len(PNG),
        content_type="image/png",
    )
    assert body.content_type.startswith("multipart/form-data; boundary=")
    http = api.HttpClient(fake_comfyui.url)
    try:
        reply = http.json(
            "POST", "/upload/image", data=body, headers={"Content-Type": body.content_type}
        )
    finally:
        http.close()
    assert (fake_comfyui.input_dir / reply["name"]).read_bytes() == PNG
    again = api.MultipartStream(
        {}, file_field="f", filename="x", fileobj=io.BytesIO(b"abc"), size=3
    )
    data = b"".join(iter(lambda: again.read(7), b""))
    assert len(data) == len(again) and b"abc" in data


# -- settings --------------------------------------------------------------------------------
SETTINGS = (
    api.Setting("acme_url", "ACME_URL", "https://acme.example", api.parse_url),
    api.Setting("acme_key", "ACME_KEY", secret=True),
    api.Setting("acme_retries", "ACME_RETRIES", 2, api.parse_non_negative_int),
)


def test_api_Setting():
    setting = api.Setting("acme_wait", "ACME_WAIT", 5.0, api.parse_seconds, help="seconds")
    assert setting.resolve(None, {}) == 5.0
    assert setting.resolve(None, {"ACME_WAIT": " "}) == 5.0  # blank counts as unset
    assert setting.resolve(None, {"ACME_WAIT": "2"}) == 2.0
    assert setting.resolve(7, {"ACME_WAIT": "2"}) == 7.0  # the argument wins
    with pytest.raises(ConfigurationError, match="environment variable ACME_WAIT"):
        setting.resolve(None, {"ACME_WAIT": "soon"})
    for bad in ("Acme", "2fast", "a-b", ""):
        with pytest.raises(ValueError, match="lower-case identifier"):
            api.Setting(bad)


def test_api_Settings():
    declared_calls = []

    def declared():
        declared_calls.append(1)
        return SETTINGS

    settings = api.Settings({"acme_key": "k-123"}, env={"ACME_RETRIES": "4"}, declared=declared)
    assert dict(settings) == {
        "acme_url": "https://acme.example",
        "acme_key": "k-123",
        "acme_retries": 4,
    }
    assert set(settings.declared) == {"acme_url", "acme_key", "acme_retries"}
    assert "k-123" not in repr(settings) and "acme_key=<hidden>" in repr(settings)
    assert settings.require("acme_key") == "k-123" and len(declared_calls) == 1
    with pytest.raises(KeyError):
        settings["nope"]
    empty = api.Settings(env={}, declared=SETTINGS)
    with pytest.raises(
        ConfigurationError,
        match="the acme backend needs the setting acme_key: "
        "pass ComfyKit.acme_key=....* or set the environment variable ACME_KEY",
    ):
        empty.require("acme_key", what="the acme backend")
    with pytest.raises(ConfigurationError, match="unknown setting.*acme_kye"):
        api.Settings({"acme_kye": "x"}, declared=SETTINGS)
    with pytest.raises(ConfigurationError, match="argument acme_url"):
        api.Settings({"acme_url": "ftp://x"}, declared=SETTINGS)


def test_api_Settings_are_read_once_across_threads():
    settings = api.Settings(env={"ACME_RETRIES": "3"}, declared=SETTINGS)
    values, barrier = [], threading.Barrier(8)

    def read():
        barrier.wait(5)
        values.append(settings["acme_retries"])

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert values == [3] * 8


def test_api_parse_text():
    assert api.parse_text(" x ", "argument a") == " x "
    with pytest.raises(ConfigurationError, match="argument a must be a string"):
        api.parse_text(3, "argument a")


def test_api_parse_url():
    assert api.parse_url(" https://h.example/base/ ", "o") == "https://h.example/base"
    for bad in ("h.example", "ftp://h.example", "http://", 5):
        with pytest.raises(ConfigurationError, match="o must be"):
            api.parse_url(bad, "o")


def test_api_parse_seconds():
    assert api.parse_seconds("2.5", "o") == 2.5 and api.parse_seconds(3, "o") == 3.0
    for bad in ("soon", 0, -1, None):
        with pytest.raises(ConfigurationError, match="^o must be"):
            api.parse_seconds(bad, "o")


def test_api_parse_flag():
    assert api.parse_flag(True, "o") is True and api.parse_flag(" Yes ", "o") is True
    assert api.parse_flag("0", "o") is False and api.parse_flag("OFF", "o") is False
    with pytest.raises(ConfigurationError, match="environment variable X must be true or false"):
        api.parse_flag("maybe", "environment variable X")


def test_api_parse_non_negative_int():
    assert api.parse_non_negative_int("3", "o") == 3 and api.parse_non_negative_int(0, "o") == 0
    for bad in (-1, 2.5, True, "x"):
        with pytest.raises(ConfigurationError, match="^o must be a whole number"):
            api.parse_non_negative_int(bad, "o")


# -- loaders ---------------------------------------------------------------------------------
def test_api_api_graph():
    graph = json.loads(T2I.read_text())
    assert api.api_graph(graph, "x") == graph
    with pytest.raises(WorkflowLoadError, match="embedded.png cannot be run: it is a UI-format"):
        api.api_graph({"nodes": [], "links": [], "version": 0.4}, "embedded.png")
    with pytest.raises(WorkflowLoadError, match="node '1' has no class_type"):
        api.api_graph({"1": {"inputs": {}}}, "x")


def test_api_is_ui_workflow():
    assert api.is_ui_workflow({"nodes": [{"id": 1}], "links": [], "version": 0.4})
    assert not api.is_ui_workflow(json.loads(T2I.read_text()))


def test_api_workflow_graph():
    graph = json.loads(T2I.read_text())
    assert api.workflow_graph(graph, "x") == graph
    ui = {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": [], "version": 0.4}
    assert api.workflow_graph(ui, "x") == ui  # kept as it is: the kit converts it
    with pytest.raises(WorkflowLoadError, match="x: node '1' has no class_type"):
        api.workflow_graph({"1": {"inputs": {}}}, "x")


def test_api_hookimpl():
    assert api.hookimpl is comfykit_sync.hookimpl


# -- test helpers ------------------------------------------------------------------------------
class Counter(BackgroundServer):
    """Counts connections; its private names must not clash with the base class's."""

    name = "Counter"

    async def startup(self) -> None:
        self.count = 0
        self._loop = self._thread = self._stopped = "mine"
        self.server = await self._serve()
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self) -> asyncio.Server:
        return await asyncio.start_server(self.handle, "127.0.0.1", 0)

    async def shutdown(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def reset(self) -> int:
        count, self.count = self.count, 0
        return count


class Broken(BackgroundServer):
    name = "Broken"

    async def startup(self) -> None:
        raise OSError("port taken")

    async def shutdown(self) -> None:
        pass


def test_api_BackgroundServer():
    with Counter() as server:
        http = api.HttpClient(f"http://127.0.0.1:{server.port}")
        assert http.request("GET", "/").text == "ok"
        http.close()
        assert server.run_coroutine(server.reset()) == 1
        with pytest.raises(RuntimeError, match="only be started once"):
            server.start()
    server.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        server.run_coroutine(server.reset())
    with pytest.raises(RuntimeError, match="fake Broken failed to start") as info:
        Broken().start()
    assert isinstance(info.value.__cause__, OSError)


def test_api_cli_parser():
    args = cli_parser("acme.fake", "A fake Acme").parse_args(["--port", "9000"])
    assert (args.host, args.port) == ("127.0.0.1", 9000)


# -- completeness ----------------------------------------------------------------------------
PUBLIC = [*api.__all__, "BackgroundServer", "cli_parser"]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_a_test(name):
    assert f"test_api_{name}" in globals()


def private_uses(code: str) -> list[str]:
    """Every ``comfykit_sync`` module or name with a leading underscore that ``code`` uses."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "comfykit_sync":
                parts = node.module.split(".") + [alias.name for alias in node.names]
                found += [f"{node.module}: {p}" for p in parts if p.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] == "comfykit_sync"
                and any(p.startswith("_") for p in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            dunder = node.attr.startswith("__") and node.attr.endswith("__")
            if isinstance(root, ast.Name) and root.id == "comfykit_sync" and not dunder:
                found.append(ast.unparse(node))
    return found


PLUGIN_FILES = sorted(
    path
    for path in (ROOT / "plugins").glob("*/**/*.py")
    if not {"build", ".venv"} & set(path.relative_to(ROOT).parts)
)


def test_plugins_import_no_private_comfykit_sync_name():
    assert len({p.relative_to(ROOT).parts[1] for p in PLUGIN_FILES}) >= 3
    uses = [
        f"{path.relative_to(ROOT)}: {use}"
        for path in PLUGIN_FILES
        for use in private_uses(path.read_text())
    ]
    assert not uses, "\n".join(uses)


def test_the_private_name_check_finds_private_names():
    code = (
        "import comfykit_sync._http\n"
        "from comfykit_sync.loaders._api_format import api_graph\n"
        "from comfykit_sync.config import _url\n"
        "import comfykit_sync\n"
        "comfykit_sync.testing._media.png\n"
        "print(comfykit_sync.__file__)\n"
    )
    assert private_uses(code) == [
        "comfykit_sync._http",
        "comfykit_sync.loaders._api_format: _api_format",
        "comfykit_sync.config: _url",
        "comfykit_sync.testing._media",
    ]
