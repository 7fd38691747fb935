"""A kit over several ComfyUI servers: routing, stickiness, failures, re-attach, threads.

Three fake servers that differ like real GPU boxes do:

* ``a`` (0.3.64): every node, checkpoints ``sd15`` and ``sdxl``;
* ``b`` (0.3.64): no VideoHelperSuite, checkpoints ``sd15`` and ``flux``;
* ``c`` (a newer server with ``/api/jobs``): no ``ShowText|pysssss``, checkpoint ``sd15``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from helpers import T2I, run_in_threads

import comfykit_sync
import comfykit_sync.pool.backend
import comfykit_sync.pool.member
from comfykit_sync import (
    ComfyKit,
    ConfigurationError,
    PromptLostError,
    SubmissionUnknownError,
    TransportError,
)
from comfykit_sync.backends.comfyui_http import ComfyUIHttpBackend
from comfykit_sync.errors import NoCapableServerError
from comfykit_sync.pool import ServerPool
from comfykit_sync.testing import FakeComfyUI

EXECUTORS = ["http", "websocket"]
WAIT = 10.0
VHS_NODE = {
    "class_type": "VHS_VideoCombine",
    "inputs": {
        "images": ["8", 0],
        "frame_rate": 8,
        "loop_count": 0,
        "filename_prefix": "clip",
        "format": "image/gif",
        "pingpong": False,
        "save_output": True,
    },
    "_meta": {"title": "$output.video"},
}


def workflow(checkpoint: str = "sd15.safetensors", *, video: bool = False) -> dict[str, Any]:
    graph = json.loads(T2I.read_text())
    graph["4"]["inputs"]["ckpt_name"] = checkpoint
    if video:
        graph["11"] = copy.deepcopy(VHS_NODE)
    return graph


def eventually(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``condition`` until it is true (bounded)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def posted_prompts(server: FakeComfyUI) -> list[Any]:
    return [r for r in server.requests if r.method == "POST" and r.path == "/prompt"]


def server_a(**kwargs: Any) -> FakeComfyUI:
    return FakeComfyUI(checkpoints=["sd15.safetensors", "sdxl.safetensors"], **kwargs)


def server_b(**kwargs: Any) -> FakeComfyUI:
    return FakeComfyUI(
        missing_nodes=["VHS_VideoCombine"],
        checkpoints=["sd15.safetensors", "flux.safetensors"],
        **kwargs,
    )


def server_c(**kwargs: Any) -> FakeComfyUI:
    return FakeComfyUI(
        version="0.38.1", missing_nodes=["ShowText|pysssss"], checkpoints=["sd15.safetensors"]
    )


@pytest.fixture
def servers() -> Iterator[tuple[FakeComfyUI, FakeComfyUI, FakeComfyUI]]:
    with server_a() as a, server_b() as b, server_c() as c:
        yield a, b, c


@pytest.fixture
def pair() -> Iterator[tuple[FakeComfyUI, FakeComfyUI]]:
    with server_a() as a, server_b() as b:
        yield a, b


def pool_kit(*urls: str, **options: Any) -> ComfyKit:
    options.setdefault("timeout", 30)
    options.setdefault("poll_max_interval", 0.2)
    options.setdefault("server_lost_after", 0.3)
    return ComfyKit(comfyui_url=list(urls), **options)


# -- configuration ------------------------------------------------------------------------------
def test_a_single_url_is_not_a_pool(fake_comfyui):
    for url in (fake_comfyui.url, [fake_comfyui.url]):
        with ComfyKit(url) as kit:
            assert type(kit.backend()) is ComfyUIHttpBackend
            result = kit.execute_json(workflow(), {"prompt": "one"})
            assert result.status == "completed"
            assert result.server == fake_comfyui.url


@pytest.mark.fake_runninghub(run_time=0.05)
def test_a_runninghub_result_names_runninghub(fake_runninghub):
    workflow_id = fake_runninghub.add_workflow(workflow())
    options = {"runninghub_url": fake_runninghub.url, "poll_max_interval": 0.05}
    with ComfyKit(runninghub_api_key=fake_runninghub.api_key, **options) as kit:
        result = kit.execute(workflow_id, {"prompt": "cloud"})
    assert result.status == "completed", result.msg
    assert result.server == fake_runninghub.url


@pytest.mark.parametrize("executor", EXECUTORS)
def test_comma_separated_environment_variable_makes_a_pool(pair, monkeypatch, executor):
    a, b = pair
    monkeypatch.setenv("COMFYUI_BASE_URL", f"{a.url}, {b.url}")
    with ComfyKit(executor_type=executor, timeout=30) as kit:
        assert [s.url for s in kit.config.servers] == [a.url, b.url]
        assert kit.config.comfyui_url == a.url
        runner = kit.backend()
        assert isinstance(runner, ServerPool)
        assert runner.name == kit.config.default_backend
        result = kit.execute_json(workflow(), {"prompt": "pooled"})
    assert result.status == "completed", result.msg
    assert result.server in (a.url, b.url)
    assert result.backend == runner.name
    assert result.prompt_id in {a.url: a, b.url: b}[result.server].prompts


def test_server_list_forms_and_mistakes():
    kit = ComfyKit(
        comfyui_url=[
            "http://127.0.0.1:1",
            {"url": "http://127.0.0.1:2/", "api_key": "per-server-key"},
        ],
        api_key="kit-key",
    )
    with kit:
        assert [s.url for s in kit.config.servers] == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        assert "per-server-key" not in repr(kit.config) and "kit-key" not in repr(kit.config)
        assert "per-server-key" not in repr(kit)
    with pytest.raises(ConfigurationError, match="twice"):
        ComfyKit(comfyui_url="http://127.0.0.1:1,http://127.0.0.1:1/")
    with pytest.raises(ConfigurationError, match="unknown server key"):
        ComfyKit(comfyui_url=[{"url": "http://127.0.0.1:1", "token": "x"}])
    with pytest.raises(ConfigurationError, match="at least one"):
        ComfyKit(comfyui_url=[])
    with pytest.raises(ConfigurationError, match="http"):
        ComfyKit(comfyui_url=["http://127.0.0.1:1", "gpu2:8188"])
    # a comma inside a URL's path does not split it
    with ComfyKit(comfyui_url="http://127.0.0.1:1/a,b") as kit:
        assert [s.url for s in kit.config.servers] == ["http://127.0.0.1:1/a,b"]


def test_each_server_gets_its_own_credentials_and_only_its_own(pair):
    a, b = pair
    urls = [{"url": a.url, "api_key": "key-for-a"}, b.url]
    with ComfyKit(comfyui_url=urls, api_key="kit-key", timeout=30) as kit:
        kit.servers()
        results = [
            kit.execute_json(workflow(checkpoint), {"prompt": checkpoint})
            for checkpoint in ("sdxl.safetensors", "flux.safetensors")
        ]
    assert [r.server for r in results] == [a.url, b.url]

    def bearers(server: FakeComfyUI) -> set[str]:
        return {r.headers.get("Authorization", "") for r in server.requests}

    assert bearers(a) == {"Bearer key-for-a"}
    assert bearers(b) == {"Bearer kit-key"}


# -- capability ---------------------------------------------------------------------------------
@pytest.mark.parametrize("executor", EXECUTORS)
def test_jobs_go_only_to_servers_that_have_their_nodes_and_models(servers, executor):
    a, b, c = servers
    with pool_kit(a.url, b.url, c.url, executor_type=executor) as kit:
        flux = [
            kit.execute_json(workflow("flux.safetensors"), {"prompt": f"f{i}"}) for i in range(3)
        ]
        video = [kit.execute_json(workflow(video=True), {"prompt": f"v{i}"}) for i in range(4)]
        sdxl = kit.execute_json(workflow("sdxl.safetensors"), {"prompt": "x"})
    assert all(r.status == "completed" for r in [*flux, *video, sdxl])
    assert {r.server for r in flux} == {b.url}
    assert {r.server for r in video} <= {a.url, c.url}
    assert sdxl.server == a.url
    assert all(r.videos_by_var.get("video") for r in video)


def test_nothing_capable_raises_before_anything_is_sent(servers):
    a, b, c = servers
    graph = workflow("flux.safetensors", video=True)
    graph["12"] = {"class_type": "ShowText|pysssss", "inputs": {"text": ["6", 0]}}
    with pool_kit(a.url, b.url, c.url) as kit:
        with pytest.raises(NoCapableServerError) as info:
            kit.execute_json(graph, {"prompt": "nowhere"})
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert error.missing == {
        a.url: (
            "node 4 (CheckpointLoaderSimple) input 'ckpt_name': 'flux.safetensors' is not "
            "available (2 options)",
        ),
        b.url: ("node 11: node class 'VHS_VideoCombine' is not installed",),
        c.url: (
            "node 12: node class 'ShowText|pysssss' is not installed",
            "node 4 (CheckpointLoaderSimple) input 'ckpt_name': 'flux.safetensors' is not "
            "available (1 options)",
        ),
    }
    assert all(url in str(error) for url in (a.url, b.url, c.url))
    assert not any(posted_prompts(s) for s in servers)


def test_definitions_are_fetched_again_when_nothing_fits(pair, monkeypatch):
    a, b = pair
    monkeypatch.setattr(comfykit_sync.pool.backend, "REFRESH_AFTER", 0.0)
    port = b.port
    with pool_kit(a.url, b.url) as kit:
        with pytest.raises(NoCapableServerError):
            kit.execute_json(workflow("new.safetensors"), {"prompt": "x"})
        b.stop()  # restarted with the model installed
        with FakeComfyUI(port=port, checkpoints=["sd15.safetensors", "new.safetensors"]) as b2:
            result = kit.execute_json(workflow("new.safetensors"), {"prompt": "x"})
    assert result.status == "completed" and result.server == b2.url


def test_a_rejection_for_a_missing_model_refreshes_the_definitions(pair):
    a, b = pair
    with pool_kit(a.url, b.url) as kit:
        assert kit.execute_json(workflow("flux.safetensors"), {"prompt": "1"}).server == b.url
        port = b.port
        b.stop()  # restarted without the model
        with FakeComfyUI(port=port, checkpoints=["sd15.safetensors"]):
            rejected = kit.execute_json(workflow("flux.safetensors"), {"prompt": "2"})
            assert rejected.status == "failed" and "flux" in rejected.msg
            with pytest.raises(NoCapableServerError):  # it asked b2 again
                kit.execute_json(workflow("flux.safetensors"), {"prompt": "3"})


def test_only_some_outputs_on_a_pool(pair):
    a, b = pair
    with pool_kit(a.url, b.url) as kit:
        result = kit.execute_json(workflow(), {"prompt": "just text"}, outputs=["caption"])
        with pytest.raises(comfykit_sync.ParameterError):
            kit.execute_json(workflow(), {"prompt": "x"}, outputs=["8"])  # not an output node
    assert result.status == "completed" and result.texts == ["just text"] and not result.images


# -- load and ties ------------------------------------------------------------------------------
def test_the_least_loaded_server_gets_the_job(pair):
    a, b = pair
    a.duration = 5.0
    for _ in range(3):  # another client fills a's queue
        requests.post(f"{a.url}/prompt", json={"prompt": workflow()}, timeout=5).raise_for_status()
    with pool_kit(a.url, b.url) as kit:
        results = [kit.execute_json(workflow(), {"prompt": f"p{i}"}) for i in range(3)]
        servers = kit.servers()
    assert {r.server for r in results} == {b.url}
    depth = {s.url: s.queue_depth for s in servers}
    assert depth[a.url] == 3 and depth[b.url] == 0


def test_ties_go_to_the_server_that_last_ran_the_same_workflow(pair):
    a, b = pair
    with pool_kit(a.url, b.url) as kit:
        first = kit.execute_json(workflow(), {"prompt": "w1"})
        again = [kit.execute_json(workflow(), {"prompt": f"w{i}"}) for i in range(3)]
        different = workflow()
        different["5"]["inputs"]["width"] = 768
        other = kit.execute_json(different, {"prompt": "o"})
        back = kit.execute_json(workflow(), {"prompt": "w9"})
    assert {r.server for r in again} == {first.server}
    assert other.server != first.server  # a tie for a new workflow: the other server
    assert back.server == first.server


def test_concurrent_jobs_spread_over_the_servers(pair):
    a, b = pair
    a.duration = b.duration = 0.3
    with pool_kit(a.url, b.url) as kit:
        jobs = [kit.submit(workflow(), {"prompt": f"s{i}"}) for i in range(6)]
        assert sorted(j.server for j in jobs).count(a.url) == 3
        results = [j.result() for j in jobs]
    assert all(r.status == "completed" for r in results)


# -- stickiness ---------------------------------------------------------------------------------
@pytest.mark.parametrize("executor", EXECUTORS)
def test_uploads_submit_wait_and_downloads_stay_on_the_jobs_server(pair, executor, tmp_path):
    a, b = pair
    photo = tmp_path / "photo.png"
    photo.write_bytes(a.input_dir.joinpath("example.png").read_bytes())
    upscale = json.loads((T2I.parent / "image_to_image.json").read_text())
    with pool_kit(a.url, b.url, executor_type=executor) as kit:
        results = [kit.execute_json(upscale, {"image": photo, "prompt": f"u{i}"}) for i in range(4)]
        for result in results:
            assert result.status == "completed", result.msg
            assert result.images and result.artifacts[0].bytes()[:4] == b"\x89PNG"
    by_url = {a.url: a, b.url: b}
    for result in results:
        home, other = by_url[result.server], by_url[b.url if result.server == a.url else a.url]
        assert result.prompt_id in home.prompts and result.prompt_id not in other.prompts
        assert all(url.startswith(result.server) for url in result.images)
    for server in (a, b):
        uploads = sum(r.path == "/upload/image" for r in server.requests)
        views = sum(r.path == "/view" for r in server.requests)
        ran = sum(r.server == server.url for r in results)
        assert uploads == ran and views >= ran


# -- failures -----------------------------------------------------------------------------------
def test_a_refused_server_is_skipped_and_probed_back(pair):
    a, b = pair
    port = a.port
    a.stop()
    with pool_kit(a.url, b.url) as kit:
        results = [kit.execute_json(workflow(), {"prompt": f"r{i}"}) for i in range(3)]
        assert {r.server for r in results} == {b.url}
        assert all(r.status == "completed" for r in results)
        down = {s.url: s for s in kit.servers()}[a.url]
        assert not down.healthy and down.last_error
        # a video job only a can run: a's definitions were never read, so it cannot be told
        video = kit.execute_json(workflow(video=True), {"prompt": "v"})
        assert video.status == "failed" and isinstance(video.error, TransportError)
        assert a.url in video.msg
        with server_a(port=port) as back:
            pool = kit.backend()
            member = next(m for m in pool.members if m.url == a.url)
            eventually(lambda: member.healthy, "the probe to find the server back")
            again = kit.execute_json(workflow(video=True), {"prompt": "v2"})
            assert again.status == "completed" and again.server == back.url


def test_a_submit_refused_moves_on_at_once(pair, monkeypatch):
    a, b = pair
    monkeypatch.setattr(comfykit_sync.pool.member, "LOAD_TTL", 3600.0)  # no queue read first
    with pool_kit(a.url, b.url) as kit:
        first = kit.execute_json(workflow(), {"prompt": "warm"})
        assert first.server == a.url
        a.stop()
        result = kit.execute_json(workflow(), {"prompt": "moved"})
        assert result.status == "completed" and result.server == b.url
        assert not next(m for m in kit.backend().members if m.url == a.url).healthy


def test_a_lost_submit_reply_is_resolved_on_the_same_server(pair):
    a, b = pair
    a.fault("reset", "/prompt", process=True)  # a queues the prompt; the reply never arrives
    with pool_kit(a.url, b.url) as kit:
        result = kit.execute_json(workflow("sdxl.safetensors"), {"prompt": "once"})
    assert result.status == "completed" and result.server == a.url
    assert a.prompts[result.prompt_id].submit_count == 1
    assert not posted_prompts(b)


def test_an_unresolvable_lost_reply_is_never_sent_elsewhere(pair):
    a, b = pair
    a.fault("reset", "/prompt", process=True)
    a.fail_requests("/queue", 503, times=10**6)  # until the job's deadline
    with pool_kit(a.url, b.url, timeout=2) as kit:
        result = kit.execute_json(workflow(), {"prompt": "ambiguous"})
    assert result.status == "failed" and isinstance(result.error, SubmissionUnknownError)
    assert result.prompt_id in a.prompts  # it may have been queued: the id says where to look
    assert not posted_prompts(b) and len(a.prompts) == 1


def test_a_frozen_server_does_not_hold_a_job_the_other_can_run(pair):
    """A member that accepts connections and never answers is asked for at most one
    request_timeout before the job goes to the other server."""
    a, b = pair
    with pool_kit(a.url, b.url, request_timeout=(1.0, 2.0)) as kit, a.frozen(seconds=30):
        started = time.monotonic()
        result = kit.execute_json(workflow(), {"prompt": "elsewhere"})
        elapsed = time.monotonic() - started
    assert result.status == "completed" and result.server == b.url, result.msg
    assert elapsed < 15, elapsed
    assert not a.prompts


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_server_dying_mid_job_loses_it_with_its_name(pair, executor):
    a, b = pair
    a.duration = 30.0
    with pool_kit(a.url, b.url, executor_type=executor) as kit:
        job = kit.submit(workflow(), {"prompt": "doomed"})
        assert job.server == a.url  # the first of two idle servers
        eventually(lambda: a.prompts[job.prompt_id].status == "running", "the job to start")
        a.stop()
        result = job.result()
    assert result.status == "failed" and isinstance(result.error, PromptLostError)
    assert result.server == a.url and a.url in result.msg
    assert result.prompt_id == job.prompt_id
    assert not posted_prompts(b)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_resubmit_lost_runs_the_job_again_elsewhere(pair, executor):
    a, b = pair
    a.duration = 30.0
    with pool_kit(a.url, b.url, executor_type=executor, resubmit_lost=True) as kit:
        job = kit.submit(workflow(), {"prompt": "second life"})
        assert job.server == a.url
        eventually(lambda: a.prompts[job.prompt_id].status == "running", "the job to start")
        a.stop()
        result = job.result()
    assert result.status == "completed", result.msg
    assert result.server == b.url and result.texts == ["second life"]
    assert any("submitted again" in w and a.url in w for w in result.warnings)
    assert b.prompts[result.prompt_id].submit_count == 1


def test_resubmit_lost_can_be_chosen_per_job(pair):
    a, b = pair
    a.duration = 30.0
    with pool_kit(a.url, b.url) as kit:
        job = kit.submit(workflow(), {"prompt": "per job"}, resubmit_lost=True)
        eventually(lambda: a.prompts[job.prompt_id].status == "running", "the job to start")
        a.stop()
        assert job.result().server == b.url


# -- re-attach ----------------------------------------------------------------------------------
@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_fresh_kit_finds_the_job_on_its_server(pair, executor):
    a, b = pair
    b.duration = 0.5
    with pool_kit(a.url, b.url, executor_type=executor) as kit:
        submitted = kit.submit(workflow("flux.safetensors"), {"prompt": "find me"})
    assert submitted.server == b.url
    with pool_kit(a.url, b.url, executor_type=executor) as fresh:
        job = fresh.job(submitted.prompt_id)
        assert job.server == b.url
        result = job.result()
        assert result.status == "completed" and result.server == b.url
        assert result.texts == ["find me"] and result.artifacts[0].bytes()[:4] == b"\x89PNG"
        again = comfykit_sync.ExecuteResult.from_dict(result.to_dict(), kit=fresh)
        assert again.server == b.url and again.artifacts[0].bytes()[:4] == b"\x89PNG"
        unknown = fresh.job("3f1c7a52-0000-4000-8000-000000000000")
        assert unknown.server is None and unknown.status().state == "unknown"
        lost = unknown.result()
        assert isinstance(lost.error, PromptLostError) and a.url in lost.msg and b.url in lost.msg


# -- many threads -------------------------------------------------------------------------------
@pytest.mark.parametrize("executor", EXECUTORS)
def test_thirty_two_threads_on_one_pool_kit(servers, executor):
    a, b, c = servers
    for server in servers:
        server.duration = 0.05
    by_url = {s.url: s for s in servers}
    kinds = {
        0: (workflow("flux.safetensors"), {b.url}),
        1: (workflow(video=True), {a.url, c.url}),
        2: (workflow(), {a.url, b.url, c.url}),
    }
    with pool_kit(a.url, b.url, c.url, executor_type=executor) as kit:

        def run(i: int) -> Any:
            graph, _ = kinds[i % 3]
            return kit.execute_json(graph, {"prompt": f"job {i}"})

        results = run_in_threads(run, n_jobs=96, n_threads=32)
    assert len(results) == 96
    for i, result in results.items():
        assert result.status == "completed", result.msg
        assert result.texts_by_var["caption"] == [f"job {i}"]
        assert result.server in kinds[i % 3][1]
        record = by_url[result.server].prompts[result.prompt_id]
        assert record.graph["6"]["inputs"]["text"] == f"job {i}" and record.submit_count == 1
    used = {r.server for r in results.values()}
    assert used == {a.url, b.url, c.url}
    assert sum(len(s.prompts) for s in servers) == 96


# -- health report, newer servers ---------------------------------------------------------------
def test_servers_reports_health_queue_in_flight_version_and_features(servers):
    a, b, c = servers
    a.duration = 5.0
    with pool_kit(a.url, b.url, c.url) as kit:
        job = kit.submit(workflow("sdxl.safetensors"), {"prompt": "busy"})
        eventually(lambda: a.prompts[job.prompt_id].status == "running", "the job to start")
        b.stop()
        report = {s.url: s for s in kit.servers()}
        job.cancel()
    assert list(report) == [a.url, b.url, c.url]
    assert report[a.url].healthy and report[a.url].queue_depth == 1
    assert report[a.url].in_flight == 1 and report[a.url].version == "0.3.64"
    assert report[a.url].jobs_api is False and "max_upload_size" in report[a.url].features
    assert not report[b.url].healthy and report[b.url].last_error
    assert report[c.url].healthy and report[c.url].version == "0.38.1"
    assert report[c.url].jobs_api is True and report[c.url].in_flight == 0
    assert report[c.url].features["node_replacements"] is True
    assert json.dumps([s.to_dict() for s in report.values()])


def test_a_single_server_reports_too(fake_comfyui):
    with ComfyKit(fake_comfyui.url) as kit:
        (info,) = kit.servers()
    assert info.url == fake_comfyui.url and info.healthy and info.queue_depth == 0


@pytest.mark.parametrize("version", ["0.3.64", "0.38.1"])
def test_cancel_uses_the_jobs_api_where_the_server_has_it(version):
    with FakeComfyUI(version=version, duration=5.0) as server, ComfyKit(server.url) as kit:
        running = kit.submit(workflow(), {"prompt": "run"})
        pending = kit.submit(workflow(), {"prompt": "wait"})
        eventually(lambda: server.prompts[running.prompt_id].status == "running", "a start")
        assert pending.cancel() and running.cancel()
        assert not running.cancel()  # already over
        assert server.prompts[pending.prompt_id].status == "deleted"
        assert running.result().status == "failed"
    jobs_cancels = [r for r in server.requests if r.path.startswith("/api/jobs/")]
    old_way = [
        r
        for r in server.requests
        if r.path in ("/interrupt",) or (r.method == "POST" and r.path == "/queue")
    ]
    if version == "0.38.1":
        assert len(jobs_cancels) == 3 and not old_way
    else:
        assert not jobs_cancels and len(old_way) == 2


# -- command line -------------------------------------------------------------------------------
def test_comfykit_servers_prints_a_health_table_and_json(pair, capsys, monkeypatch):
    from comfykit_sync.cli import main

    a, b = pair
    assert main(["servers", "--server", a.url, "--server", b.url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["server", "health", "version"]
    assert [line.split()[:3] for line in table[1:]] == [
        [a.url, "up", "0.3.64"],
        [b.url, "up", "0.3.64"],
    ]
    b.stop()
    monkeypatch.setenv("COMFYUI_BASE_URL", f"{a.url},{b.url}")
    assert main(["servers", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(s["url"], s["healthy"]) for s in report] == [(a.url, True), (b.url, False)]
    assert report[0]["queue_depth"] == 0 and report[0]["features"]["max_upload_size"]
    assert "could not connect" in report[1]["last_error"]
    assert main(["servers", "--server", "gpu1:8188"]) == 2


def test_comfykit_run_json_names_the_server(pair, capsys, monkeypatch):
    from comfykit_sync.cli import main

    a, b = pair
    monkeypatch.setenv("COMFYUI_BASE_URL", f"{a.url},{b.url}")
    assert main(["run", str(T2I), "-p", "prompt=cli", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["server"] in (a.url, b.url)
