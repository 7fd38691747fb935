"""HttpClient: what reaches the server and what comes back, however a request is sent.

Small JSON calls to the kit's own server skip ``requests`` (see ``comfykit_sync._direct``);
these tests pin what must not change because of that: cookies the server sets are sent back,
its redirects are followed, environment proxies are used, failures are typed alike.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest
from raw_server import OK, RawServer

from comfykit_sync.errors import NotFoundError, RequestTimeout, TransportError
from comfykit_sync.http import HttpClient

JSON = {"Content_Type": "application/json"}


@pytest.fixture
def client(recording_server):
    http = HttpClient(recording_server.url, timeout=(5, 10))
    yield http
    http.close()


def test_a_cookie_the_server_sets_is_sent_back(client, recording_server):
    recording_server.route("/queue", b"{}", Set_Cookie="affinity=node-2; Path=/", **JSON)
    assert client.json("GET", "/queue") == {}
    assert client.json("GET", "/queue") == {}
    done = threading.Event()
    threading.Thread(target=lambda: (client.json("GET", "/queue"), done.set())).start()
    assert done.wait(10)
    first, *later = [r["headers"] for r in recording_server.requests]
    assert "Cookie" not in first
    assert [h.get("Cookie") for h in later] == ["affinity=node-2"] * 2


def test_a_redirect_of_the_server_is_followed(client, recording_server):
    recording_server.route("/history", b"", status=302, Location="/api/history")
    recording_server.route("/api/history", b'{"p1": {}}', **JSON)
    assert client.json("GET", "/history") == {"p1": {}}
    assert client.json("GET", "/history") == {"p1": {}}
    paths = [r["path"] for r in recording_server.requests]
    assert paths == ["/history", "/api/history"] * 2


def test_a_307_redirect_of_a_submit_sends_the_body_again(client, recording_server):
    recording_server.route("/prompt", b"", status=307, Location="/api/prompt")
    recording_server.route("/api/prompt", b'{"prompt_id": "p1"}', **JSON)
    reply = client.json("POST", "/prompt", json={"prompt": {}}, idempotent=False)
    assert reply == {"prompt_id": "p1"}
    sent = [(r["method"], r["path"], json.loads(r["body"])) for r in recording_server.requests]
    assert sent == [("POST", "/prompt", {"prompt": {}}), ("POST", "/api/prompt", {"prompt": {}})]


def test_a_proxy_from_the_environment_is_used(recording_server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", recording_server.url)
    monkeypatch.setenv("http_proxy", recording_server.url)
    recording_server.route("http://comfy.invalid:8188/queue", b'{"queue_running": []}', **JSON)
    http = HttpClient("http://comfy.invalid:8188", token="sk-1")
    try:
        assert http.json("GET", "/queue") == {"queue_running": []}
    finally:
        http.close()
    (request,) = recording_server.requests
    assert request["path"] == "http://comfy.invalid:8188/queue"
    assert request["headers"]["Authorization"] == "Bearer sk-1"


def test_credentials_and_json_bodies_reach_the_server(recording_server):
    recording_server.route("/prompt", b'{"prompt_id": "p1"}', **JSON)
    http = HttpClient(recording_server.url, token="sk-2", cookies={"sid": "c1"})
    try:
        http.json("POST", "/prompt", json={"prompt": {"3": {"inputs": {"text": "é"}}}})
    finally:
        http.close()
    (request,) = recording_server.requests
    headers = request["headers"]
    assert headers["Authorization"] == "Bearer sk-2" and headers["Cookie"] == "sid=c1"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("python-requests/")
    assert json.loads(request["body"]) == {"prompt": {"3": {"inputs": {"text": "é"}}}}


def test_an_error_status_is_typed(client, recording_server):
    with pytest.raises(NotFoundError) as info:
        client.json("GET", "/history/nope", what="reading the history")
    assert info.value.status_code == 404 and "reading the history failed" in str(info.value)


def test_a_refused_connection_is_never_sent():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = HttpClient(f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as info:
        http.json("POST", "/prompt", json={}, idempotent=False, attempts=1)
    assert info.value.sent is False and "could not connect" in str(info.value)


def test_a_reply_slower_than_the_read_timeout_is_a_request_timeout():
    with socket.socket() as server:  # accepts, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        http = HttpClient(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=(2, 0.2))
        with pytest.raises(RequestTimeout) as info:
            http.json("POST", "/prompt", json={}, idempotent=False, attempts=1)
    assert info.value.sent is None and "read timeout" in str(info.value)


def test_plain_json_calls_to_the_server_need_no_session(client, recording_server):
    """The kit's own calls skip requests' sessions (the CPU cost that issue 17 measured)."""
    recording_server.route("/queue", b"{}", **JSON)
    for _ in range(3):
        client.json("GET", "/queue")
        client.json("POST", "/queue", json={"delete": ["p1"]})
    assert client._sessions == []


@pytest.fixture
def raw_server():
    servers = []

    def start(*replies: bytes | tuple[bytes, bool]) -> RawServer:
        servers.append(RawServer(*replies))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_connections_are_kept_alive_and_replaced_once_the_server_closed_them(raw_server):
    server = raw_server()
    http = HttpClient(server.url)
    try:
        for _ in range(3):
            assert http.json("POST", "/prompt", json={}, idempotent=False, attempts=1) == {}
        assert len(server.connections) == 1  # one connection served them all
        server.drop_connections()  # the server closes the idle connection
        assert http.json("POST", "/prompt", json={}, idempotent=False, attempts=1) == {}
        assert len(server.connections) == 2  # a new one, nothing failed
    finally:
        http.close()


def test_the_request_is_what_a_session_sends(raw_server):
    server = raw_server()
    http = HttpClient(server.url, token="sk-3")
    try:
        http.json("POST", "/prompt", json={"prompt": {"6": "é"}}, idempotent=False)
        http.json("GET", "/history?max_items=2")
    finally:
        http.close()
    post, get = server.requests
    head, _, body = post.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0] == "POST /prompt HTTP/1.1"
    assert fields["Host"] == server.url.removeprefix("http://")
    assert fields["Authorization"] == "Bearer sk-3" and fields["Accept"] == "*/*"
    assert fields["Content-Type"] == "application/json"
    assert int(fields["Content-Length"]) == len(body) and json.loads(body) == {"prompt": {"6": "é"}}
    assert get.startswith(b"GET /history?max_items=2 HTTP/1.1\r\n")
    assert b"Content-Length" not in get and get.endswith(b"\r\n\r\n")


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4;ext=1\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nTrailer: x\r\n\r\n'
)


@pytest.mark.parametrize(
    "reply",
    [
        CHUNKED,
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"a": 1}',  # to the end
        b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a": 1}',
        b'HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 8, 8\r\n\r\n{"a": 1}',
        b'HTTP/1.1 200 OK\nContent-Length: 8\n\n{"a": 1}',  # bare line feeds
    ],
    ids=["chunked", "http-1.0", "interim", "folded", "lf"],
)
def test_replies_in_every_http_1_form_are_read(raw_server, reply):
    close = reply.startswith(b"HTTP/1.0")
    server = raw_server((reply, close))
    http = HttpClient(server.url)
    try:
        assert http.json("GET", "/queue") == {"a": 1}
        assert http.json("GET", "/queue") == {}  # the connection, or a new one, goes on
    finally:
        http.close()
    assert len(server.connections) == (2 if close else 1)


def test_connection_close_is_honoured(raw_server):
    server = raw_server(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    http = HttpClient(server.url)
    try:
        http.json("GET", "/queue")
        http.json("GET", "/queue")
    finally:
        http.close()
    assert len(server.connections) == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # cut short
        b"",  # closed without a reply
        b"SSH-2.0-OpenSSH\r\n\r\n",  # not HTTP
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["short", "nothing", "not-http", "two-lengths", "bad-chunk"],
)
def test_a_broken_reply_is_a_transport_error_that_may_have_been_sent(raw_server, reply):
    server = raw_server((reply, True))
    http = HttpClient(server.url)
    try:
        with pytest.raises(TransportError) as info:
            http.json("POST", "/prompt", json={}, idempotent=False, attempts=1)
    finally:
        http.close()
    assert info.value.sent is None and "connection failed" in str(info.value)
