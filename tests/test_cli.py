"""The qtok command, run as a user would (python -m qtok, a real subprocess)."""

import json
import subprocess
import sys


def qtok(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "qtok", *args], input=stdin,
                          capture_output=True, text=True)


def test_encode_decode():
    r = qtok("encode", "hello world")
    assert r.returncode == 0 and r.stdout.split() == ["14990", "1879"]
    assert json.loads(qtok("encode", "12", "--json").stdout) == [16, 17]
    assert qtok("encode", "-", stdin="hello world").stdout.split() == ["14990", "1879"]
    assert qtok("decode", "14990", "1879").stdout == "hello world\n"
    assert qtok("decode", stdin="[14990, 1879]").stdout == "hello world\n"
    assert qtok("encode", "hello world", "--encoding", "cl100k_base").stdout.split() == ["15339", "1917"]
    assert qtok("encode", "--allow-special", "<|endoftext|>").stdout.split() == ["151643"]
    assert qtok("encode", "--engine", "reference", "你好").stdout.split() == ["108386"]


def test_count(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("hello world")
    b.write_text("你好，世界")
    rows = json.loads(qtok("count", str(a), str(b), "--json").stdout)
    assert [r["tokens"] for r in rows] == [2, 3, 5]
    assert rows[-1]["file"] == "total" and rows[-1]["bytes"] == 11 + 15
    assert rows[0]["bytes_per_token"] == 5.5
    assert "total" in qtok("count", str(a), str(b)).stdout


def test_count_chat(tmp_path):
    f = tmp_path / "chat.json"
    f.write_text(json.dumps([{"role": "user", "content": "hi"}]))
    rows = json.loads(qtok("count", "--chat", str(f), "--json").stdout)
    assert rows[0]["tokens"] == 9  # im_start user \n hi im_end \n im_start assistant \n


def test_explain():
    r = qtok("explain", "Hi 42", "--json")
    assert [p["ids"] for p in json.loads(r.stdout)] == [[13048], [220], [19], [17]]
    assert "4 pieces, 4 tokens" in qtok("explain", "Hi 42").stdout
    steps = qtok("explain", "--steps", " hello").stdout
    assert "' ' 'h' 'e' 'l' 'l' 'o'" in steps and "' hello'" in steps


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xff\xfe")
    for args, msg in [
        (("decode", "999999"), "outside the vocabulary"),
        (("decode", "12x"), "'12x' is not a token id"),
        (("count", str(tmp_path / "missing.txt")), "cannot read"),
        (("count", str(bad)), "not valid UTF-8 at byte offset 2"),
        (("encode", "x", "--encoding", "nope"), "unknown encoding"),
    ]:
        r = qtok(*args)
        assert r.returncode == 2, args
        assert r.stderr.count("\n") == 1 and msg in r.stderr, r.stderr
