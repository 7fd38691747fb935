"""Bad input never escapes as anything but a ``ComfyKitError``, and never hangs.

Hypothesis generates whole workflows (valid-looking and garbage), DSL titles and parameter
values and feeds them to ``load_workflow``/``list_params``/``submit`` on a kit whose server
port is closed; workflow URLs are only loaded over http(s), within size and time bounds.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfykit_sync import ComfyKit, ComfyKitError, WorkflowLoadError

SETTINGS = settings(
    max_examples=60,
    deadline=5000,  # ms per example: a hang fails the test instead of blocking the suite
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
title_piece = st.sampled_from(
    ["$", "$output.", "$~", "!", ":", ".", ",", " ", "$a.b", "$x!", "$out", "§", "\u0661", "\x00"]
)
titles = st.lists(st.one_of(title_piece, st.text(max_size=6)), max_size=6).map("".join)
node_ids = st.one_of(st.integers(0, 30).map(str), st.text(max_size=4))
link = st.tuples(node_ids, st.integers(-1, 3)).map(list)
inputs = st.dictionaries(
    st.sampled_from(["text", "seed", "image", "steps", "cfg", "filename_prefix", "x", ""]),
    st.one_of(json_value, link),
    max_size=5,
)
class_types = st.sampled_from(
    ["KSampler", "CLIPTextEncode", "SaveImage", "LoadImage", "PreviewAny", "Nope", ""]
) | st.text(max_size=6)
node = st.fixed_dictionaries(
    {"class_type": class_types, "inputs": inputs},
    optional={"_meta": st.fixed_dictionaries({"title": titles}) | json_value},
)
workflows = st.one_of(
    st.dictionaries(node_ids, node, max_size=6),
    st.dictionaries(node_ids, json_value, max_size=4),
    json_value,
)
params = st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_value, max_size=4))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def kit():
    with ComfyKit(
        f"http://127.0.0.1:{closed_port()}", timeout=2, request_timeout=(0.5, 0.5)
    ) as kit:
        yield kit


def only_comfykit_errors(call, *args: Any) -> Any:
    try:
        return call(*args)
    except ComfyKitError:
        return None  # anything else propagates and fails the example


@SETTINGS
@given(workflow=workflows, values=params)
def test_any_workflow_and_params_raise_only_comfykit_errors(kit, workflow, values):
    only_comfykit_errors(kit.load_workflow, workflow)
    only_comfykit_errors(kit.list_params, workflow)
    job = only_comfykit_errors(kit.submit, workflow, values)
    if job is not None:  # got past validation: the closed port gives a failed result
        result = job.result()
        assert result.status == "failed" and isinstance(result.error, ComfyKitError)


@SETTINGS
@given(text=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(repr)))
def test_any_string_source_raises_only_comfykit_errors(kit, text):
    only_comfykit_errors(kit.load_workflow, text)
    only_comfykit_errors(kit.list_params, text)


@pytest.mark.parametrize(
    "source", ["file:///etc/passwd", "ftp://127.0.0.1/wf.json", "ws://127.0.0.1/wf.json"]
)
def test_workflow_urls_are_http_only(kit, source):
    with pytest.raises(ComfyKitError):
        kit.load_workflow(source)


class _Server:
    """Serves ``/big`` (over the size limit, no Content-Length) and ``/stall`` (stops sending)."""

    def __init__(self, limit: int) -> None:
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                if self.path == "/big":
                    chunk = b" " * 65536
                    for _ in range(limit // len(chunk) + 2):  # bounded
                        self.wfile.write(chunk)
                else:
                    self.wfile.write(b'{"1": ')
                    self.wfile.flush()
                    owner.release.wait(10)  # bounded; released at teardown

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_workflow_url_over_the_size_limit_is_refused():
    with ComfyKit("http://127.0.0.1:1", max_workflow_bytes=100_000) as kit:
        server = _Server(kit.config.max_workflow_bytes)
        try:
            with pytest.raises(WorkflowLoadError, match="limit"):
                kit.load_workflow(server.url + "/big")
        finally:
            server.stop()


def test_workflow_url_that_stalls_beyond_the_read_timeout_fails_fast():
    with ComfyKit("http://127.0.0.1:1", request_timeout=(1.0, 0.3)) as kit:
        server = _Server(kit.config.max_workflow_bytes)
        try:
            with pytest.raises(WorkflowLoadError, match="timed out|could not load"):
                kit.load_workflow(server.url + "/stall")
        finally:
            server.stop()


def test_json_documents_that_are_not_workflows(kit):
    for document in ([], 1, "x", None, {"nodes": [], "links": []}, {"1": []}):
        with pytest.raises(ComfyKitError):
            kit.list_params(json.loads(json.dumps(document)))
