"""The vocabulary report and the extension experiment."""

import json
import subprocess
import sys

from analysis.vocab import script_summary, token_script, vocab_table
from qtok.encodings import qwen
from qtok.train import extend, write_extension


def test_token_script():
    assert token_script("你好".encode()) == "Han"
    assert token_script("안녕".encode()) == "Hangul"
    assert token_script("สวัสดี".encode()) == "Thai"
    assert token_script(" привет".encode()) == "Cyrillic"
    assert token_script("ひらがな".encode()) == "Kana"
    assert token_script("שלום".encode()) == "Hebrew"
    assert token_script("مرحبا".encode()) == "Arabic"
    assert token_script(b" the") == "Latin"
    assert token_script(b"123") == "other" and token_script(b"\xe4\xbd") == "other"


def test_qwen_extension_report():
    rows = vocab_table(qwen().mergeable_ranks, 99_156)
    assert len(rows) == 52_487 and rows[0]["rank"] == 99_156
    summary = {s["script"]: s for s in script_summary(rows)}
    assert sum(s["n_tokens"] for s in summary.values()) == 52_487
    # What Qwen's extension is for: Chinese first by far.
    assert summary["Han"]["n_tokens"] == max(s["n_tokens"] for s in summary.values())
    assert all(summary[s]["n_tokens"] > 1000 for s in ("Hangul", "Thai", "Arabic", "Hebrew", "Cyrillic"))


def test_vocab_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "analysis.vocab", "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "vocab-qwen.json").read_text())
    assert meta["n_tokens"] == 52_487 and (tmp_path / "vocab-qwen.png").exists()


def test_experiment_small(tmp_path):
    r = subprocess.run([sys.executable, "-m", "analysis.experiment", "--sizes", "300", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    overlap = json.loads((tmp_path / "overlap.json").read_text())["cl100k-ext-300"]
    assert overlap["n_new"] == 300 and 0 < overlap["in_qwen_extension"] <= 300
    assert "cl100k-ext-300" in r.stdout


def test_experiment_sizes_are_checked(tmp_path):
    import subprocess
    import sys

    for sizes in ("0", "abc", "50,50", "-3"):
        r = subprocess.run([sys.executable, "-m", "analysis.experiment", "--sizes", sizes,
                            "--out", str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 2 and "--sizes takes distinct positive integers" in r.stderr, sizes


def test_vocab_reads_the_experiments_sidecar(tmp_path, multilingual):
    path = tmp_path / "exp.tiktoken"
    write_extension(path, extend("cl100k_base", [multilingual["th"]], 20), base="cl100k_base",
                    n_new_requested=20, corpus="test")
    r = subprocess.run([sys.executable, "-m", "analysis.vocab", "--tokenizer", str(path),
                        "--out", str(tmp_path / "v")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "20 tokens from rank 100256" in r.stdout
    r = subprocess.run([sys.executable, "-m", "analysis.vocab", "--start", "999999999",
                        "--out", str(tmp_path / "v")], capture_output=True, text=True)
    assert r.returncode == 2 and "outside" in r.stderr
