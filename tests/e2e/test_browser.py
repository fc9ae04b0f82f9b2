"""The playground (``qtok serve``) and the study's report.html in a real browser: Debian's headless
Chromium driven by Playwright (installed by .ci/run). ``QTOK_SCREENSHOTS=docs`` also writes the
screenshots the docs show."""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import run_main

import qtok
from qtok.cli import main as qtok_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TEXTS = ["Thai costs more than English: ภาษาไทยใช้โทเค็นมากกว่า",
         "你好，世界！ 12345 naïve café — emoji 🙂🙂 and\ttabs\n\nnew lines",
         "<|endoftext|> is text here; Ω≈ç√∫ ÅÍÎÏ ﻿x"]


@pytest.fixture(scope="module")
def server():
    proc = subprocess.Popen([sys.executable, "-m", "qtok", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    assert m, line + proc.stderr.read()
    yield m.group(1)
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def post(url, body: bytes, ctype="application/json"):
    req = urllib.request.Request(url + "api/encode", data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def counts_of(page) -> dict[str, int]:
    return {el.get_attribute("id")[len("count-"):]: int(el.inner_text())
            for el in page.query_selector_all(".count") if el.inner_text().isdigit()}


def test_playground_counts_equal_the_tokenizers(server, browser, tmp_path):
    from qtok.analysis.tokenizers import xlmr_hf

    xlm = xlmr_hf()
    page = browser.new_page(bypass_csp=True)  # Playwright evaluates its waits as script text
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server)
    page.wait_for_selector("#count-qwen")
    for text in TEXTS:
        before = page.evaluate("document.body.dataset.seq")
        page.fill("#text", text)
        page.wait_for_function(f"document.body.dataset.seq !== {json.dumps(before)}")
        page.wait_for_function("document.body.dataset.seq === String(seq)")
        counts = counts_of(page)
        assert counts["qwen"] == qtok.count(text)
        assert counts["cl100k_base"] == qtok.get_tokenizer("cl100k_base").count(text)
        assert counts["xlm-r"] == len(xlm.encode([text])[0])
        for name in ("qwen", "cl100k_base", "xlm-r"):
            shown = page.eval_on_selector(f"#tok-{name} .tokens", "el => el.textContent")
            assert shown == text, name
        ids = [int(x) for x in page.inner_text("#tok-qwen .ids").split()]
        assert ids == qtok.encode(text)
    if os.environ.get("QTOK_SCREENSHOTS"):
        page.fill("#text", TEXTS[0])
        page.wait_for_timeout(500)
        page.screenshot(path=str(Path(os.environ["QTOK_SCREENSHOTS"]) / "playground.png"), full_page=True)
    shot = page.screenshot()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []
    assert all(u.startswith(server) for u in requests), requests  # nothing from anywhere else
    page.close()


def test_playground_toggles_and_chat(server, browser):
    page = browser.new_page(bypass_csp=True)  # Playwright evaluates its waits as script text
    page.goto(server)
    page.wait_for_selector("#count-qwen")
    text = "<|im_start|>"
    page.fill("#text", text)
    page.wait_for_function("document.getElementById('count-qwen').textContent === '6'")
    assert int(page.inner_text("#count-qwen")) == qtok.count(text) == 6
    page.check("#special")
    page.wait_for_function("document.getElementById('count-qwen').textContent === '1'")
    page.uncheck("#special")
    page.fill("#text", "What is 2+2?")
    page.check("#chat")
    expected = qtok.get_tokenizer("qwen").encode_chat(
        [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"}])
    page.wait_for_function(f"document.getElementById('count-qwen').textContent === '{len(expected)}'")
    assert [int(x) for x in page.inner_text("#tok-qwen .ids").split()] == expected
    assert "Qwen's" in page.inner_text("#tok-cl100k_base")
    page.close()


def test_api_bad_requests_get_clear_answers(server):
    status, body = post(server, b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = post(server, json.dumps({"text": "x", "tokenizers": ["gpt-9"]}).encode())
    assert status == 400 and "unknown tokenizer(s) gpt-9" in body["error"]
    status, body = post(server, json.dumps({"text": 5}).encode())
    assert status == 400 and '"text" must be a string' in body["error"]
    status, body = post(server, json.dumps({"text": ""}).encode())
    assert status == 200 and all(r["count"] == 0 and r["tokens"] == [] for r in body["results"])
    big = json.dumps({"text": "a" * (1 << 20)}).encode()
    assert len(big) == (1 << 20) + 12
    status, body = post(server, big)
    assert status == 413 and "limit is 1,048,576" in body["error"]
    status, body = post(server, json.dumps({"text": "a" * ((1 << 20) - 20)}).encode())
    assert status == 200 and body["results"][0]["count"] == qtok.count("a" * ((1 << 20) - 20))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server + "etc/passwd", timeout=10)
    assert e.value.code == 404 and "no page" in json.loads(e.value.read())["error"]


def test_serve_cli_errors_are_one_line(server, tmp_path):
    port = server.rsplit(":", 1)[1].rstrip("/")
    for args, expected in (
        (["--port", port], f"port {port} on 127.0.0.1 is in use"),
        (["--port", "0", "--tokenizers", f"mine={tmp_path / 'missing.tiktoken'}"], "is neither a tokenizer the study knows"),
        (["--port", "70000"], "--port must be 0..65535"),
    ):
        r = run_main(qtok_main, "serve", "--quiet", *args)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qtok: error: ") and expected in lines[0], r.stderr


def test_report_opens_from_disk_offline(browser, tmp_path):
    from qtok.analysis import get_adapter, load_corpus, run_study, write_results

    study = run_study(load_corpus(langs=["en", "zh", "th"]), [get_adapter(t) for t in ("qwen", "xlm-r")],
                      n_boot=50, progress=False)
    paths = write_results(study, tmp_path)
    report = paths["report.html"]
    manifest = json.loads(paths["compression.json"].read_text())
    assert "report.html" in manifest["files"]
    page = browser.new_page(bypass_csp=True)  # Playwright evaluates its waits as script text
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    page.goto(report.as_uri())
    rows = page.query_selector_all("#headline tbody tr")
    assert [r.get_attribute("data-lang") for r in rows] == ["en", "zh", "th"]
    zh = [c.inner_text() for c in rows[1].query_selector_all("td")]
    row = {(r["tokenizer"], r["lang"]): r for r in study.rows}
    assert zh[1] == f"{row['qwen', 'zh']['compression']:.3f}" and zh[3] == "1.000"
    assert zh[2] == f"[{row['qwen', 'zh']['compression_lo']:.3f}, {row['qwen', 'zh']['compression_hi']:.3f}]"
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert len(page.query_selector_all("img")) >= 2
    assert all(u.startswith("file:") or u.startswith("data:") for u in requests), requests
    samples = page.query_selector_all(".sample .tokens")
    assert samples and samples[0].text_content() == study.samples["en"]["text"]
    if os.environ.get("QTOK_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["QTOK_SCREENSHOTS"]) / "report.png"), full_page=False)
    page.close()


def test_a_page_elsewhere_cannot_make_the_playground_work(browser, tmp_path, monkeypatch):
    """A page on another origin POSTs to the playground, as a browser allows without asking
    (text/plain), and as JSON (which needs a preflight): the server encodes nothing."""
    import functools
    import http.server
    import threading

    import qtok.playground.server as ps

    calls = []
    real = ps.encode_request
    monkeypatch.setattr(ps, "encode_request", lambda v, b: calls.append(b) or real(v, b))
    target = ps.make_server("127.0.0.1", 0, ps.load_viewers("qwen"))
    threading.Thread(target=target.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{target.server_address[1]}/api/encode"
    (tmp_path / "hostile.html").write_text(f"""<!doctype html><title>loading</title><script>
(async () => {{
  const body = JSON.stringify({{text: "a ".repeat(100000)}});
  for (const [mode, ctype] of [["no-cors", "text/plain"], ["cors", "application/json"]]) {{
    try {{ await fetch({json.dumps(url)}, {{method: "POST", mode, headers: {{"Content-Type": ctype}}, body}}); }}
    catch (e) {{}}
  }}
  document.title = "done";
}})();
</script>""")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{elsewhere.server_address[1]}/hostile.html")
        page.wait_for_function("document.title === 'done'", timeout=30_000)
        page.close()
    finally:
        elsewhere.shutdown()
        target.shutdown()
        target.server_close()
    assert calls == []  # refused before any tokenizer ran
