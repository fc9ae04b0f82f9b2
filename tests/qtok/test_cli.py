"""The qtok command, through ``main(argv)`` in this process (what a shell would pass, stdin and
all); the few behaviours only a real process shows (a closed pipe, argv bytes that are not
UTF-8) run ``python -m qtok`` as a subprocess."""

import json
import subprocess
import sys

from helpers import run_main

from qtok.cli import main


def qtok(*args, stdin=None):
    """``qtok ARGS`` in this process."""
    return run_main(main, *args, stdin=stdin)


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


def run_bytes(*args, stdin=None):
    """python -m qtok with arguments given as raw bytes (as a shell passes $'\\xff')."""
    return subprocess.run([sys.executable.encode(), b"-m", b"qtok", *args], input=stdin, capture_output=True)


def test_options_mean_the_same_before_and_after_the_subcommand():
    for args in (("--encoding", "cl100k_base", "encode", "hello world"),
                 ("encode", "--encoding", "cl100k_base", "hello world")):
        assert qtok(*args).stdout.split() == ["15339", "1917"], args
    assert json.loads(qtok("--json", "encode", "12").stdout) == [16, 17]
    assert qtok("--compat", "hf", "encode", "<|endoftext|>").stdout.split() == ["151643"]
    assert qtok("encode", "--compat", "hf", "e\u0301").stdout == qtok("encode", "\u00e9").stdout
    assert qtok("encode", "<|endoftext|>").stdout.split() != ["151643"]  # safe by default


def test_train_takes_no_tokenizer_options(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello hello hello world world\n" * 20)
    for args in (("train", "--encoding", "qwen"), ("--engine", "reference", "train")):
        r = qtok(*args, "--corpus", str(corpus), "--new-tokens", "2", "--out", str(tmp_path / "o.tiktoken"))
        assert r.returncode == 2 and ("encoding" in r.stderr or "engine" in r.stderr), r.stderr
    assert "--encoding" not in qtok("train", "--help").stdout
    for pattern, msg in (("(", "--pattern: the pattern does not compile"), ("", "--pattern: the pattern is empty")):
        r = qtok("train", "--corpus", str(corpus), "--new-tokens", "2", "--pattern", pattern,
                 "--out", str(tmp_path / "o.tiktoken"))
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_closed_pipe_is_a_normal_end(tmp_path):
    big = ("hello world " * 50_000 + "\n") * 4
    p = subprocess.Popen(f"{sys.executable} -m qtok encode - | head -c 10", shell=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(big.encode())
    assert b"Broken pipe" not in err and b"error" not in err, err
    r = subprocess.run(f"{sys.executable} -m qtok encode - | head -c 10; exit ${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", input=big.encode(), capture_output=True)
    assert r.returncode == 0 and r.stderr == b"", r.stderr


def test_invalid_utf8_is_an_error_wherever_it_comes_from():
    # Python hands argv bytes that are not UTF-8 over as lone surrogates (surrogateescape).
    for r in (qtok("encode", "\udcff"), qtok("encode", "-", stdin=b"\xff"),
              qtok("explain", "--json", "a\udcffb")):
        assert r.returncode == 2 and "not valid UTF-8" in r.stderr, r.stderr
        assert r.stdout == ""
    r = run_bytes(b"encode", b"\xff")  # and through a real process's argv
    assert r.returncode == 2 and b"not valid UTF-8" in r.stderr and r.stdout == b"", r.stderr
    r = qtok("explain", "--json", "é元")
    json.loads(r.stdout)  # always valid JSON


def test_count_takes_text_from_an_argument_or_stdin(tmp_path):
    assert json.loads(qtok("count", "hello world", "--json").stdout)[0]["tokens"] == 2
    assert json.loads(qtok("count", "--json", stdin="hello world").stdout)[0]["tokens"] == 2
    assert json.loads(qtok("count", "-", "--json", stdin="你好，世界").stdout)[0]["tokens"] == 3
    # A missing file is an error, not a three-token text.
    r = qtok("count", str(tmp_path / "notes.txt"))
    assert r.returncode == 2 and "no such file" in r.stderr and r.stderr.count("\n") == 1


def test_version():
    import qtok as package

    r = qtok("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"qtok {package.__version__}"


def test_chat_window_options_are_checked(tmp_path):
    f = tmp_path / "chat.json"
    f.write_text(json.dumps([{"role": "user", "content": "hi"}]))
    assert "applies to --chat" in qtok("count", str(f), "--max-window-size", "100").stderr
    assert "max_window_size must be a positive int" in qtok("count", "--chat", str(f), "--max-window-size", "-1").stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    r = qtok("count", "--chat", str(deep))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not JSON" in r.stderr


def test_explain_steps_is_bounded():
    r = qtok("explain", "--steps", "x" * 10_000)
    assert r.returncode == 2 and "--steps" in r.stderr and len(r.stdout) < 1000


def test_train_takes_errors_replace_as_its_message_says(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ab\xffcd ab\xffcd ab\xffcd\n")
    r = qtok("train", "--corpus", str(bad), "--new-tokens", "2", "--out", str(tmp_path / "o.tiktoken"), "--quiet")
    assert r.returncode == 2 and "not valid UTF-8 at byte offset 2" in r.stderr and "--errors replace" in r.stderr
    r = qtok("train", "--corpus", str(bad), "--new-tokens", "2", "--out", str(tmp_path / "o.tiktoken"),
             "--errors", "replace", "--quiet")
    assert r.returncode == 0, r.stderr
