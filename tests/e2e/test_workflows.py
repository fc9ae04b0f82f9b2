"""End to end: a trainer's output counted by the study, each a real command."""

import json
import subprocess
import sys


def test_cli_train_then_study(tmp_path, multilingual):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "th.txt").write_text(multilingual["th"], encoding="utf-8")
    out = tmp_path / "thai.tiktoken"
    r = subprocess.run([sys.executable, "-m", "qtok", "train", "--base", "cl100k_base", "--corpus", str(corpus),
                        "--new-tokens", "20", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "thai.tiktoken.json").read_text())
    assert meta["base"] == "cl100k_base" and meta["n_new"] == 20 and meta["corpus"][0]["bytes"] > 0
    assert meta["base_sha256"] == "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    r = subprocess.run([sys.executable, "-m", "qtok.analysis", "--langs", "th,en", "--out", str(tmp_path / "res"),
                        "--tokenizers", f"cl100k_base,xlm-r,{out}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "thai" in r.stdout
    r = subprocess.run([sys.executable, "-m", "qtok", "train", "--corpus", str(tmp_path / "missing"),
                        "--new-tokens", "5", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr
