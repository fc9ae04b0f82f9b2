"""The main job end to end on the embedded corpus."""

import json
import math
import subprocess
import sys

import pytest
from helpers import run_main

from qtok.analysis.cli import main
from qtok.analysis.results import read_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    r = subprocess.run([sys.executable, "-m", "qtok.analysis", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out, r.stdout, r.stderr


def test_main_job_writes_csv_json_png(results):
    out, stdout, stderr = results
    # What it is doing goes to stderr as it goes; the time printed is the process's wall time.
    assert "analysis: loading" in stderr and "analysis: counting" in stderr and "analysis: writing" in stderr
    assert "analysis:" not in stdout and "s (wall, since the process started" in stdout
    assert "compression" in stdout and "code" in stdout and "paper" in stdout
    rows = read_results(out / "compression.csv")
    langs = {r["lang"] for r in rows}
    assert len(langs) == 27 and {r["tokenizer"] for r in rows} == {"qwen", "cl100k_base", "xlm-r"}
    for r in rows:
        assert r["n_tokens"] > 0 and math.isfinite(r["compression"]) and math.isfinite(r["bytes_per_token"])
        if r["n_docs"] >= 30:
            assert r["compression_lo"] <= r["compression"] <= r["compression_hi"]
        else:  # one file of code: no interval, and the reason says why
            assert math.isnan(r["compression_lo"]) and "no interval" in r["reason"]
        for column in ("nsl", "split_rate", "strr", "avg_rank", "nfd_ratio", "renyi_efficiency"):
            assert column in r
        if r["tokenizer"] == "qwen":
            assert r["nsl"] == r["compression"] and 0 <= r["split_rate"] < 1 and r["avg_rank"] > 1
        if r["tokenizer"] == "xlm-r":
            assert r["compression"] == 1.0
    meta = json.loads((out / "compression.json").read_text())
    assert meta["normalization"] == "NFC" and meta["bootstrap"]["seed"] == 0
    assert meta["corpus"]["archives_sha256"] and meta["corpus"]["codes"]["en"] == "newstest2019-src.eng.txt"
    assert meta["tokenizers"]["xlm-r"]["sha256"] == "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
    assert meta["versions"]["tiktoken"]
    # The JSON, written last, lists every file of the run with its hash.
    from qtok.load import sha256_file

    for name, digest in meta["files"].items():
        assert sha256_file(out / name) == digest
    assert (out / "compression.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"compression.png", "compression-paper.png", "compression-premium.png",
            "compression-overlap.png"} <= set(meta["files"])
    assert meta["paper"]["shown"] and meta["parallel_check"]["not_parallel"] == {}


def test_default_run_reproduces_the_qwen_figure(results):
    # Every Qwen/XLM-R value of the report's chart within 0.05 (the chart is read off to +-0.02).
    rows = [r for r in read_results(results[0] / "compression.csv") if r["tokenizer"] == "qwen"]
    charted = [r for r in rows if math.isfinite(r["paper"])]
    assert len(charted) == 19
    worst = max(charted, key=lambda r: abs(r["paper_diff"]))
    assert abs(worst["paper_diff"]) <= 0.05, worst
    for r in rows:  # the literature's metrics are there and sane
        assert 0 < r["renyi_efficiency"] < 1 and 0 < r["vocab_utilization"] < 1
        if r["lang"] in ("de", "en", "ru"):
            assert 0 < r["continued_words"] < 1 and math.isfinite(r["fertility"])


def test_qwen_beats_cl100k_where_it_was_extended(results):
    rows = read_results(results[0] / "compression.csv")
    c = {(r["tokenizer"], r["lang"]): r["compression"] for r in rows}
    for lang in ("th", "he", "ar", "ko", "vi", "zh", "ja", "ru"):
        assert c["qwen", lang] < c["cl100k_base", lang]
    assert c["qwen", "zh"] < 1  # fewer tokens than XLM-R on Chinese, as in the report


def test_caps_and_bad_arguments(tmp_path):
    def run(*args):
        return run_main(main, "--out", tmp_path, "--quiet", *args)

    r = run("--langs", "en,zh", "--max-docs", "3", "--tokenizers", "qwen,xlm-r")
    assert r.returncode == 0
    rows = read_results(tmp_path / "compression.csv")
    assert {r["n_docs"] for r in rows} == {3}
    r = run("--langs", "en,klingon")
    assert r.returncode == 2 and "unknown language" in r.stderr and "available" in r.stderr
    r = run("--tokenizers", "qwen")
    assert r.returncode == 2 and "baseline 'xlm-r' is not among" in r.stderr
    r = run("--corpus", str(tmp_path / "missing"))
    assert r.returncode == 2 and "unknown corpus" in r.stderr
    r = run("--langs", "en,de", "--tokenizers", "qwen,xlm-r", "--reference-lang", "fr", "--out", tmp_path / "fr")
    said = json.loads((tmp_path / "fr" / "compression.json").read_text())["warnings"]
    assert r.returncode == 0 and "no premium: the reference language 'fr' is not in the corpus" in said[0]
    assert all(math.isnan(row["premium"]) for row in read_results(tmp_path / "fr" / "compression.csv"))
    r = run("--langs", "en,de", "--tokenizers", f"qwen,xlm-r,{tmp_path / 'missing.model'}")
    assert r.returncode == 2 and "file not found:" in r.stderr and r.stderr.count("\n") == 1
    (tmp_path / "bad.model").write_bytes(b"not a model")
    r = run("--langs", "en,de", "--tokenizers", f"qwen,xlm-r,{tmp_path / 'bad.model'}")
    assert r.returncode == 2 and "not a SentencePiece model" in r.stderr and r.stderr.count("\n") == 1
    (tmp_path / "compression.png").unlink()
    (tmp_path / "compression.png").mkdir()
    r = run("--langs", "en,de", "--tokenizers", "qwen,xlm-r", "--bootstrap", "50")
    assert r.returncode == 2 and "is a directory" in r.stderr


def test_other_chart_rows_line_up_by_name():
    # A tokenizer passed as llama=PATH (or baichuan, chatglm2, internlm) gets the chart's row.
    from qtok.analysis.study import add_paper

    rows = [dict(tokenizer=t, lang=lang, compression=1.10)
            for t in ("llama", "chatglm2", "mine") for lang in ("en", "zh", "xx")]
    add_paper(rows, "xlm-r")
    paper = {(r["tokenizer"], r["lang"]): r["paper"] for r in rows}
    assert paper["llama", "en"] == 1.06 and paper["llama", "zh"] == 2.14
    assert paper["chatglm2", "zh"] == 0.92
    assert math.isnan(paper["mine", "en"]) and math.isnan(paper["llama", "xx"])
    assert math.isclose([r for r in rows if r["tokenizer"] == "llama"][0]["paper_diff"], 1.10 - 1.06)
    add_paper(rows, "qwen")  # the chart is relative to XLM-R: another baseline has no paper values
    assert all(math.isnan(r["paper"]) for r in rows)


def test_more_bad_arguments_are_one_line_before_any_counting(tmp_path):
    (tmp_path / "empty.model").write_bytes(b"")
    (tmp_path / "x" / "en").mkdir(parents=True)
    (tmp_path / "x" / "en" / "a.txt").write_text("hello\n")
    (tmp_path / "a-file").write_text("x")
    for args, message in (
        (["--tokenizers", f"qwen,xlm-r,{tmp_path / 'empty.model'}"], "is not a SentencePiece model: the file is empty"),
        (["--corpus", str(tmp_path / "x" / "{lang}" / "{x}.txt"), "--langs", "en"], "no file matches"),
        (["--corpus", str(tmp_path / "x" / "{lang}" / "{}.txt"), "--langs", "en"], "no file matches"),
        (["--bootstrap", "-5"], "--bootstrap must be 0 (no intervals) or a positive number"),
        (["--out", str(tmp_path / "a-file")], "--out " + str(tmp_path / "a-file") + " exists and is not a directory"),
    ):
        argv = ["--langs", "en,de", "--out", str(tmp_path / "out"), *args]
        r = run_main(main, *argv)
        errors = [line for line in r.stderr.splitlines() if "error" in line]
        assert r.returncode == 2 and len(errors) == 1 and message in errors[0], r.stderr
        assert "analysis: counting" not in r.stderr  # refused before the study ran


def test_quiet_prints_no_warning_but_the_results_keep_them(tmp_path):
    """UDHR's languages have 89-92 articles: premiums are refused as not parallel, a warning.
    --quiet leaves stderr empty; compression.json and report.html still say it."""
    args = ["--corpus", "udhr", "--langs", "en,de,th", "--tokenizers", "qwen,xlm-r", "--bootstrap", "0"]
    loud = run_main(main, *args, "--out", tmp_path / "loud")
    assert loud.returncode == 0 and "analysis: warning: premium left NaN: not parallel" in loud.stderr
    quiet = run_main(main, *args, "--quiet", "--out", tmp_path / "quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.split("\n\n")[0] == loud.stdout.split("\n\n")[0]  # the same table and notes
    kept = json.loads((tmp_path / "quiet" / "compression.json").read_text())["warnings"]
    assert any(w.startswith("premium left NaN: not parallel") for w in kept)
    assert "premium left NaN: not parallel" in (tmp_path / "quiet" / "report.html").read_text()
