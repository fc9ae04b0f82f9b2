"""--price and --context: the cost of 1,000 words (characters where a script has no spaces) and
of the corpus, and what fits in a context, each recomputed here from the corpus itself, with
intervals from the study's bootstrap; no price is ever assumed."""

import json
import math
import unicodedata

import pytest
from helpers import run_main

from qtok.analysis import load_corpus, run_study
from qtok.analysis.cli import main as analysis_main
from qtok.analysis.cost import parse_prices
from qtok.analysis.tokenizers import load_adapters


@pytest.fixture(scope="module")
def priced():
    corpus = load_corpus(langs=["de", "zh", "th", "en"])
    adapters = load_adapters(["qwen", "cl100k_base", "xlm-r"])
    study = run_study(corpus, adapters, prices={"qwen": 0.30, "cl100k_base": 2.5}, context=32768)
    return corpus, study


def test_costs_and_context_fits_are_the_corpus_own_ratios(priced):
    corpus, study = priced
    qwen = load_adapters(["qwen"])[0]
    for lang, unit in (("de", "word"), ("zh", "character"), ("th", "character"), ("en", "word")):
        docs = [unicodedata.normalize("NFC", d) for d in corpus.docs(lang)]
        units = sum(len(d.split()) if unit == "word" else len(d) for d in docs)
        tokens = sum(qwen.count(docs))
        r = next(r for r in study.rows if r["tokenizer"] == "qwen" and r["lang"] == lang)
        assert r["unit"] == unit and r["n_tokens"] == tokens
        assert r["cost_per_1k"] == pytest.approx(tokens / units * 1000 * 0.30 / 1e6, rel=1e-12)
        assert r["corpus_cost"] == pytest.approx(tokens * 0.30 / 1e6, rel=1e-12)
        assert r["context_fit"] == pytest.approx(32768 / (tokens / units), rel=1e-12)
        assert r["cost_per_1k_lo"] < r["cost_per_1k"] < r["cost_per_1k_hi"]
        assert r["context_fit_lo"] < r["context_fit"] < r["context_fit_hi"]
    xlmr = [r for r in study.rows if r["tokenizer"] == "xlm-r"]
    assert all(math.isnan(r["cost_per_1k"]) and not math.isnan(r["context_fit"]) for r in xlmr)
    # A costlier tokenizer per token and per word costs more: cl100k_base at 2.5 vs qwen at 0.30.
    grid = {(r["tokenizer"], r["lang"]): r for r in study.rows}
    assert grid["cl100k_base", "zh"]["cost_per_1k"] > grid["qwen", "zh"]["cost_per_1k"]
    assert study.meta["costs"]["prices_per_million_tokens"] == {"qwen": 0.30, "cl100k_base": 2.5}


def test_prices_are_parsed_strictly():
    assert parse_prices(None, ["qwen"]) == {}
    for bad, message in (("qwen=abc", "is not a price"), ("-1", "is not a price"), ("nan", "is not a price"),
                         ("gpt=1", "not among the tokenizers"), ("qwen:1", "is not a price")):
        with pytest.raises(ValueError, match=message):
            parse_prices(bad, ["qwen", "xlm-r"])


def test_the_cli_writes_the_cost_table_figure_and_report(tmp_path):
    r = run_main(analysis_main, "--langs", "de,zh,en", "--metric", "cost", "--quiet", "--out", tmp_path)
    assert r.returncode == 2 and "--metric cost needs --price" in r.stderr and r.stderr.count("\n") == 1
    r = run_main(analysis_main, "--langs", "de,zh,en", "--metric", "cost", "--price", "qwen=0.3,cl100k_base=2.5",
                 "--context", "8192", "--quiet", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "cost of 1,000 words" in r.stdout and "note: no --price for xlm-r" in r.stdout
    assert (tmp_path / "compression-cost.png").stat().st_size > 10_000
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<table id="costs">' in html and "fit in 8,192" in html and "zh (characters)" in html
    header = (tmp_path / "compression.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"unit", "cost_per_1k", "cost_per_1k_lo", "corpus_cost", "context_fit", "context_fit_hi"} <= set(header)
    meta = json.loads((tmp_path / "compression.json").read_text(encoding="utf-8"))
    assert meta["costs"]["context_tokens"] == 8192
