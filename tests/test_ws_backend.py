"""The ``comfyui-ws`` backend against the fake ComfyUI server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
import uuid

import pytest
import requests
import websocket
from helpers import T2I, execute_numbered

from comfykit_sync import (
    AuthenticationError,
    ComfyKit,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionTimeout,
    PromptLostError,
    TransportError,
)
from comfykit_sync.backends._ws_frames import FrameReader, FrameTooLarge
from comfykit_sync.backends._ws_stream import (
    DISCONNECTED,
    ENDING_EVENTS,
    EventStream,
    Message,
    Subscription,
    binary_kind,
    decode_text,
)
from comfykit_sync.backends.base import PreparedJob
from comfykit_sync.backends.comfyui import ComfyUIClient
from comfykit_sync.backends.comfyui_ws import ProgressTracker, _PromptWatch
from comfykit_sync.events import (
    NodeCached,
    NodeExecuted,
    NodeExecuting,
    Progress,
    Queued,
    Started,
)
from comfykit_sync.http import HttpClient
from comfykit_sync.params import apply_params, parse_workflow, validate_params
from comfykit_sync.testing import FakeComfyUI, Script

WAIT = 20.0  # bound of every wait in these tests; never reached when things work


@pytest.fixture
def kit(fake_comfyui):
    with ComfyKit(
        fake_comfyui.url, executor_type="websocket", timeout=30, poll_max_interval=0.2
    ) as kit:
        yield kit


def graph() -> dict:
    return json.loads(T2I.read_text())


def submit(kit: ComfyKit, params: dict) -> tuple[str, object]:
    """Submit through the backend directly, building the job as ``ComfyKit.submit`` does."""
    wf = kit.load_workflow(T2I)
    spec = parse_workflow(wf.graph)
    values = validate_params(spec, params)
    job = PreparedJob(
        prompt_id=str(uuid.uuid4()),
        workflow=wf,
        spec=spec,
        graph=apply_params(wf.graph, spec, values),
        values=values,
        seeds={},
    )
    return kit.backend("comfyui-ws").submit(job).prompt_id, spec


def run(kit: ComfyKit, params: dict) -> tuple[object, list]:
    """Submit and wait through the backend; return the outcome and the events emitted."""
    prompt_id, spec = submit(kit, params)
    events: list = []
    outcome = kit.backend("comfyui-ws").wait(
        prompt_id, spec, deadline=time.monotonic() + WAIT, emit=events.append
    )
    return outcome, events


def ws_handshakes(server: FakeComfyUI) -> list:
    return [r for r in server.requests if r.path == "/ws"]


def eventually(condition, timeout: float = WAIT) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.02)
    return False


# -- completion ------------------------------------------------------------------------------
def test_success_with_outputs(kit, fake_comfyui):
    result = kit.execute(T2I, {"prompt": "a red fox"})
    assert result.status == "completed", result.msg
    assert result.backend == "comfyui-ws"
    [url] = result.images_by_var["image"]
    assert "filename=ComfyKit_00001_.png" in url
    assert result.texts_by_var == {"caption": ["a red fox"]}
    assert fake_comfyui.prompts[result.prompt_id].client_id == kit.config.client_id
    [handshake] = ws_handshakes(fake_comfyui)
    assert handshake.query == {"clientId": kit.config.client_id}


def test_fully_cached_rerun_without_executed_events_returns_outputs(kit, fake_comfyui):
    first = kit.execute_json(graph(), {"prompt": "same", "seed": 7})
    fake_comfyui.script(Script(no_cached_executed=True))
    outcome, events = run(kit, {"prompt": "same", "seed": 7})
    assert outcome.error is None
    assert set(outcome.outputs) == set(first.outputs) == {"9", "10"}
    assert outcome.outputs["9"] == first.outputs["9"]
    assert not [e for e in events if isinstance(e, NodeExecuted)]
    [cached] = [e for e in events if isinstance(e, NodeCached)]
    assert set(cached.node_ids) == set(graph())


def test_progress_keeps_a_job_without_listener_alive_without_queue_checks(fake_comfyui):
    """Unqueued progress events still count as signs of life: each one moves the job's next
    /queue check to ``poll_max_interval`` after it.

    Driven step by step on a real subscription, so no pause of the machine between two events
    can make the job (rightly) ask the server: the claim no longer depends on timing.
    """
    http = HttpClient(fake_comfyui.url)
    client = ComfyUIClient(http, client_id="c", comfy_org_api_key=None)
    sub = Subscription("p")
    sub.wanted = ENDING_EVENTS  # nobody listens for progress
    watch = _PromptWatch(
        client,
        sub,
        {},
        to_run=(),
        deadline=time.monotonic() + WAIT,
        queue_deadline=None,
        emit=None,
        max_interval=WAIT,
        check_timeout=1.0,
        from_submit=True,
    )
    watch._schedule_check(0.0, since=sub.last_heard)  # due now
    assert not watch._heard_since_scheduled()  # nothing heard since scheduling: ask the server
    for step in range(1, 4):
        while time.monotonic() <= watch.scheduled_from:  # the clock ticks (coarse on some OSes)
            pass
        sub.put(Message("progress", {"prompt_id": "p", "value": step, "max": 3, "node": "3"}))
        assert sub.get(0) is None  # not queued: the waiting thread is not woken for it
        assert watch._heard_since_scheduled()  # but heard: the check is postponed ...
        assert watch.next_check == sub.last_heard + WAIT  # ... to a full interval after it
        assert not watch._heard_since_scheduled()  # and due then, unless more is heard
    assert fake_comfyui.requests == []
    http.close()


def test_a_subscription_without_listener_queues_only_what_it_wants_and_the_end():
    sub = Subscription("p")
    sub.wanted = ENDING_EVENTS
    events = [
        Message("execution_start", {"prompt_id": "p"}),
        Message("progress", {"prompt_id": "p", "value": 1, "max": 2}),
        Message("executing", {"node": "3", "prompt_id": "p"}),
        Message("executed", {"node": "9", "prompt_id": "p", "output": {}}),
        Message("execution_error", {"prompt_id": "p", "exception_type": "ExecutionBlocked"}),
        Message("execution_success", {"prompt_id": "p"}),
        Message("executing", {"node": None, "prompt_id": "p"}),
    ]
    for event in events[:-1]:
        sub.put(event)
    heard = sub.last_heard
    sub.put(events[-1])
    assert sub.last_heard >= heard
    queued = []
    while (item := sub.get(0)) is not None:
        queued.append(item)
    assert queued == [events[4], events[6]]
    sub.put(DISCONNECTED)
    assert sub.get(0) is DISCONNECTED


def test_execution_error(kit, fake_comfyui):
    fake_comfyui.script(Script(error_node="3", error_message="CUDA out of memory"))
    result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "failed" and type(result.error) is ExecutionError
    assert result.error.node_id == "3" and "CUDA out of memory" in result.msg


def test_execution_blocked_notice_is_not_terminal(kit, fake_comfyui):
    fake_comfyui.script(Script(blocked_node="3", duration=0.2))
    outcome, events = run(kit, {"prompt": "x"})
    assert outcome.error is None
    # the run went on after the notice on node 3, up to the output nodes
    assert {"9", "10"} <= {e.node_id for e in events if isinstance(e, NodeExecuting)}


def test_interrupted(kit, fake_comfyui):
    fake_comfyui.script(Script(duration=2, interrupt_after=0.1))
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, ExecutionInterrupted) and "interrupted" in result.msg


def test_vanished_prompt_is_lost(kit, fake_comfyui):
    fake_comfyui.script(Script(vanish=True))
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, PromptLostError) and result.prompt_id


def test_server_restart_loses_the_prompt(kit, fake_comfyui):
    fake_comfyui.duration = 2.0
    timer = threading.Timer(0.2, fake_comfyui.forget_all)
    timer.start()
    result = kit.execute(T2I, {"prompt": "x"})
    timer.join()
    assert isinstance(result.error, PromptLostError)


def test_history_written_before_the_final_event(kit, fake_comfyui):
    fake_comfyui.script(Script(delay_final=0.3, duration=0.1))
    outcome, events = run(kit, {"prompt": "late"})
    assert outcome.error is None and set(outcome.outputs) == {"9", "10"}
    assert {e.node_id for e in events if isinstance(e, NodeExecuted)} == {"9", "10"}


# -- socket trouble --------------------------------------------------------------------------
def test_socket_drop_mid_run_falls_back_and_reconnects(kit, fake_comfyui, caplog):
    caplog.set_level(logging.WARNING, logger="comfykit_sync")
    fake_comfyui.script(Script(duration=1.0, drop_socket_after=0.3))
    outcome, events = run(kit, {"prompt": "dropped"})
    assert "1 job(s) fall back to polling" in caplog.text
    assert outcome.error is None and set(outcome.outputs) == {"9", "10"}
    assert fake_comfyui.prompts[outcome.prompt_id].submit_count == 1
    assert len([e for e in events if isinstance(e, Started)]) == 1
    assert eventually(lambda: len(ws_handshakes(fake_comfyui)) >= 2)
    # the next job is followed on the reconnected socket
    outcome, events = run(kit, {"prompt": "after"})
    assert outcome.error is None
    assert [e for e in events if isinstance(e, NodeExecuting)]


def test_socket_drop_through_execute_gives_one_result(kit, fake_comfyui):
    fake_comfyui.script(Script(duration=0.6, drop_socket_after=0.2))
    result = kit.execute(T2I, {"prompt": "dropped"})
    assert result.status == "completed", result.msg
    assert result.texts_by_var == {"caption": ["dropped"]}
    assert fake_comfyui.prompts[result.prompt_id].submit_count == 1


@pytest.mark.fake_comfyui(previews=True, duration=0.2)
def test_binary_preview_frames_are_ignored(kit, fake_comfyui):
    outcome, events = run(kit, {"prompt": "x", "steps": 5})
    assert outcome.error is None
    steps = [e.value for e in events if isinstance(e, Progress) and e.max == 5]
    assert steps == [1, 2, 3, 4, 5]
    assert len(ws_handshakes(fake_comfyui)) == 1  # previews never broke the connection


def test_messages_above_one_mebibyte_are_received(kit, fake_comfyui):
    text = "x" * (2 * 1024 * 1024)
    fake_comfyui.script(Script(outputs={"10": {"text": [text]}}))
    outcome, events = run(kit, {"prompt": "big"})
    assert outcome.error is None and outcome.outputs["10"] == {"text": [text]}
    assert "10" in {e.node_id for e in events if isinstance(e, NodeExecuted)}
    assert len(ws_handshakes(fake_comfyui)) == 1


def test_oversized_frames_drop_the_socket_and_the_job_still_completes(fake_comfyui, caplog):
    caplog.set_level(logging.WARNING, logger="comfykit_sync")
    fake_comfyui.duration = 0.2
    with ComfyKit(
        fake_comfyui.url, executor_type="websocket", ws_max_frame_bytes=300, poll_max_interval=0.2
    ) as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert result.status == "completed", result.msg
    assert "exceeds ws_max_frame_bytes=300" in caplog.text


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes = b"") -> bytes:
    """A frame as a server (or, with ``mask``, a client) sends it, built by websocket-client."""
    from websocket import ABNF

    frame = ABNF(int(fin), 0, 0, 0, opcode, int(bool(mask)), payload)
    if mask:
        frame.get_mask_key = lambda length: mask
    return frame.format()


def reader_of(stream: bytes, piece: int = 1 << 20, limit: int = 1 << 20) -> tuple:
    reads = iter([stream[i : i + piece] for i in range(0, len(stream), piece)])
    asked: list[int] = []

    def recv(size: int) -> bytes:
        asked.append(size)
        try:
            return next(reads)
        except StopIteration:
            raise websocket.WebSocketConnectionClosedException("closed") from None

    return FrameReader(recv, limit), asked


def read_all(frames: FrameReader, count: int) -> list[tuple[int, bytes]]:
    """The next ``count`` messages and control frames, in order."""
    items: list[tuple[int, bytes]] = []
    while len(items) < count:
        items += frames.read()
    assert len(items) == count
    return items


@pytest.mark.parametrize("piece", [1, 3, 7, 1000, 1 << 20])
def test_frames_split_or_batched_across_reads_are_decoded(piece):
    """The reader returns the same messages however the stream is cut into reads."""
    payloads = [b"{}", b"x" * 125, b"y" * 126, b"z" * 70000, json.dumps({"a": 1}).encode()]
    stream = b"".join(server_frame(1, p) for p in payloads)
    frames, asked = reader_of(stream, piece)
    assert read_all(frames, len(payloads)) == [(1, p) for p in payloads]
    assert all(size >= 65536 for size in asked)  # one system call serves many small frames
    if piece >= len(stream):
        assert len(asked) == 1


@pytest.mark.parametrize("piece", [1, 5, 1 << 20])
def test_fragments_control_frames_and_masks_are_read_like_websocket_client(piece):
    stream = b"".join(
        [
            server_frame(1, b'{"type": ', fin=False),
            server_frame(9, b"are you there"),  # a ping between two fragments
            server_frame(0, b'"status", ', fin=False),
            server_frame(0, b'"data": {}}'),
            server_frame(2, b"\x00\x00\x00\x01jpeg", mask=b"abcd"),
            server_frame(10, b""),
            server_frame(8, b"\x03\xe8bye"),
        ]
    )
    frames, _ = reader_of(stream, piece)
    assert read_all(frames, 5) == [
        (9, b"are you there"),
        (1, b'{"type": "status", "data": {}}'),
        (2, b"\x00\x00\x00\x01jpeg"),
        (10, b""),
        (8, b"\x03\xe8bye"),
    ]
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        frames.read()


@pytest.mark.parametrize(
    "stream",
    [
        server_frame(0, b"a continuation of nothing"),
        server_frame(1, b"a", fin=False) + server_frame(1, b"a new message mid-message"),
        server_frame(9, b"p" * 126),
        server_frame(9, b"fragmented ping", fin=False),
        b"\x83\x00",  # a reserved opcode
        b"\xc1\x00",  # an RSV bit without an extension
    ],
)
def test_frames_the_protocol_forbids_are_refused(stream):
    frames, _ = reader_of(server_frame(1, b"before") + stream)
    assert frames.read() == [(1, b"before")]  # what came before is delivered first
    with pytest.raises(websocket.WebSocketProtocolException):
        while True:
            frames.read()


def test_a_message_over_the_limit_is_refused_before_its_payload_is_read():
    head = server_frame(1, b"x" * 200, fin=False)[:4]  # the header of a 200-byte frame
    frames, asked = reader_of(head, limit=300)
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        frames.read()  # within the limit: it waits for the payload
    stream = server_frame(1, b"x" * 200, fin=False) + server_frame(0, b"y" * 200)[:4]
    frames, asked = reader_of(stream, limit=300)
    with pytest.raises(FrameTooLarge, match="400 bytes exceeds ws_max_frame_bytes=300"):
        frames.read()
    assert len(asked) == 1  # refused from the header, nothing more read


def test_decoders_never_raise_on_garbage():
    assert decode_text(b"\xff\xfe") is None
    assert decode_text("[1, 2]") is None
    assert decode_text('{"type": 3}') is None
    assert decode_text("[" * 100000) is None
    assert decode_text('{"type": "status", "data": null}') == Message("status", {})
    assert binary_kind(b"") is None and binary_kind(b"\x00\x00\x01") is None
    assert binary_kind(struct.pack(">II", 1, 1) + b"jpeg") == 1
    assert binary_kind(struct.pack(">I", 4)) == 4


def test_ws_url_keeps_the_base_path():
    url = HttpClient("https://host/comfy/").websocket_url("/ws", {"clientId": "c1"})
    assert url == "wss://host/comfy/ws?clientId=c1"
    url = HttpClient("http://127.0.0.1:8188").websocket_url("/ws", {"clientId": "c 2"})
    assert url == "ws://127.0.0.1:8188/ws?clientId=c%202"


# -- events ----------------------------------------------------------------------------------
@pytest.mark.fake_comfyui(duration=0.3)
def test_event_sequence_of_a_run(kit, fake_comfyui):
    outcome, events = run(kit, {"prompt": "events", "steps": 4})
    assert outcome.error is None
    assert {e.prompt_id for e in events} == {outcome.prompt_id}
    kinds = [type(e) for e in events]
    assert kinds.count(Started) == 1
    assert kinds.index(Started) < kinds.index(NodeExecuting)
    executing = {e.node_id: e for e in events if isinstance(e, NodeExecuting)}
    assert (executing["3"].title, executing["3"].class_type) == (
        "Sampler, $seed, $steps, $cfg",
        "KSampler",
    )
    assert executing["9"].title == "$output.image"
    steps = [(e.value, e.max) for e in events if isinstance(e, Progress) and e.max == 4]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [e.node_id for e in events if isinstance(e, NodeExecuted)] == ["9", "10"]
    assert kinds.index(NodeExecuted) > kinds.index(Progress)


def test_on_event_through_execute(kit, fake_comfyui):
    events: list = []
    result = kit.execute(T2I, {"prompt": "x"}, on_event=events.append)
    assert result.status == "completed"
    names = [type(e).__name__ for e in events]
    assert names[0] == "Started" and names[-1] == "Completed"
    assert "NodeExecuting" in names and "Progress" in names


def test_queue_position_and_queue_deadline(kit, fake_comfyui):
    fake_comfyui.duration = 2.0
    first, _ = submit(kit, {"prompt": "first"})
    second, spec = submit(kit, {"prompt": "second"})
    backend = kit.backend("comfyui-ws")
    events: list = []
    try:
        with pytest.raises(ExecutionTimeout) as caught:
            backend.wait(
                second,
                spec,
                deadline=time.monotonic() + WAIT,
                queue_deadline=time.monotonic() + 0.3,
                emit=events.append,
            )
        assert caught.value.deadline == "queue"
        assert events == [Queued(second, 0)]
    finally:
        backend.cancel(second)
        backend.cancel(first)


def test_events_arriving_before_subscription_are_buffered(kit, fake_comfyui):
    stream = kit.backend("comfyui-ws").stream
    epoch = stream.open()
    prompt_id = str(uuid.uuid4())
    reply = requests.post(
        fake_comfyui.url + "/prompt",
        json={"prompt": graph(), "client_id": kit.config.client_id, "prompt_id": prompt_id},
        timeout=10,
    )
    assert reply.status_code == 200
    assert eventually(lambda: fake_comfyui.prompts[prompt_id].status == "success")
    sub = stream.subscribe(prompt_id, epoch)
    items = []
    while not items or items[-1].data.get("node", "") is not None:
        item = sub.get(WAIT)
        assert item is not None and item is not DISCONNECTED
        items.append(item)
    assert items[0].type == "execution_start"
    stream.unsubscribe(sub)


def test_progress_fraction_formula():
    tracker = ProgressTracker({"1": {}, "2": {}, "3": {}})
    tracker.cached(("1",))
    running = {"2": {"value": 1, "max": 4, "state": "running"}}
    assert tracker.update(running) == ("2", "2", 1, 4, pytest.approx(1 / 5))
    assert tracker.update(running) is None  # nothing changed
    finished = {"2": {"value": 4, "max": 4, "state": "finished"}}
    assert tracker.update(finished) == ("2", "2", 4, 4, pytest.approx(4 / 5))
    done = {**finished, "3": {"value": 0, "max": 1, "state": "finished"}}
    assert tracker.update(done) == ("3", "3", 1, 1, 1.0)
    # a node created by expansion keeps its own id; its display node is not unseen any more
    tracker = ProgressTracker({"1": {}, "2": {}})
    expanded = {
        "2": {"value": 1, "max": 4, "state": "running"},
        "2.0.0.1": {"value": 1, "max": 2, "state": "running", "display_node_id": "2"},
    }
    assert tracker.update(expanded) == ("2.0.0.1", "2", 1, 2, pytest.approx(2 / 7))


# -- sharing, auth, deadlines, lifecycle -------------------------------------------------------
def test_32_threads_share_one_socket_and_never_mix_results():
    wf = graph()
    wf["9"]["_meta"]["title"] = "$prefix.filename_prefix, $output.image"
    with FakeComfyUI(workers=8) as server, ComfyKit(server.url, executor_type="websocket") as kit:
        results = execute_numbered(kit, wf, n_jobs=200, n_threads=32)
        assert len(results) == 200
        for i, res in results.items():
            assert res.status == "completed", res.msg
            assert res.backend == "comfyui-ws"
            assert res.texts_by_var == {"caption": [f"prompt {i}"]}
            [url] = res.images_by_var["image"]
            assert f"filename=job{i}_00001_.png" in url
        assert len({res.prompt_id for res in results.values()}) == 200
        assert len(ws_handshakes(server)) == 1


def test_credentials_are_sent_on_the_handshake(fake_comfyui):
    with ComfyKit(
        fake_comfyui.url, executor_type="websocket", api_key="sk-proxy", cookies={"sid": "c1"}
    ) as kit:
        assert kit.execute(T2I, {"prompt": "x"}).status == "completed"
    [handshake] = ws_handshakes(fake_comfyui)
    headers = {k.lower(): v for k, v in handshake.headers.items()}
    assert headers["authorization"] == "Bearer sk-proxy" and headers["cookie"] == "sid=c1"
    assert "origin" not in headers


def test_rejected_handshake_is_a_typed_failure(kit, fake_comfyui):
    fake_comfyui.fail_requests("/ws", status=401)
    result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, AuthenticationError) and result.prompt_id is None
    assert not fake_comfyui.prompts  # nothing was submitted without a socket


def test_unreachable_server_is_a_failed_result():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ComfyKit(f"http://127.0.0.1:{port}", executor_type="websocket") as kit:
        result = kit.execute(T2I, {"prompt": "x"})
    assert isinstance(result.error, TransportError) and result.prompt_id is None


def test_timeout_cancels_the_running_prompt(kit, fake_comfyui):
    fake_comfyui.duration = 5.0
    result = kit.execute(T2I, {"prompt": "x"}, timeout=0.5)
    assert isinstance(result.error, ExecutionTimeout) and result.error.cancelled
    assert "cancelled" in result.msg
    assert eventually(lambda: fake_comfyui.prompts[result.prompt_id].status == "interrupted")


def test_reattached_and_original_handles_both_complete(kit, fake_comfyui):
    fake_comfyui.duration = 0.3
    job = kit.submit(T2I, {"prompt": "twice"})
    again = kit.job(job.prompt_id).result()
    assert again.status == "completed" and again.texts_by_var == {"caption": ["twice"]}
    assert job.result().outputs == again.outputs


def test_reader_stops_when_idle_and_the_next_job_reopens(kit, fake_comfyui):
    before = set(threading.enumerate())
    assert kit.execute(T2I, {"prompt": "x"}).status == "completed"
    [reader] = [t for t in set(threading.enumerate()) - before if t.name == "comfykit-ws-reader"]
    fake_comfyui.forget_all()  # drops every socket while no job waits
    reader.join(WAIT)
    assert not reader.is_alive()
    assert kit.execute(T2I, {"prompt": "y"}).status == "completed"
    assert len(ws_handshakes(fake_comfyui)) == 2


def test_close_joins_the_reader_and_is_idempotent(fake_comfyui):
    before = set(threading.enumerate())
    kit = ComfyKit(fake_comfyui.url, executor_type="websocket")
    assert kit.execute(T2I, {"prompt": "x"}).status == "completed"
    new = set(threading.enumerate()) - before
    readers = [t for t in new if t.name == "comfykit-ws-reader"]
    assert len(readers) == 1
    kit.close()
    kit.close()
    assert not any(t.is_alive() for t in readers)


def queued_types(sub: Subscription) -> list[str]:
    """The types of the events queued for ``sub`` (no socket is open: it starts with
    ``DISCONNECTED``, left out)."""
    return [m.type for m in iter(lambda: sub.get(0), None) if isinstance(m, Message)]


def test_routing_decodes_only_the_events_a_subscription_takes():
    """ComfyUI's progress events are skipped undecoded for a job nobody listens to (but heard),
    decoded for a listener, kept for a prompt nobody subscribed to yet; an event whose layout
    is not ComfyUI's is decoded."""
    stream = EventStream(
        "ws://127.0.0.1:9/ws",
        credentials=lambda url: (url, {}),
        probe=lambda: None,
        connect_timeout=1,
        max_frame_bytes=0,
    )

    def frame(kind: str, **data: object) -> bytes:
        return json.dumps({"type": kind, "data": data}).encode()

    quiet, loud = stream.subscribe("q", 0), stream.subscribe("l", 0)
    quiet.wanted = ENDING_EVENTS
    before = quiet.last_heard
    while time.monotonic() <= before:  # the clock ticks (coarse on some OSes)
        pass
    stream._route(
        [
            frame("status", status={"exec_info": {"queue_remaining": 1}}),
            frame("progress", value=1, max=2, prompt_id="q", node="3"),
            frame("progress", value=1, max=2, prompt_id="l", node="3"),
            b'{"type":"progress","data":{"value":2,"max":2,"prompt_id":"q","node":"3"}}',
            b'{"type":"progress","data":{"value":2,"max":2,"prompt_id":"l","node":"3"}}',
            frame("executing", node="3", display_node="3", prompt_id="q"),
            frame("executing", node="3", display_node="3", prompt_id="l"),
            frame(
                "executed",
                node="9",
                display_node="9",
                output={"p": {"prompt_id": "l"}},
                prompt_id="q",
            ),
            frame("executed", node="9", display_node="9", output={"text": ["x"]}, prompt_id="l"),
            b'{"data": {"prompt_id": "q"}, "type": "execution_error"}',  # another layout
            frame("execution_start", prompt_id="later"),
            frame("executing", node=None, prompt_id="q"),
        ]
    )
    assert quiet.last_heard > before
    assert queued_types(quiet) == ["execution_error", "executing"]
    assert queued_types(loud) == ["progress", "progress", "executing", "executed"]
    assert queued_types(stream.subscribe("later", 0)) == ["execution_start"]
