"""Counting at scale: the same counts, CSV and trained ranks from one worker, two worker processes
and Ray (local, 2 CPUs), on a generated multi-language corpus of a few MB."""

import json
import random
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtok.analysis import load_corpus, run_study, write_results
from qtok.analysis.corpora import CorpusError
from qtok.analysis.tokenizers import load_adapters
from qtok.blocks import number, plan_file, read_docs, read_text
from qtok.encodings import QWEN_PATTERN
from qtok.load import dump_ranks
from qtok.parity import learn_parity
from qtok.train import corpus_files, count_corpus_pieces, count_pieces, extend, extend_counts, prepare_base

LANGS = ["en", "zh", "th", "de"]
BLOCK = 256 << 10  # small blocks, so a few MB makes many of them


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """NTREX sentences drawn into documents: English split over 3 files, German as JSON Lines,
    Thai as Parquet, Chinese as one text file; about 4 MB."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("scale")
    news = load_corpus("embedded")
    rng = random.Random(7)
    for lang in LANGS:
        sentences = [line for doc in news.docs(lang) for line in doc.split("\n") if line.strip()]
        docs = [" ".join(rng.choice(sentences) for _ in range(rng.randint(1, 6))) for _ in range(2500)]
        d = root / lang
        d.mkdir()
        if lang == "en":
            for i in range(3):
                (d / f"part-{i}.txt").write_text("\n".join(docs[i::3]) + "\n", encoding="utf-8")
        elif lang == "de":
            (d / "part-0.jsonl").write_text("".join(json.dumps({"text": t, "id": i}) + "\n"
                                                    for i, t in enumerate(docs)), encoding="utf-8")
        elif lang == "th":
            pq.write_table(pa.table({"text": docs}), d / "part-0.parquet", row_group_size=400)
        else:
            (d / "part-0.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def adapters():
    return load_adapters(["qwen", "cl100k_base", "xlm-r"])


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def study(corpus_dir, adapters, **kw):
    corpus = load_corpus(str(corpus_dir / "{lang}" / "*"), langs=LANGS)
    return run_study(corpus, adapters, n_boot=50, progress=False, block_bytes=BLOCK, **kw)


def csv_of(s, tmp_path, name):
    return (write_results(s, tmp_path / name)["compression.csv"]).read_bytes()


def test_files_are_cut_into_many_blocks_and_read_back_whole(corpus_dir):
    blocks = number(b for lang in LANGS for f in sorted((corpus_dir / lang).iterdir())
                    for b in plan_file(f, lang, block_bytes=BLOCK))
    assert len(blocks) > 12
    assert {b.kind for b in blocks} == {"text", "jsonl", "parquet"}
    for lang in LANGS:
        docs = [d for b in blocks if b.group == lang for d in read_docs(b)]
        assert len(docs) == 2500
    # Text blocks tile their file exactly.
    zh = corpus_dir / "zh" / "part-0.txt"
    assert "".join(read_text(b) for b in blocks if b.path == str(zh)) == zh.read_text(encoding="utf-8")


def test_jsonl_and_parquet_read_as_datasets_reads_them(corpus_dir):
    import datasets

    for lang, builder in (("de", "json"), ("th", "parquet")):
        files = [str(f) for f in sorted((corpus_dir / lang).iterdir())]
        ours = [d for f in files for b in plan_file(f, lang, block_bytes=BLOCK) for d in read_docs(b)]
        theirs = [r["text"] for r in datasets.load_dataset(builder, data_files=files, split="train")]
        assert ours == theirs


def test_study_identical_with_one_and_two_workers_and_ray(corpus_dir, adapters, tmp_path, ray_local):
    one = study(corpus_dir, adapters, jobs=1)
    two = study(corpus_dir, adapters, jobs=2, pool="process")
    threads = study(corpus_dir, adapters, jobs=2, pool="thread")
    on_ray = study(corpus_dir, adapters, jobs=2, backend="ray")
    assert one.meta["counting"]["blocks"] > 12
    assert two.meta["counting"]["pool"] == "process" and on_ray.meta["counting"]["pool"] == "ray"
    reference = csv_of(one, tmp_path, "one")
    for other, name in ((two, "two"), (threads, "threads"), (on_ray, "ray")):
        assert other.doc_tokens == one.doc_tokens, name
        assert csv_of(other, tmp_path, name) == reference, name
    row = {(r["tokenizer"], r["lang"]): r for r in one.rows}
    assert row["qwen", "en"]["n_docs"] == 2500


def test_study_counts_equal_counting_each_document_whole(corpus_dir, adapters):
    s = study(corpus_dir, adapters, jobs=1)
    corpus = load_corpus(str(corpus_dir / "{lang}" / "*"), langs=LANGS)
    qwen = adapters[0]
    for lang in ("en", "th"):
        docs = [d for d in corpus.docs(lang)]
        assert s.doc_tokens["qwen", lang] == qwen.count([__import__("unicodedata").normalize("NFC", d)
                                                         for d in docs])


def test_sample_is_deterministic_exact_and_parallel(corpus_dir, adapters, tmp_path):
    a = study(corpus_dir, adapters[:1], baseline="qwen", sample=300, seed=5, jobs=1)
    b = study(corpus_dir, adapters[:1], baseline="qwen", sample=300, seed=5, jobs=2, pool="process")
    c = study(corpus_dir, adapters[:1], baseline="qwen", sample=300, seed=6, jobs=1)
    assert a.doc_tokens == b.doc_tokens
    assert a.doc_tokens != c.doc_tokens
    assert all(len(v) == 300 for v in a.doc_tokens.values())
    assert a.meta["counting"]["sample"] == {"documents": 300, "seed": 5, "method": "uniform without replacement"}
    # The same 300 documents of every language (2,500 each): the sample of a parallel corpus
    # is parallel. The documents drawn are in corpus order, a subsequence of the whole.
    whole = study(corpus_dir, adapters[:1], baseline="qwen", jobs=1)
    import numpy as np

    chosen = np.sort(np.random.default_rng(5).choice(2500, 300, replace=False))
    for lang in LANGS:
        assert a.doc_tokens["qwen", lang] == [whole.doc_tokens["qwen", lang][i] for i in chosen]


def test_caps_take_the_first_documents(corpus_dir, adapters):
    whole = study(corpus_dir, adapters[:1], baseline="qwen", jobs=1)
    capped = study(corpus_dir, adapters[:1], baseline="qwen", jobs=2, pool="process", max_docs=1000)
    for lang in LANGS:
        assert capped.doc_tokens["qwen", lang] == whole.doc_tokens["qwen", lang][:1000]
    by_bytes = study(corpus_dir, adapters[:1], baseline="qwen", jobs=1, max_bytes=50_000)
    for r in by_bytes.rows:
        assert 50_000 <= r["n_bytes"] < 50_000 + 5_000 and r["n_docs"] < 1000


def test_bad_utf8_is_the_same_error_everywhere(corpus_dir, adapters, tmp_path, ray_local):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(corpus_dir, bad)
    target = bad / "en" / "part-1.txt"
    data = target.read_bytes()
    cut = len(data) // 2
    target.write_bytes(data[:cut] + b"\xff\xfe" + data[cut:])
    messages = set()
    for kw in (dict(jobs=1), dict(jobs=2, pool="process"), dict(jobs=2, backend="ray")):
        with pytest.raises(ValueError) as e:
            study(bad, adapters[:1], baseline="qwen", **kw)
        messages.add(str(e.value))
    files = corpus_files([bad])
    for kw in (dict(jobs=1), dict(jobs=2), dict(jobs=2, backend="ray")):
        with pytest.raises(ValueError) as e:
            count_corpus_pieces(files, block_bytes=BLOCK, **kw)
        messages.add(str(e.value))
    assert messages == {f"{target} is not valid UTF-8 at byte offset {cut}; fix the file or pass "
                        "--errors replace to replace invalid bytes with U+FFFD"}


def test_training_identical_whichever_backend_counted(corpus_dir, tmp_path, ray_local):
    files = corpus_files([corpus_dir / "en", corpus_dir / "zh"])
    ranks0, ordered = prepare_base("cl100k_base")
    outputs, fair = [], []
    for kw in (dict(jobs=1), dict(jobs=2), dict(jobs=2, backend="ray")):
        # Each language counted, then pooled (counts add up across files) for the frequency
        # objective; the parity objective learns from the per-language counts.
        by_lang, blocks = {}, 0
        for lang in ("en", "zh"):
            by_lang[lang], record = count_corpus_pieces([f for f in files if f.parent.name == lang],
                                                        block_bytes=BLOCK, **kw)
            blocks += record["blocks"]
        assert blocks > 4
        pooled = by_lang["en"] + by_lang["zh"]
        outputs.append(dump_ranks(extend_counts(ranks0, ordered, pooled, 200)))
        fair.append(dump_ranks(learn_parity(ranks0, ordered, by_lang, by_lang, 200, global_merges=50)))
    assert outputs[0] == outputs[1] == outputs[2]
    assert fair[0] == fair[1] == fair[2]
    # ... and equal to learning from each file as one text, the way extend() reads a corpus.
    whole = extend("cl100k_base", [f.read_text(encoding="utf-8") for f in files], 200)
    assert dump_ranks(whole) == outputs[0]


def test_min_count_prunes_and_is_recorded(corpus_dir):
    files = corpus_files([corpus_dir / "en"])
    full, rec_full = count_corpus_pieces(files, block_bytes=BLOCK, jobs=1)
    pruned, rec = count_corpus_pieces(files, block_bytes=BLOCK, jobs=1, min_count=3)
    assert pruned == {p: c for p, c in full.items() if c >= 3}
    assert rec["distinct_pieces"] == len(full) > rec["pieces_kept"] == len(pruned)
    assert rec["occurrences"] == sum(full.values()) == rec_full["occurrences_kept"]
    with pytest.raises(ValueError, match="--min-count"):
        count_corpus_pieces(files, jobs=1, min_count=0)


def test_train_cli_writes_the_same_file_for_one_and_two_workers(corpus_dir, tmp_path):
    outs = []
    for j in (1, 2):
        out = tmp_path / f"w{j}.tiktoken"
        r = subprocess.run([sys.executable, "-m", "qtok", "train", "--base", "cl100k_base", "--corpus",
                            str(corpus_dir / "zh"), "--new-tokens", "50", "--min-count", "2", "--out",
                            str(out), "--jobs", str(j)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    meta = json.loads((tmp_path / "w1.tiktoken.json").read_text())
    assert meta["counts"]["min_count"] == 2 and meta["counts"]["pieces_kept"] < meta["counts"]["distinct_pieces"]


# Cut points: after a newline, before a letter or digit. No piece of the pattern spans one, so
# counting pieces block by block equals counting them in the whole text.
TEXT = st.lists(st.sampled_from(["a", "Б", "中", "7", " ", "  ", "\n", "\n\n", "\r\n", "\t", "!",
                                 "\u3000", "'s", "x1", "ไทย", "\u00a0", "é"]), max_size=300).map("".join)


@given(TEXT, st.integers(1, 40))
def test_block_cuts_split_no_piece(tmp_path_factory, text, block_bytes):
    path = tmp_path_factory.mktemp("cut") / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    if not text:
        return
    blocks = plan_file(path, "", "text", block_bytes=block_bytes)
    assert "".join(read_text(b) for b in blocks) == text
    per_block = Counter()
    for b in blocks:
        per_block.update(count_pieces([read_text(b)], QWEN_PATTERN))
    assert per_block == count_pieces([text], QWEN_PATTERN)


def test_ray_backend_without_ray_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from qtok.analysis.cli import main\n"
            f"sys.exit(main(['--backend', 'ray', '--langs', 'en,zh', '--out', {str(tmp_path)!r}, '--quiet']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == ("analysis: error: --backend ray needs Ray: pip install 'qtok[scale]' "
                                "(or pip install 'ray[data]')")


def test_unknown_corpus_file_problems_are_one_line(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "a.jsonl").write_text('{"body": "x"}\n')
    corpus = load_corpus(str(tmp_path / "{lang}" / "*"), langs=["en"])
    with pytest.raises(CorpusError, match="has no field 'text'.*--text-field"):
        list(corpus.docs("en"))
    with pytest.raises(CorpusError, match="no file matches"):
        load_corpus(str(tmp_path / "{lang}" / "*.txt"), langs=["fr"])
