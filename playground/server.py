"""``qtok serve`` (or ``python -m qtok.playground``): a local token playground. Paste text, see it cut into tokens side by side by
Qwen, cl100k_base, XLM-R and any tokenizer file named at start, with ids, counts and bytes per
token; a toggle for ``compat="hf"``, one for special tokens, and a chat mode (ChatML ids).

The server is the standard library's ``ThreadingHTTPServer``: one page and a small JSON API, no
dependency to install, nothing fetched from outside (the page's script and style are inline).
It binds to 127.0.0.1 unless told otherwise, reads request bodies up to 1 MB (413 past that),
reads no file and runs no code a request names: the tokenizers are the ones given at start.

    POST /api/encode {"text": "...", "compat": "hf"|"safe", "allow_special": false, "chat": false}
      -> {"results": [{"name", "count", "bytes", "bytes_per_token", "note",
                       "tokens": [{"id", "text", "start", "end", "bytes"}]}]}
    GET /api/tokenizers -> {"tokenizers": [...]}

A token's ``text`` is its share of the input: the tokens' texts concatenate back to the input
(the first token of a character split across tokens shows the character, the rest show "").
``start``/``end`` are its character span; ``bytes`` its bytes in hex.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from qtok.analysis.tokenizers import DEFAULT_TOKENIZERS, KNOWN, TokenizerError, get_adapter, parse_spec
from qtok.chat import DEFAULT_SYSTEM
from qtok.core import get_tokenizer, parse_compat, replace_surrogates
from qtok.encodings import canonical_name
from qtok.offsets import char_spans, shares
from qtok.progress import Status
from qtok.unicode import normalize

MAX_BODY = 1 << 20  # bytes of a request body
# The work one request may cause: tokens returned per tokenizer (the count is always whole; the
# list says "truncated" past this), and requests encoded at once (a 503 beyond, not a queue).
MAX_TOKENS_SHOWN = 20_000
MAX_CONCURRENT = 2
READ_TIMEOUT = 10  # seconds a client may take to send its whole request (line, headers, body)
# Connections held at once (each is a thread): past this a new one gets a 503 and is closed, so
# slow clients cannot make the server start hundreds of threads.
MAX_CONNECTIONS = 32
# Control characters in a logged path would drive the server's terminal: escaped, as the
# standard library does from Python 3.12 on.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}


class ServeError(ValueError):
    """A playground that cannot start as asked: the message says what to change."""


class Viewer:
    """One tokenizer as the playground shows it: ids and character spans."""

    name: str
    chat = False

    def tokens(self, text: str, compat: str | None, allow_special: bool, limit: int):
        """(every id, the character spans and bytes of the first ``limit`` tokens, the text the
        spans index, the bytes of all tokens): a long text is counted whole and shown in part."""
        raise NotImplementedError


class QtokViewer(Viewer):
    def __init__(self, name: str, source: str):
        self.name, self.source = name, source
        self._tok = {None: get_tokenizer(source), "hf": get_tokenizer(source, compat="hf")}
        # The family's chat templates, or Qwen-1's make_context (ChatML tokens needed).
        spec = self._tok[None].spec
        self.chat = bool(spec.family) or "<|im_start|>" in spec.special_tokens

    def tokenizer(self, compat):
        return self._tok[compat]

    def tokens(self, text, compat, allow_special, limit):
        tok = self._tok[compat]
        # compat="hf" is what transformers does: every special token is matched in text, so the
        # special-token toggle cannot turn that off.
        allowed = "all" if allow_special or compat == "hf" else ()
        ids = tok.encode(text, allowed_special=allowed)
        # What the spans index: the text as encoded (NFC under compat="hf", lone surrogates as U+FFFD).
        shown = replace_surrogates(normalize("NFC", text) if compat == "hf" else text)
        raw = tok.decode_tokens_bytes(ids[:limit])
        # The tokens' bytes are the encoded text's bytes, special tokens included as their text.
        return ids, char_spans(raw), raw, shown, len(shown.encode("utf-8"))


class AdapterViewer(Viewer):
    """A tokenizer as the study loads it (``analysis.tokenizers.get_adapter``: XLM-R, a
    tokenizer.json, a SentencePiece .model), shown through the adapter's spans."""

    def __init__(self, name: str, spec: str):
        try:
            self._adapter = get_adapter(spec)
        except TokenizerError as e:
            raise ServeError(str(e)) from None
        self.name = name

    def tokens(self, text, compat, allow_special, limit):
        text = replace_surrogates(text)  # as qtok's own viewers: a lone surrogate is U+FFFD
        ids, spans = self._adapter.spans(text)
        n_bytes = sum(len(text[s:e].encode("utf-8")) for s, e in spans)
        spans = spans[:limit]
        return ids, spans, [text[s:e].encode("utf-8") for s, e in spans], text, n_bytes


def load_viewers(spec: str) -> dict[str, Viewer]:
    """``qwen``, ``cl100k_base``, ``xlm-r`` and ``NAME=PATH`` files (``.tiktoken``,
    ``tokenizer.json``, SentencePiece ``.model``), comma-separated."""
    out: dict[str, Viewer] = {}
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        label, source = parse_spec(item)
        if canonical_name(source) is not None:  # every name qtok knows: the family, model ids
            viewer: Viewer = QtokViewer(label or source, source)
        elif source == "xlm-r":
            # The vendored, hash-checked tokenizer.json through HF tokenizers, which reports
            # character offsets (the study's xlm-r-hf route).
            viewer = AdapterViewer(label or "xlm-r", "xlm-r-hf")
        elif source in KNOWN:  # the study's other names: xlm-r-hf, the peers (o200k_base, ...)
            viewer = AdapterViewer(label or source, source)
        else:
            path = Path(source)
            name = label or path.stem
            if not path.is_file():
                raise ServeError(f"--tokenizers: {source!r} is neither a tokenizer the study knows "
                                 f"({', '.join(KNOWN)}, a Qwen model id such as Qwen/Qwen3-8B) nor an "
                                 "existing file (.tiktoken, tokenizer.json, .model)")
            if path.suffix == ".tiktoken":
                viewer = QtokViewer(name, str(path))
            elif path.suffix in (".json", ".model"):
                viewer = AdapterViewer(name, f"{name}={path}")
            else:
                raise ServeError(f"--tokenizers: cannot tell what kind of tokenizer {path} is; name "
                                 "it *.tiktoken, tokenizer.json (*.json) or *.model")
        if viewer.name in out:
            raise ServeError(f"--tokenizers: the name {viewer.name!r} is given twice; use NAME=PATH")
        out[viewer.name] = viewer
    if not out:
        raise ServeError(f"--tokenizers is empty; give at least one (default: {DEFAULT_TOKENIZERS})")
    return out


def check_request(viewers: dict[str, Viewer], body) -> tuple:
    """A request's checked fields ``(text, compat, allow_special, chat, names)``, or a
    ``ValueError`` that says what to send: cheap, so the server answers a bad request at once,
    without waiting for (or taking) one of the slots that encoding needs."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object like {\"text\": \"...\"}")
    text = body.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"\"text\" must be a string, got {type(text).__name__}")
    compat = parse_compat(body.get("compat", "safe"))
    allow_special, chat = body.get("allow_special", False), body.get("chat", False)
    for key, value in (("allow_special", allow_special), ("chat", chat)):
        if not isinstance(value, bool):  # "false" is a non-empty string, which bool() calls true
            raise ValueError(f"\"{key}\" must be true or false, got {value!r}")
    names = body.get("tokenizers") or list(viewers)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"\"tokenizers\" must be a list of names such as [\"qwen\"], got {names!r:.80}")
    if len(set(names)) != len(names):
        raise ValueError("\"tokenizers\" names a tokenizer more than once; name each once")
    unknown = [n for n in names if n not in viewers]
    if unknown:
        raise ValueError(f"unknown tokenizer(s) {', '.join(map(str, unknown))}; this server has "
                         f"{', '.join(viewers)} (others are named with --tokenizers at start)")
    return text, compat, allow_special, chat, names


def encode_request(viewers: dict[str, Viewer], body: dict) -> dict:
    """The API's answer to one ``/api/encode`` request (``ValueError`` for a bad request)."""
    text, compat, allow_special, chat, names = check_request(viewers, body)
    results = []
    for name in names:
        v = viewers[name]
        note = ""
        if chat:
            if not v.chat:
                results.append({"name": name, "count": None, "bytes": None, "bytes_per_token": None,
                                "tokens": [], "note": "the chat layout (ChatML) is Qwen's"})
                continue
            messages = _messages(text)
            tok = v.tokenizer(compat)
            ids = tok.encode_chat(messages)
            raw = tok.decode_tokens_bytes(ids[:MAX_TOKENS_SHOWN])
            n_bytes = sum(map(len, tok.decode_tokens_bytes(ids)))
            shown = b"".join(raw).decode("utf-8", errors="replace")
            spans = char_spans(raw) if shown.encode("utf-8") == b"".join(raw) else [(0, 0)] * len(raw)
            note = f"ChatML prompt of {len(messages)} messages"
        else:
            ids, spans, raw, shown, n_bytes = v.tokens(text, compat, allow_special, MAX_TOKENS_SHOWN)
        # A list cut short shows the text up to its last token, not the rest glued to that token.
        head = shown[:spans[-1][1]] if len(spans) < len(ids) and spans else shown
        segs = list(zip(spans, shares(head, spans)))
        results.append({
            "name": name, "count": len(ids), "bytes": n_bytes,
            "bytes_per_token": round(n_bytes / len(ids), 3) if ids else None, "note": note,
            "truncated": len(segs) < len(ids),  # the first MAX_TOKENS_SHOWN tokens are listed
            "tokens": [{"id": i, "text": seg, "start": s, "end": e, "bytes": b.hex()}
                       for i, ((s, e), seg), b in zip(ids, segs, raw)],
        })
    return {"results": results}


def _messages(text: str) -> list[dict]:
    """Chat mode's input: a JSON list of {role, content}, or plain text as one user message
    after Qwen's default system message."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            messages = json.loads(stripped)
        except RecursionError:
            raise ValueError("chat mode: the JSON list of messages is nested too deeply; send "
                             '[{"role": "user", "content": "..."}]') from None
        except ValueError as e:  # JSONDecodeError, or an integer past Python's digit limit
            raise ValueError(f"chat mode: the text starts with '[' but is not a JSON list of messages: {e}") from None
        return messages
    return [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": text}]


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: ``127.0.0.1:8000`` -> ``127.0.0.1``,
    ``[::1]:8000`` -> ``::1``.

    >>> _host_name("127.0.0.1:8000"), _host_name("[::1]:8000"), _host_name("localhost")
    ('127.0.0.1', '::1', 'localhost')
    """
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rpartition(":")[0] if ":" in header else header


class Handler(BaseHTTPRequestHandler):
    viewers: dict[str, Viewer] = {}
    hosts: frozenset[str] = frozenset()  # the names this server answers to (its Host header)
    busy = threading.BoundedSemaphore(MAX_CONCURRENT)
    server_version = "qtok-serve"
    timeout = READ_TIMEOUT  # a socket timeout: a client that stalls its body is dropped

    def log_message(self, fmt, *args):  # one quiet line per request on stderr
        # A request line that did not parse leaves command and path unset (send_error logs it).
        command, path = getattr(self, "command", None) or "-", getattr(self, "path", None) or "-"
        detail = args[1] if len(args) > 1 else (args[0] if args else "")
        line = f"{command} {path} {detail}".translate(_CONTROL)
        sys.stderr.write(f"qtok serve: {line}\n")

    def handle_one_request(self):
        # The whole request (line, headers, body) must arrive within `timeout` seconds: the
        # socket's timeout alone is per read, and a client sending a byte every 8 s would hold
        # its thread for as long as it likes. Past the deadline the connection is shut.
        self.request_read = False
        timer = threading.Timer(self.timeout, self._expire)
        timer.daemon = True
        timer.start()
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            # The client went away or stalled: nothing to answer, nothing to print but a line.
            sys.stderr.write("qtok serve: a client disconnected or was too slow; its connection is closed\n")
            self.close_connection = True
        finally:
            timer.cancel()

    def _expire(self) -> None:
        if not self.request_read:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _foreign(self) -> str | None:
        """Why this request is not from a page of this server, or None. A page elsewhere (or a
        DNS name rebound to 127.0.0.1) sends its own Host or Origin."""
        host = _host_name(self.headers.get("Host") or "")
        # The address this request arrived on is this server's (a LAN address under --host 0.0.0.0):
        # a rebound DNS name is a name, never that address.
        if host and host not in self.hosts and host != self.connection.getsockname()[0]:
            return f"Host {self.headers.get('Host')!r} is not this server's; open it as http://127.0.0.1:PORT/"
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host')}":
            return f"requests from the page {origin!r} are refused: only the playground's own page may call it"
        return None

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # The page loads nothing from anywhere else; say so to the browser too.
        self.send_header("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "connect-src 'self'; img-src data:")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def do_GET(self):
        self.request_read = True
        if problem := self._foreign():
            self._error(403, problem)
        elif self.path in ("/", "/index.html"):
            self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif self.path == "/api/tokenizers":
            self._json(200, {"tokenizers": list(self.viewers), "chat": [n for n, v in self.viewers.items() if v.chat]})
        else:
            self._error(404, f"no page {self.path}; the playground is at /")

    def do_POST(self):
        if self.path != "/api/encode":
            self._error(404, f"no API {self.path}; POST /api/encode")
            return
        if problem := self._foreign():
            self._error(403, problem)
            return
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            # A page elsewhere can POST text/plain without asking first; JSON it cannot.
            self._error(415, f"the body must be sent as Content-Type: application/json, not {ctype or 'none'!r}")
            self.close_connection = True
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self._error(411, "send a Content-Length with the JSON body")
            return
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self._error(400, f"bad Content-Length {length!r}")
            self.close_connection = True
            return
        if n > MAX_BODY:
            # Read (and drop) a body up to 16 MB before answering: a client still sending when the
            # answer comes would see a broken pipe instead of the 413. Past that, just close.
            if n <= 16 * MAX_BODY:
                while n > 0:
                    chunk = self.rfile.read(min(n, 1 << 16))
                    if not chunk:
                        break
                    n -= len(chunk)
            self._error(413, f"the request body is {int(length):,} bytes; the limit is {MAX_BODY:,} "
                             "(1 MB): send less text at a time")
            self.close_connection = True
            return
        raw = self.rfile.read(n)
        self.request_read = True
        if len(raw) < n:  # the deadline shut the connection mid-body
            self.close_connection = True
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except RecursionError:
            self._error(400, "the body is JSON nested too deeply; send {\"text\": \"...\"}")
            return
        except UnicodeDecodeError as e:
            self._error(400, f"the body is not valid UTF-8 (byte {e.start}); send UTF-8 JSON")
            return
        except json.JSONDecodeError as e:
            self._error(400, f"the body is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                             "send {\"text\": \"...\"}")
            return
        except ValueError as e:  # an integer of thousands of digits: Python's int-to-string limit
            self._error(400, f"the body is JSON qtok will not read ({' '.join(str(e).split())[:120]}); "
                             "send {\"text\": \"...\"}")
            return
        try:  # a bad request is answered at once, whether or not the encoding slots are taken
            check_request(self.viewers, body)
        except (ValueError, TypeError) as e:
            self._error(400, str(e))
            return
        if not self.busy.acquire(blocking=False):
            self._error(503, f"{MAX_CONCURRENT} requests are being encoded; try again in a moment")
            return
        try:
            answer = encode_request(self.viewers, body)
        except (ValueError, TypeError) as e:
            self._error(400, str(e))
            return
        except Exception as e:  # a bug, not a bad request: still JSON, never a traceback page
            sys.stderr.write(f"qtok serve: internal error: {type(e).__name__}: {e}\n")
            self._error(500, f"internal error ({type(e).__name__}); see the server's log")
            return
        finally:
            self.busy.release()
        self._json(200, answer)


class PlaygroundServer(ThreadingHTTPServer):
    """A threading server that holds at most ``MAX_CONNECTIONS`` connections: one more is
    answered 503 and closed at once, never given a thread."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            body = json.dumps({"error": f"{MAX_CONNECTIONS} connections are open; try again in a moment"}).encode()
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_server(host: str, port: int, viewers: dict[str, Viewer]) -> ThreadingHTTPServer:
    if not host:
        raise ServeError("--host is empty; give an address such as 127.0.0.1 (this machine only)")
    hosts = {"localhost", "127.0.0.1", "::1", host.strip("[]")}
    if host.strip("[]") in ("0.0.0.0", "::"):  # every interface: the machine's own name too
        hosts.add(socket.gethostname().lower())
    handler = type("BoundHandler", (Handler,), {"viewers": viewers, "hosts": frozenset(hosts),
                                                "busy": threading.BoundedSemaphore(MAX_CONCURRENT)})
    try:
        server = PlaygroundServer((host, port), handler)
    except OSError as e:
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise ServeError(f"port {port} on {host} is in use; choose another with --port "
                             "(or --port 0 for any free one)") from None
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return server


def serve(host: str = "127.0.0.1", port: int = 8000, tokenizers: str | None = None,
          ready: threading.Event | None = None, status: Status | None = None) -> None:
    """Run the playground until interrupted."""
    tokenizers = DEFAULT_TOKENIZERS if tokenizers is None else tokenizers
    (status or Status("qtok serve"))(f"loading tokenizers ({tokenizers})")
    viewers = load_viewers(tokenizers)
    server = make_server(host, port, viewers)
    url = f"http://{host}:{server.server_address[1]}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"qtok serve: warning: listening on {host}, reachable from other machines; the "
              "playground has no authentication", file=sys.stderr)
    print(f"qtok serve: {', '.join(viewers)} at {url} (Ctrl-C stops)", flush=True)
    if ready is not None:
        ready.set()
    try:
        server.serve_forever()
    finally:
        server.server_close()


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qtok playground</title>
<link rel="icon" href="data:,">
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.3rem; margin: 0 0 .6rem; }
textarea { width: 100%; box-sizing: border-box; min-height: 8rem; font: 15px/1.4 ui-monospace, monospace; padding: .5rem; }
.controls { margin: .4rem 0 1rem; display: flex; gap: 1.2rem; flex-wrap: wrap; color: #444; }
.tok { border: 1px solid #ddd; border-radius: 6px; padding: .6rem .8rem; margin-bottom: .8rem; }
.tok h2 { font-size: 1rem; margin: 0 0 .4rem; display: flex; gap: 1rem; align-items: baseline; }
.tok h2 .stats { font-weight: normal; color: #555; font-size: .9rem; }
.tokens { font: 15px/1.9 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
.tokens span { border-radius: 3px; padding: 1px 0; }
.ids { font: 12px ui-monospace, monospace; color: #666; margin-top: .4rem; max-height: 5rem; overflow: auto; }
.note, .error { color: #a33; }
</style></head>
<body>
<h1>qtok playground</h1>
<textarea id="text" spellcheck="false" placeholder="Paste or type text: every tokenizer below cuts it into tokens">Thai costs more than English: ภาษาไทยใช้โทเค็นมากกว่า 你好，世界 12345</textarea>
<div class="controls">
  <label><input type="checkbox" id="hf"> compat="hf" (NFC, special-token text recognised)</label>
  <label><input type="checkbox" id="special"> allow special tokens</label>
  <label><input type="checkbox" id="chat"> chat mode (ChatML: a JSON list of messages, or one user message)</label>
  <span id="status"></span>
</div>
<div id="results"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let timer = null, seq = 0;
function colour(i) { return `hsl(${(i * 47) % 360} 75% 86%)`; }
function render(data) {
  const root = $("results");
  root.textContent = "";
  for (const r of data.results) {
    const box = document.createElement("div");
    box.className = "tok"; box.id = "tok-" + r.name; box.dataset.name = r.name;
    const h = document.createElement("h2");
    const title = document.createElement("span"); title.textContent = r.name;
    const stats = document.createElement("span"); stats.className = "stats";
    const count = document.createElement("span"); count.id = "count-" + r.name; count.className = "count";
    count.textContent = r.count === null ? "–" : String(r.count);
    stats.append(count, document.createTextNode(r.count === null ? "" :
      ` tokens · ${r.bytes} bytes · ${r.bytes_per_token === null ? "–" : r.bytes_per_token} bytes/token`));
    h.append(title, stats); box.append(h);
    if (r.note) { const n = document.createElement("div"); n.className = "note"; n.textContent = r.note; box.append(n); }
    const toks = document.createElement("div"); toks.className = "tokens";
    r.tokens.forEach((t, i) => {
      const s = document.createElement("span");
      s.textContent = t.text; s.style.background = colour(i);
      s.title = `id ${t.id} · ${t.bytes.length / 2} bytes: ${t.bytes}`;
      s.dataset.id = t.id;
      toks.append(s);
    });
    box.append(toks);
    const ids = document.createElement("div"); ids.className = "ids";
    ids.textContent = r.tokens.map((t) => t.id).join(" ");
    box.append(ids);
    root.append(box);
  }
}
async function update() {
  const mine = ++seq;
  const body = JSON.stringify({ text: $("text").value, compat: $("hf").checked ? "hf" : "safe",
                                allow_special: $("special").checked, chat: $("chat").checked });
  $("status").textContent = "…";
  try {
    const res = await fetch("/api/encode", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const data = await res.json();
    if (mine !== seq) return;  // a newer request is on its way
    if (!res.ok) { $("status").className = "error"; $("status").textContent = data.error; return; }
    $("status").className = ""; $("status").textContent = "";
    render(data);
    document.body.dataset.seq = String(mine);
  } catch (e) {
    if (mine === seq) { $("status").className = "error"; $("status").textContent = "request failed: " + e; }
  }
}
function later() { clearTimeout(timer); timer = setTimeout(update, 120); }
$("text").addEventListener("input", later);
for (const id of ["hf", "special", "chat"]) $(id).addEventListener("change", update);
update();
</script>
</body></html>
"""
