"""Metrics on hand-computed tables."""

import math

from qtok.analysis.metrics import add_metrics, compression, fertility, pivot, premium

ROWS = [
    dict(tokenizer="q", lang="en", n_docs=1, n_bytes=100, n_chars=100, n_words=20, n_tokens=25),
    dict(tokenizer="x", lang="en", n_docs=1, n_bytes=100, n_chars=100, n_words=20, n_tokens=20),
    dict(tokenizer="q", lang="zh", n_docs=1, n_bytes=90, n_chars=30, n_words=2, n_tokens=30),
    dict(tokenizer="x", lang="zh", n_docs=1, n_bytes=90, n_chars=30, n_words=2, n_tokens=40),
    dict(tokenizer="q", lang="code", n_docs=1, n_bytes=50, n_chars=50, n_words=5, n_tokens=10),
]


def test_compression_relative_to_baseline():
    assert compression(ROWS, baseline="x")[:4] == [1.25, 1.0, 0.75, 1.0]
    assert math.isnan(compression(ROWS, baseline="x")[4])  # no baseline row for code: NaN


def test_add_metrics_by_hand():
    rows = add_metrics(ROWS, baseline="x", parallel={"en", "zh"})
    q_en, x_en, q_zh, x_zh, q_code = rows
    assert q_en["bytes_per_token"] == 4.0 and q_en["chars_per_token"] == 4.0
    assert q_zh["bytes_per_token"] == 3.0 and q_zh["chars_per_token"] == 1.0
    assert q_en["fertility"] == 1.25
    assert math.isnan(q_zh["fertility"])  # Chinese is written without spaces
    assert q_zh["premium"] == 30 / 25 and x_zh["premium"] == 2.0 and x_en["premium"] == 1.0
    assert math.isnan(q_code["premium"])  # code is not a translation of the English text
    assert all(isinstance(v, float) for r in rows for k, v in r.items() if k in ("fertility", "premium"))


def test_premium_without_reference_language_is_nan():
    rows = [r for r in ROWS if r["lang"] != "en"]
    assert all(math.isnan(v) for v in premium(rows))


def test_zero_tokens_is_nan_not_an_error():
    rows = [dict(ROWS[0], n_tokens=0, n_words=0)]
    assert math.isnan(fertility(rows)[0])


def test_pivot():
    grid = pivot(add_metrics(ROWS, baseline="x"), "compression", ["en", "zh", "code"], ["q", "x"])
    assert grid[0][:2] == [1.25, 0.75] and math.isnan(grid[1][2])


def test_unknown_tokens_make_the_ratio_nan_with_a_reason():
    rows = [dict(r, n_unk=0) for r in ROWS]
    rows[3] = dict(rows[3], n_unk=4)  # the baseline: 10% unknown tokens on zh
    out = add_metrics(rows, baseline="x", parallel={"en", "zh"})
    q_zh, x_zh = out[2], out[3]
    assert math.isnan(q_zh["compression"]) and math.isnan(x_zh["compression"])
    assert "x has 10.0% unknown tokens on zh" in q_zh["reason"]
    assert out[0]["compression"] == 1.25 and out[0]["reason"] == ""
    zero = add_metrics([dict(ROWS[0], n_tokens=0), ROWS[1]], baseline="x")
    assert "q gives no tokens on en" in zero[0]["reason"]


def test_literature_metrics_known_answers():
    from qtok.analysis.metrics import (
        continued_words,
        gini,
        renyi_efficiency,
        vocab_utilization,
    )

    assert gini([2, 2, 2]) == 0.0 and math.isclose(gini([0, 0, 0, 1]), 0.75)
    # Rényi entropy of a uniform distribution is log n: efficiency log 2 / log 4 = 0.5.
    assert math.isclose(renyi_efficiency([7, 7, 0, 0], 4), 0.5)
    # Two tokens, p = (0.75, 0.25): H_2.5 = log(0.75^2.5 + 0.25^2.5) / (1 - 2.5).
    h = math.log(0.75 ** 2.5 + 0.25 ** 2.5) / -1.5
    assert math.isclose(renyi_efficiency([3, 1], 8), h / math.log(8))
    assert vocab_utilization([1, 0, 0, 5, 0], 5) == 0.4
    assert continued_words([1, 1, 4], [10, 5, 5]) == 0.25


def test_new_metrics_known_answers():
    from qtok.analysis.metrics import average_rank, js_divergence, overlap_matrix, strr

    # Tokens used 6, 3 and 1 times: ranks 1, 2, 3 weighted by use.
    assert math.isclose(average_rank([1, 6, 3]), (1 * 6 + 2 * 3 + 3 * 1) / 10)
    # p = (1/2, 1/2), q = (1, 0): M = (3/4, 1/4); JSD = H(M) - (H(p) + H(q)) / 2 in bits.
    h = lambda *ps: -sum(p * math.log2(p) for p in ps if p)
    want = h(0.75, 0.25) - (h(0.5, 0.5) + 0) / 2
    assert math.isclose(js_divergence(([1, 2], [1, 1]), ([1], [4])), want)
    m = overlap_matrix([([1], [1]), ([1, 2], [1, 1]), ([3], [2])])
    assert m[0][0] == 0 and m[0][2] == 1 and math.isclose(m[0][1], m[1][0])
    assert strr(0.2, "de") == 0.8 and math.isnan(strr(0.2, "ja")) and math.isnan(strr(0.2, "code-go"))
    rows = add_metrics(ROWS, baseline="x")
    assert [r["nsl"] for r in rows[:2]] == [r["compression"] for r in rows[:2]] == [1.25, 1.0]


def test_renyi_efficiency_equals_zouhar_et_al_tokenization_scorer():
    # The maintained implementation by the paper's authors (PyPI tokenization-scorer). Its
    # defaults differ from ours: power 3.0 (the paper found 2.5 best) and the vocabulary size
    # observed in the text (the paper divides by log |V| of the tokenizer). With the same two
    # settings the values are equal.
    from tokenization_scorer import score

    from qtok.analysis.metrics import renyi_efficiency
    from qtok import get_tokenizer

    tok = get_tokenizer("qwen")
    ids = tok.encode("The quick brown fox jumps over the lazy dog, and the dog sleeps. " * 3 + "你好，世界")
    theirs = score([" ".join(map(str, ids))], metric="renyi", power=2.5, vocab=tok.n_vocab)
    counts = [ids.count(i) for i in set(ids)]
    assert math.isclose(renyi_efficiency(counts, tok.n_vocab, alpha=2.5), theirs, rel_tol=1e-12)
    default = score([" ".join(map(str, ids))], metric="renyi")  # power 3, observed vocabulary
    assert not math.isclose(default, theirs, rel_tol=1e-3)


def test_overlap_matrix_is_every_pairs_js_divergence():
    # The one-pass matrix against js_divergence pair by pair, on random distributions over a
    # shared vocabulary (with an empty one, NaN beside it).
    import numpy as np

    from qtok.analysis.metrics import js_divergence, overlap_matrix

    rng = np.random.default_rng(0)
    dists = []
    for _ in range(12):
        ids = np.sort(rng.choice(5000, size=rng.integers(1, 800), replace=False))
        dists.append((ids, rng.integers(1, 50, size=len(ids))))
    dists.insert(5, (np.zeros(0, dtype=np.int64), np.zeros(0)))
    m = overlap_matrix(dists)
    for i in range(len(dists)):
        for j in range(len(dists)):
            want = 0.0 if i == j else js_divergence(dists[i], dists[j])
            assert (np.isnan(want) and np.isnan(m[i, j])) or abs(m[i, j] - want) < 1e-12, (i, j)
