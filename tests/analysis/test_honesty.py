"""The study claims nothing its data cannot support, on a researcher's own corpus: each case a
new user met, run through the command line in process."""

import math

import pytest
from helpers import run_main

from qtok.analysis.cli import main
from qtok.analysis.results import read_results


def corpus(tmp_path, files: dict[str, list[str]]):
    d = tmp_path / "corpus"
    d.mkdir()
    for name, lines in files.items():
        (d / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


LINES = ["Der schnelle braune Fuchs springt.", "Ein zweiter Satz.", "Und ein dritter."]


def run(tmp_path, *args):
    out = tmp_path / "out"
    r = run_main(main, "--out", out, "--tokenizers", "qwen,xlm-r", "--bootstrap", "50", *args)
    rows = read_results(out / "compression.csv") if r.returncode == 0 else []
    return r, {(x["tokenizer"], x["lang"]): x for x in rows}


def test_a_corpus_without_english_still_counts_and_says_why_there_is_no_premium(tmp_path):
    d = corpus(tmp_path, {"deu.txt": LINES, "fra.txt": ["Le renard.", "Une phrase.", "Trois."],
                          "tha.txt": ["สวัสดีครับ", "ประโยคที่สอง", "สาม"], "zho.txt": ["你好", "第二句", "三"]})
    r, rows = run(tmp_path, "--corpus", d)
    assert r.returncode == 0, r.stderr
    # ISO 639-3 file names become the chart's codes.
    assert {lang for _, lang in rows} == {"de", "fr", "th", "zh"}
    assert all(math.isfinite(x["compression"]) and math.isnan(x["premium"]) for x in rows.values())
    assert r.stderr.count("the reference language 'en' is not in the corpus") == 1


def test_a_corpus_that_is_not_parallel_gets_no_premium(tmp_path):
    d = corpus(tmp_path, {"en.txt": ["One.", "Two.", "Three.", "Four."], "de.txt": LINES, "fr.txt": LINES})
    r, rows = run(tmp_path, "--corpus", d)
    assert r.returncode == 0, r.stderr
    assert math.isnan(rows["qwen", "de"]["premium"]) and "not parallel: en has 4 documents, de 3" in rows["qwen", "de"]["reason"]
    assert r.stderr.count("not parallel") == 1  # said once
    assert "premium spread" not in r.stdout  # no Gini from unparallel text
    assert math.isfinite(rows["qwen", "de"]["compression"])


def test_the_gini_says_over_how_many_languages(tmp_path):
    # Premiums, so their Gini, exist only for the languages parallel to English: 3 of 4 here.
    d = corpus(tmp_path, {"en.txt": LINES, "de.txt": LINES, "es.txt": LINES, "fr.txt": LINES[:2]})
    r, _ = run(tmp_path, "--corpus", d)
    assert r.returncode == 0, r.stderr
    assert "premium spread across languages (Gini, 0 = equal) over 3 of 4 languages (the parallel ones):" in r.stdout
    (tmp_path / "all").mkdir()
    d2 = corpus(tmp_path / "all", {"en.txt": LINES, "de.txt": LINES})
    r, _ = run(tmp_path / "all", "--corpus", d2)
    assert "premium spread across languages (Gini, 0 = equal): " in r.stdout  # all of them: nothing to add


def test_no_interval_from_too_few_documents(tmp_path):
    d = corpus(tmp_path, {"en.txt": ["Only one document here."], "de.txt": ["Nur ein Dokument hier."]})
    r, rows = run(tmp_path, "--corpus", d)
    assert r.returncode == 0, r.stderr
    x = rows["qwen", "de"]
    assert math.isnan(x["compression_lo"]) and "no interval: 1 document (< 30)" in x["reason"]
    assert "[" not in r.stdout.splitlines()[2]  # the table shows no interval
    # The note names the rows it marks; a table without intervals has no such note.
    assert "note: no interval: 1 document (< 30) (every language)" in r.stdout
    r, _ = run(tmp_path, "--corpus", d, "--metric", "split_rate")
    assert r.returncode == 0 and "no interval" not in r.stdout, r.stdout


def test_the_papers_values_only_beside_a_comparable_corpus(tmp_path):
    d = corpus(tmp_path, {"eng.txt": ["Hello world."] * 30, "deu.txt": ["Hallo Welt."] * 30})
    r, rows = run(tmp_path, "--corpus", d)
    assert r.returncode == 0 and "qwen: paper" not in r.stdout and "report" not in r.stdout.splitlines()[0]
    assert math.isnan(rows["qwen", "en"]["paper"])
    r, rows = run(tmp_path, "--corpus", d, "--compare-paper")
    assert "qwen: paper" in r.stdout and rows["qwen", "de"]["paper"] == 1.20  # deu.txt lines up with de
    r, rows = run(tmp_path, "--langs", "en,de")  # the embedded news: shown
    assert "qwen: paper" in r.stdout and rows["qwen", "en"]["paper"] == 0.92


@pytest.mark.parametrize("metric", ["premium", "split_rate", "strr", "avg_rank", "renyi", "nfd_ratio"])
def test_metric_chooses_the_table(tmp_path, metric):
    r, _ = run(tmp_path, "--langs", "en,de,th", "--tokenizers", "qwen,cl100k_base,xlm-r", "--metric", metric)
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[1].split()
    if metric == "premium":  # an interval for every tokenizer
        assert header == ["lang", "qwen", "qwen", "95%", "cl100k_base", "cl100k_base", "95%", "xlm-r", "xlm-r", "95%"]
    else:
        assert header == ["lang", "qwen", "cl100k_base", "xlm-r"]
    assert (tmp_path / "out" / ("compression-premium.png" if metric == "premium" else f"compression-{metric}.png")).exists()


def test_a_sample_of_a_corpus_that_is_not_parallel_is_not_parallel(tmp_path):
    # --sample 3 gave en and de 3 documents each: de's premium was printed, with a Gini.
    d = corpus(tmp_path, {"en.txt": ["One.", "Two.", "Three.", "Four."], "de.txt": LINES})
    r, rows = run(tmp_path, "--corpus", d, "--sample", "3")
    assert r.returncode == 0, r.stderr
    assert rows["qwen", "de"]["n_docs"] == 3
    assert math.isnan(rows["qwen", "de"]["premium"]) and "not parallel: en has 4 documents, de 3" in rows["qwen", "de"]["reason"]
    assert "premium spread" not in r.stdout
    # A parallel corpus stays parallel under a sample (the same draw for languages of one size).
    d2 = tmp_path / "p"
    d2.mkdir()
    for lang in ("en", "fr"):
        (d2 / f"{lang}.txt").write_text("".join(f"{lang} line {i}.\n" for i in range(6)), encoding="utf-8")
    r, rows = run(tmp_path, "--corpus", d2, "--sample", "3")
    assert r.returncode == 0 and math.isfinite(rows["qwen", "fr"]["premium"]), r.stderr


@pytest.mark.parametrize("name", ["zh-CN", "zh-Hans", "cmn", "zho-CN", "ja-JP", "th_TH"])
def test_scripts_without_spaces_are_known_by_their_text_not_their_file_name(tmp_path, name):
    text = {"zh": "我们今天去公园散步，天气很好。", "ja": "今日は公園を散歩しました。", "th": "วันนี้เราไปเดินเล่นที่สวนสาธารณะ"}
    d = corpus(tmp_path, {f"{name}.txt": [text[name[:2] if name[:2] in text else "zh"]] * 3,
                          "de.txt": LINES})
    r, rows = run(tmp_path, "--corpus", d)
    assert r.returncode == 0, r.stderr
    (lang,) = {lang for _, lang in rows} - {"de"}
    assert math.isnan(rows["qwen", lang]["strr"]) and math.isnan(rows["qwen", lang]["fertility"])
    assert math.isfinite(rows["qwen", "de"]["strr"]) and math.isfinite(rows["qwen", "de"]["fertility"])


def test_size_dependent_metrics_are_flagged_between_corpora_of_other_sizes(tmp_path):
    # The same English as en.txt and eng2.txt at other sizes: average rank 1,139 vs 128, no note.
    sentences = [f"The council met on day {i} and spoke about the river, the school and trade." for i in range(40)]
    d = corpus(tmp_path, {"en.txt": sentences, "eng2.txt": sentences[:8]})
    r, rows = run(tmp_path, "--corpus", d)
    assert r.returncode == 0, r.stderr
    assert rows["qwen", "eng2"]["avg_rank"] < rows["qwen", "en"]["avg_rank"]
    assert "grow with corpus size" in rows["qwen", "eng2"]["reason"]
    assert "grow with corpus size" not in (rows["qwen", "en"]["reason"] or "")
    assert r.stderr.count("grow with corpus size") == 1


def test_reference_language_codes_and_bad_choices(tmp_path):
    d = corpus(tmp_path, {"en.txt": LINES, "de.txt": LINES})
    for ref in ("eng", "eng_Latn"):
        r, rows = run(tmp_path, "--corpus", d, "--reference-lang", ref)
        assert r.returncode == 0 and math.isfinite(rows["qwen", "de"]["premium"]), (ref, r.stderr)
    r = run_main(main, "--metric", "bogus")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "invalid choice: 'bogus'" in r.stderr
    assert "nsl" in r.stderr
    from qtok.cli import main as qtok_main
    r = run_main(qtok_main, "--engine", "bogus", "encode", "x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'reference'" in r.stderr
