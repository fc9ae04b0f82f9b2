"""python -m qtok.model, end to end in this process (and one real process for --compile)."""

import subprocess
import sys

import pytest
from helpers import run_main

import qtok
from qtok.model import save_checkpoint
from qtok.model.__main__ import main as model_main


def test_cli_end_to_end(tiny, tmp_path):
    r = subprocess.run([sys.executable, "-m", "qtok.model", "--max-new-tokens", "4"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "seeded random weights" in r.stdout and "top-5" in r.stdout and "continuation:" in r.stdout
    save_checkpoint(tiny, tmp_path)
    r = run_main(model_main, "hello", "--weights", tmp_path, "--dtype", "bfloat16")
    assert r.returncode == 0 and f"weights: {tmp_path}" in r.stdout
    r = run_main(model_main, "x", "--weights", tmp_path / "missing", "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    # Without --quiet: what it is doing on stderr, never on stdout.
    r = run_main(model_main, "hello", "--weights", tmp_path, "--max-new-tokens", "1")
    assert r.returncode == 0 and "model: loading the weights of" in r.stderr and "loading" not in r.stdout


@pytest.mark.parametrize("args,message", [
    (["hi", "--max-new-tokens", "-5"], "--max-new-tokens must be >= 0"),
    (["hi", "--temperature", "nan"], "--temperature must be a finite number"),
    (["hi", "--top-k", "0"], "--top-k must be a positive int"),
    (["hi", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    ([""], "the prompt is empty"),
])
def test_cli_bad_arguments_are_one_line(args, message):
    r = run_main(model_main, *args)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_cli_chat_streams_and_compiles():
    """--chat wraps the text in ChatML (as encode_chat) and stops at <|im_end|>; --compile runs
    the compiled decode step end to end."""
    r = subprocess.run([sys.executable, "-m", "qtok.model", "What is 2+2?", "--chat", "--compile",
                        "--max-new-tokens", "4"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    tok = qtok.get_tokenizer("qwen")
    expected = tok.encode_chat([{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": "What is 2+2?"}])
    assert f"ids ({len(expected)}): {expected}" in r.stdout
    assert "continuation: " in r.stdout
