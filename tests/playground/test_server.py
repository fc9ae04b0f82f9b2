"""playground.server, without a browser: the API's answers and the start-up refusals."""

import json

import pytest

from qtok.playground.server import ServeError, encode_request, load_viewers


@pytest.fixture(scope="module")
def viewers():
    return load_viewers("qwen,cl100k_base")


def test_answers_count_like_the_tokenizers(viewers):
    import qtok

    out = encode_request(viewers, {"text": "价格 42 元"})
    by_name = {r["name"]: r for r in out["results"]}
    assert by_name["qwen"]["count"] == qtok.count("价格 42 元")
    assert "".join(t["text"] for t in by_name["qwen"]["tokens"]) == "价格 42 元"  # shares tile the text
    assert by_name["cl100k_base"]["count"] == qtok.get_tokenizer("cl100k_base").count("价格 42 元")


def test_bad_requests_and_bad_tokenizers_are_one_line(viewers, tmp_path):
    with pytest.raises(ValueError, match="must be a string"):
        encode_request(viewers, {"text": 5})
    with pytest.raises(ValueError, match='compat must be "safe" or "hf"'):
        encode_request(viewers, {"text": "x", "compat": "nope"})
    with pytest.raises(ServeError, match="is neither a tokenizer the study knows"):
        load_viewers(f"mine={tmp_path / 'missing.tiktoken'}")
    with pytest.raises(ServeError, match="given twice"):
        load_viewers("qwen,qwen")


def test_the_hf_toggle_matches_special_tokens_as_transformers_does(viewers):
    import qtok

    out = encode_request(viewers, {"text": "<|endoftext|>", "compat": "hf"})
    qwen = next(r for r in out["results"] if r["name"] == "qwen")
    assert [t["id"] for t in qwen["tokens"]] == qtok.get_tokenizer("qwen", compat="hf").encode("<|endoftext|>") == [151643]
    safe = next(r for r in encode_request(viewers, {"text": "<|endoftext|>"})["results"] if r["name"] == "qwen")
    assert safe["count"] == 7  # safe: the text is text


# --- over HTTP, in this process --------------------------------------------------------------

def _serve(viewers):
    import threading

    from qtok.playground.server import make_server

    server = make_server("127.0.0.1", 0, viewers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def live(viewers):
    """A playground on a free port, served by a thread of this process."""
    server = _serve(viewers)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def own_live(viewers):
    """A playground of one test's own: work it leaves running cannot take another's turn."""
    server = _serve(viewers)
    yield server
    server.shutdown()
    server.server_close()


def request(server, method="POST", path="/api/encode", body=b'{"text": "hi"}', **headers):
    """(status, JSON answer) of one raw request; headers as given, nothing added but Host."""
    import http.client
    import json as _json

    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", **headers}
    conn.request(method, path, body=body if method == "POST" else None,
                 headers={k.replace("_", "-"): v for k, v in headers.items() if v is not None})
    r = conn.getresponse()
    status, data = r.status, r.read()
    conn.close()
    return status, _json.loads(data) if data else None


def test_only_its_own_pages_may_call_it(live):
    assert request(live)[0] == 200
    assert request(live, Origin=f"http://127.0.0.1:{live.server_address[1]}")[0] == 200  # its own page
    status, answer = request(live, Host="evil.example")  # DNS rebinding: another name, same address
    assert status == 403 and "is not this server's" in answer["error"]
    assert request(live, "GET", "/", Host="evil.example:80")[0] == 403
    status, answer = request(live, Origin="http://evil.example")
    assert status == 403 and "refused" in answer["error"]
    status, answer = request(live, Content_Type="text/plain")  # what a page elsewhere may send unasked
    assert status == 415 and "application/json" in answer["error"]


def test_loose_and_hostile_bodies_get_one_clear_answer(live):
    for body, message in (
        (b"[" * 100_000, "nested too deeply"),
        (b'{"text": "x", "allow_special": "false"}', '"allow_special" must be true or false'),
        (b'{"text": "x", "chat": "false"}', '"chat" must be true or false'),
        (b'{"text": "x", "tokenizers": "qwen"}', '"tokenizers" must be a list'),
        (b'{"text": "x", "tokenizers": ["qwen", "qwen"]}', "more than once"),
    ):
        status, answer = request(live, body=body)
        assert status == 400 and message in answer["error"], (body[:40], answer)
    assert request(live, Content_Length="-1")[0] == 400


def test_the_work_of_one_request_is_bounded(live, monkeypatch):
    from qtok.playground.server import MAX_TOKENS_SHOWN

    text = "a " * (MAX_TOKENS_SHOWN + 5000)
    status, answer = request(live, body=json.dumps({"text": text}).encode())
    qwen = next(r for r in answer["results"] if r["name"] == "qwen")
    assert status == 200 and qwen["count"] == len(qtok_encode(text)) and qwen["truncated"]
    assert len(qwen["tokens"]) == MAX_TOKENS_SHOWN
    # Past MAX_CONCURRENT requests at once: a 503 at once, not a queue.
    handler = live.RequestHandlerClass
    taken = 0
    while handler.busy.acquire(blocking=False):
        taken += 1
    try:
        status, answer = request(live)
        assert status == 503 and "try again" in answer["error"]
        # A bad request is still told what is wrong at once, slots or not.
        status, answer = request(live, body=b'{"text": 5}')
        assert status == 400 and '"text" must be a string' in answer["error"]
    finally:
        for _ in range(taken):
            handler.busy.release()
    assert request(live)[0] == 200


def test_a_stalled_body_is_dropped_and_the_log_is_escaped(live, monkeypatch, capsys):
    import socket
    import time

    monkeypatch.setattr(live.RequestHandlerClass, "timeout", 0.5)
    port = live.server_address[1]
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100\r\n\r\n".encode())
        s.settimeout(10)
        t0 = time.monotonic()
        assert s.recv(1000) == b""  # the server closed the connection
        assert time.monotonic() - t0 < 5
    with socket.create_connection(("127.0.0.1", port)) as s:  # http.client refuses such a path
        s.sendall(f"GET /\x1b[31mRED\x1b]0;TITLE\x07 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Connection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[31mRED" in err


def test_every_viewer_takes_lone_surrogates_and_an_empty_host_is_refused():
    from qtok.playground.server import make_server

    out = encode_request(load_viewers("xlm-r"), {"text": "a\ud800b"})
    assert out["results"][0]["count"] > 0
    with pytest.raises(ServeError, match="--host is empty"):
        make_server("", 0, {})


def qtok_encode(text):
    import qtok

    return qtok.encode(text)


def test_a_client_that_hangs_up_costs_one_line_and_the_server_goes_on(own_live, capsys):
    import socket

    live = own_live
    port = live.server_address[1]
    body = json.dumps({"text": "a " * 200_000}).encode()  # an answer of megabytes
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(f"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    # closed at once (RST): the server's write fails; it says so in a line and serves on
    assert request(live)[0] == 200
    assert "Traceback" not in capsys.readouterr().err


def _raw(server, data: bytes, timeout: float = 10) -> bytes:
    """What the server answers to raw bytes, until it closes the connection."""
    import socket

    with socket.create_connection(("127.0.0.1", server.server_address[1])) as s:
        s.settimeout(timeout)
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_malformed_requests_get_an_answer_never_a_traceback(live, capsys):
    port = live.server_address[1]
    # 8: an integer past Python's int-to-string limit; 10: chat JSON nested 5,000 deep.
    status, answer = request(live, body=b'{"text": "x", "n": ' + b"9" * 5000 + b"}")
    assert status == 400 and "will not read" in answer["error"]
    status, answer = request(live, body=json.dumps({"text": "[" * 5000 + "]" * 5000, "chat": True}).encode())
    assert status == 400 and "nested too deeply" in answer["error"]
    # 9: a request line that is not HTTP, and an HTTP version that does not exist.
    assert b"400" in _raw(live, b"hello\r\n\r\n")  # an HTTP/0.9 answer: no status line
    assert b"505" in _raw(live, f"GET / HTTP/9.9\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert request(live)[0] == 200
    err = capsys.readouterr().err
    assert "Traceback" not in err and "AttributeError" not in err


def test_a_slow_client_is_bounded_by_the_whole_request_and_connections_are_capped(own_live, monkeypatch):
    import socket
    import time

    from qtok.playground.server import MAX_CONNECTIONS

    live = own_live
    port = live.server_address[1]
    monkeypatch.setattr(live.RequestHandlerClass, "timeout", 1.0)
    # 11: a body sent a byte every 0.4 s (each read within the socket timeout) is cut at 1 s.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 20\r\n\r\n".encode())
        t0 = time.monotonic()
        try:
            for byte in b'{"text": "hello!!"}':
                s.sendall(bytes([byte]))
                time.sleep(0.4)
        except OSError:
            pass  # the server shut the connection
        s.settimeout(5)
        try:
            assert s.recv(1000) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 4
    # Past MAX_CONNECTIONS open connections, the next is answered 503 at once.
    monkeypatch.setattr(live.RequestHandlerClass, "timeout", 10)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS)]
    try:
        deadline = time.monotonic() + 0.8
        while live.slots._value and time.monotonic() < deadline:  # until the server took them all
            time.sleep(0.02)
        answer = _raw(live, b"GET / HTTP/1.1\r\n\r\n", timeout=5)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while live.slots._value < MAX_CONNECTIONS and time.monotonic() < deadline:
        time.sleep(0.02)
    assert request(live)[0] == 200


def test_a_server_on_every_interface_answers_its_own_addresses(viewers):
    import socket
    import threading

    from qtok.playground.server import make_server

    # 12: under --host 0.0.0.0, a request that names the address it arrived on is this server's.
    server = make_server("0.0.0.0", 0, viewers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for host in ("127.0.0.1", "127.0.0.2", socket.gethostname()):
            status, _ = request(server, Host=f"{host}:{port}") if host != "127.0.0.2" else _request_to(server, host)
            assert status == 200, host
        assert request(server, Host="evil.example")[0] == 403
    finally:
        server.shutdown()
        server.server_close()


def _request_to(server, address):
    """A request sent to another loopback address, its Host naming that address."""
    import http.client

    port = server.server_address[1]
    conn = http.client.HTTPConnection(address, port, timeout=30)
    conn.request("POST", "/api/encode", body=b'{"text": "hi"}',
                 headers={"Host": f"{address}:{port}", "Content-Type": "application/json"})
    r = conn.getresponse()
    status, data = r.status, r.read()
    conn.close()
    return status, json.loads(data)


def test_every_family_member_is_served_with_encodes_ids():
    import qtok

    viewers = load_viewers("qwen3.5,qwen3,Qwen/Qwen2.5-7B,cl100k_base")
    text = "<tool_call>x</tool_call> <think>y 人力资源"
    for compat in ("safe", "hf"):
        out = encode_request(viewers, {"text": text, "compat": compat})
        for r in out["results"]:
            tok = qtok.get_tokenizer(r["name"], compat=None if compat == "safe" else "hf")
            assert [t["id"] for t in r["tokens"]] == tok.encode(text), (r["name"], compat)
    chat = encode_request(viewers, {"text": "hi", "chat": True, "tokenizers": ["qwen3.5"]})
    assert chat["results"][0]["count"] > 3


def test_one_list_of_names_for_the_study_the_playground_and_qtok(monkeypatch):
    """A name the study takes, the playground takes, and a name qtok takes (a model id with or
    without "Qwen/", qwen3.6), the study and the playground take as qtok does."""
    import qtok
    import qtok.playground.server as server
    from qtok.analysis.tokenizers import KNOWN, TokenizerError, get_adapter

    # The playground's route for each name; the study's adapters themselves are tested with the
    # study (tests/analysis/test_peers.py, test_tokenizers.py), so they are not built again here.
    asked = []
    monkeypatch.setattr(server, "get_adapter", lambda spec: asked.append(spec))
    viewers = load_viewers(",".join(KNOWN))
    assert list(viewers) == KNOWN
    assert asked == ["xlm-r-hf" if n == "xlm-r" else n for n in KNOWN if n not in qtok.list_encodings()]
    monkeypatch.undo()
    for alias, member in (("qwen3.6", "qwen3.5"), ("Qwen3-8B", "qwen3"), ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5")):
        assert qtok.get_tokenizer(alias).name == member
        assert get_adapter(alias).name == member and get_adapter(alias).spec == member
        assert get_adapter(f"mine={alias}").name == "mine"
        assert alias in load_viewers(alias)
    with pytest.raises(TokenizerError, match=r"unknown tokenizer 'o200k' \(did you mean 'o200k_base'\?\)"):
        get_adapter("o200k")


def test_qtok_sends_the_studys_names_to_the_study():
    """qtok's encodings are the study's names less the ones only the study can load; qtok's error
    for one of those says which command takes it."""
    import qtok
    from qtok.analysis.tokenizers import KNOWN, QTOK_NAMES
    from qtok.encodings import STUDY_ONLY

    assert set(KNOWN) - set(QTOK_NAMES) == set(STUDY_ONLY)
    with pytest.raises(ValueError, match=r"o200k_base is one of the tokenizers the study compares .*"
                                         r"python -m qtok.analysis --tokenizers qwen,o200k_base"):
        qtok.get_tokenizer("o200k_base")
    with pytest.raises(ValueError, match=r"unknown encoding 'qwen4' \(did you mean 'qwen'\?\)"):
        qtok.get_tokenizer("qwen4")
