"""The vocabulary report and the extension experiment."""

import json
import subprocess
import sys

from qtok.analysis.vocab import script_summary, token_script, vocab_table
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
    r = subprocess.run([sys.executable, "-m", "qtok.analysis.vocab", "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "vocab-qwen.json").read_text())
    assert meta["n_tokens"] == 52_487 and (tmp_path / "vocab-qwen.png").exists()


def test_split_is_by_document_seeded_and_parallel():
    from qtok.analysis.corpora import load_corpus, normalize
    from qtok.analysis.experiment import split_documents

    corpus = load_corpus("embedded")
    train, test, meta = split_documents(corpus, seed=0)
    assert sorted(train) == sorted(test) == meta["languages"] and "code" not in meta["languages"]
    assert set(meta["train_ids"]).isdisjoint(meta["held_out_ids"])
    assert sorted(meta["train_ids"] + meta["held_out_ids"]) == list(range(meta["documents"]))
    docs = [normalize(d, "NFC") for d in corpus.docs("de")]  # as the study reads them
    assert train["de"] == [docs[i] for i in meta["train_ids"]]  # the same stories in every language
    assert {len(v) for v in train.values()} == {len(meta["train_ids"])}
    again, _, _ = split_documents(corpus, seed=0)
    other, _, _ = split_documents(corpus, seed=1)
    assert again == train != other


def test_experiment_small(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qtok.analysis.experiment", "--langs", "en,de,zh,th,ar,ru", "--sizes",
                        "100,300", "--objectives", "frequency,hybrid", "--bootstrap", "0", "--quiet",
                        "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = {row["tokenizer"]: row for row in json.loads((tmp_path / "summary.json").read_text())["summary"]}
    assert sorted(summary) == sorted(["qwen", "cl100k_base", "frequency+100", "frequency+300",
                                      "hybrid+100", "hybrid+300"])
    for name in ("frequency+300", "hybrid+300"):
        meta = json.loads((tmp_path / f"{name}.tiktoken.json").read_text())
        assert meta["n_new"] == summary[name]["n_new"] == 300 and meta["drop_multi_digit"]
        assert 0 < summary[name]["in_qwen_extension"] <= 300
    assert json.loads((tmp_path / "hybrid+300.tiktoken.json").read_text())["corpus"]["global_merges"] == 150
    # More tokens: shorter held-out text; Qwen-1's 52,487 beat 300 and cl100k_base.
    assert summary["frequency+300"]["mean_compression"] < summary["frequency+100"]["mean_compression"]
    assert summary["qwen"]["mean_compression"] < summary["frequency+300"]["mean_compression"]
    assert summary["frequency+100"]["mean_compression"] < summary["cl100k_base"]["mean_compression"]
    assert (tmp_path / "extension-experiment.png").stat().st_size > 10_000
    assert "| frequency+300 | 300 |" in r.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["split"]["languages"] == ["ar", "de", "en", "ru", "th", "zh"]


def test_experiment_arguments_are_checked(tmp_path):
    for args, message in ((["--sizes", "0"], "--sizes takes distinct positive integers"),
                          (["--sizes", "50,50"], "--sizes takes distinct positive integers"),
                          (["--objectives", "fastest"], "--objectives takes some of frequency, parity, hybrid"),
                          (["--hybrid-share", "1.5"], "--hybrid-share is the part of the merges"),
                          (["--corpus", "udhr"], "the same number (at least 2) of documents")):
        r = subprocess.run([sys.executable, "-m", "qtok.analysis.experiment", *args, "--out", str(tmp_path)],
                           capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


def test_vocab_reads_the_experiments_sidecar(tmp_path, multilingual):
    path = tmp_path / "exp.tiktoken"
    write_extension(path, extend("cl100k_base", [multilingual["th"]], 20), base="cl100k_base",
                    n_new_requested=20, corpus="test")
    r = subprocess.run([sys.executable, "-m", "qtok.analysis.vocab", "--tokenizer", str(path),
                        "--out", str(tmp_path / "v")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "20 tokens from rank 100256" in r.stdout
    r = subprocess.run([sys.executable, "-m", "qtok.analysis.vocab", "--start", "999999999",
                        "--out", str(tmp_path / "v")], capture_output=True, text=True)
    assert r.returncode == 2 and "outside" in r.stderr


def test_train_parity_on_the_studys_corpus(tmp_path):
    # --dev-corpus embedded: the study's corpus (through the qtok.corpora entry point), languages
    # named by its codes; the training text is LANG.txt files named alike.
    from qtok.analysis.corpora import parallel_texts

    texts = parallel_texts("embedded")
    assert "code" not in texts and {"de", "zh", "th"} <= set(texts)
    corpus = tmp_path / "train"
    corpus.mkdir()
    for lang in ("de", "zh", "th"):
        (corpus / f"{lang}.txt").write_text("\n".join(texts[lang][:20]), encoding="utf-8")
    out = tmp_path / "fair.tiktoken"
    r = subprocess.run([sys.executable, "-m", "qtok", "train", "--corpus", str(corpus), "--dev-corpus", "embedded",
                        "--objective", "parity", "--new-tokens", "30", "--out", str(out), "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "fair.tiktoken.json").read_text())["counts"]["objective"] == "parity"
    r = subprocess.run([sys.executable, "-m", "qtok", "train", "--corpus", str(corpus), "--dev-corpus",
                        f"ntrex:{tmp_path / 'missing'}", "--objective", "parity", "--new-tokens", "30",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "--dev-corpus ntrex:" in r.stderr and "does not exist" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
