"""Metrics: pure functions over one long table, a list of rows (dicts) with the columns
``tokenizer, lang, n_docs, n_bytes, n_chars, n_words, n_tokens``. Missing values are NaN.

>>> rows = [dict(tokenizer="a", lang="en", n_bytes=10, n_chars=10, n_words=2, n_tokens=4),
...         dict(tokenizer="b", lang="en", n_bytes=10, n_chars=10, n_words=2, n_tokens=5)]
>>> [r["compression"] for r in add_metrics(rows, baseline="b")]
[0.8, 1.0]
"""

from __future__ import annotations

import math

import numpy as np

from .scripts import NO_SPACE_SCRIPTS

NAN = float("nan")
# Written without spaces between words (when a language's script is not known from its text).
NO_SPACE_LANGS = {"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "zh-TW", "yue"}
COLUMNS = ["tokenizer", "lang", "n_docs", "n_bytes", "n_chars", "n_words", "n_tokens"]
# nsl is compression under the name the literature uses; strr the share of words kept whole.
METRICS = ["compression", "nsl", "bytes_per_token", "chars_per_token", "fertility", "premium", "strr"]
# Share of a tokenizer's tokens that are unknown (<unk>, byte fallback) above which its counts on
# a language are not a measure of its vocabulary: the ratios that use them become NaN + a reason.
UNK_THRESHOLD = 0.005
RENYI_ALPHA = 2.5


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either is missing or b is zero."""
    if a is None or b is None or b == 0 or (isinstance(a, float) and math.isnan(a)) or (
            isinstance(b, float) and math.isnan(b)):
        return NAN
    return a / b


def lookup(rows: list[dict], column: str) -> dict[tuple[str, str], float]:
    return {(r["tokenizer"], r["lang"]): r[column] for r in rows}


def compression(rows: list[dict], baseline: str = "xlm-r") -> list[float]:
    """Tokens relative to the baseline tokenizer on the same language (baseline = 1, lower is
    better): the normalized sequence length, NSL (Dagan, Synnaeve and Rozière 2024, "Getting the
    most out of your tokenizer for pre-training and domain adaptation"; the Qwen report's chart is
    NSL against XLM-R). "compression" is the name this study used first; the CSV has both."""
    tokens = lookup(rows, "n_tokens")
    return [ratio(r["n_tokens"], tokens.get((baseline, r["lang"]))) for r in rows]


def bytes_per_token(rows: list[dict]) -> list[float]:
    return [ratio(r["n_bytes"], r["n_tokens"]) for r in rows]


def chars_per_token(rows: list[dict]) -> list[float]:
    return [ratio(r["n_chars"], r["n_tokens"]) for r in rows]


def without_spaces(lang: str, script: str | None = None) -> bool:
    """Whether a language is written without spaces between words: by its text's script
    (``zh-CN.txt``, ``cmn.txt`` and ``th_TH.txt`` are known by their text, not their names), or,
    with no script known, by its code.

    >>> without_spaces("zh-CN", "Han"), without_spaces("th"), without_spaces("de", "Latin")
    (True, True, False)
    """
    if script == "code" or lang.startswith("code"):
        return False
    if script and script != "none":
        return script in NO_SPACE_SCRIPTS
    return lang in NO_SPACE_LANGS


def fertility(rows: list[dict]) -> list[float]:
    """Tokens per whitespace-separated word; NaN for scripts written without spaces."""
    return [NAN if without_spaces(r["lang"], r.get("script")) else ratio(r["n_tokens"], r["n_words"])
            for r in rows]


def premium(rows: list[dict], reference_lang: str = "en", parallel: set[str] | None = None) -> list[float]:
    """Tokens relative to the same tokenizer on the reference language (parallel texts only)."""
    tokens = lookup(rows, "n_tokens")
    return [
        ratio(r["n_tokens"], tokens.get((r["tokenizer"], reference_lang)))
        if parallel is None or (r["lang"] in parallel and reference_lang in parallel) else NAN
        for r in rows
    ]


def strr(continued: float, lang: str, script: str | None = None) -> float:
    """The single-token word rate, STRR (arXiv 2510.09947): the share of word occurrences a
    tokenizer keeps as one token, the complement of continued words (Rust et al. 2021). NaN for
    scripts written without spaces and for code, where whitespace words are not words.

    >>> strr(0.25, "de"), strr(0.25, "zh")
    (0.75, nan)
    """
    if without_spaces(lang, script) or lang.startswith("code"):
        return NAN
    return 1 - continued


def add_metrics(rows: list[dict], baseline: str = "xlm-r", reference_lang: str = "en",
                parallel: set[str] | None = None) -> list[dict]:
    """New rows with every metric added as a column, and ``reason``: why a ratio is NaN.

    Rows may carry ``n_unk`` (unknown tokens); a ratio that uses a count with more than
    ``UNK_THRESHOLD`` unknown tokens is NaN, as is one whose denominator is zero tokens.
    """
    nsl = compression(rows, baseline)
    columns = {
        "compression": nsl,
        "nsl": nsl,
        "strr": [strr(r.get("continued_words", NAN), r["lang"], r.get("script")) for r in rows],
        "bytes_per_token": bytes_per_token(rows),
        "chars_per_token": chars_per_token(rows),
        "fertility": fertility(rows),
        "premium": premium(rows, reference_lang, parallel),
    }
    out = [dict(r, **{m: columns[m][i] for m in METRICS}) for i, r in enumerate(rows)]
    unreliable = {(r["tokenizer"], r["lang"]): unk_rate(r) for r in rows
                  if unk_rate(r) > UNK_THRESHOLD}
    tokens = lookup(rows, "n_tokens")
    for r in out:
        reasons = []
        for who, lang, what in ((baseline, r["lang"], ("compression",)),
                                (r["tokenizer"], r["lang"], ("compression", "premium")),
                                (r["tokenizer"], reference_lang, ("premium",))):
            rate = unreliable.get((who, lang))
            if rate is not None:
                for m in what:
                    r[m] = NAN
                    if m == "compression":
                        r["nsl"] = NAN
                reasons.append(f"{who} has {rate:.1%} unknown tokens on {lang} (> {UNK_THRESHOLD:.1%})")
        if tokens.get((baseline, r["lang"])) == 0:
            reasons.append(f"{baseline} gives no tokens on {r['lang']}")
        if r["n_tokens"] == 0:
            reasons.append(f"{r['tokenizer']} gives no tokens on {r['lang']}")
        r["reason"] = "; ".join(dict.fromkeys(reasons))
    return out


def unk_rate(row: dict) -> float:
    """Unknown tokens (``<unk>``, byte fallback) as a share of the row's tokens (0 when none)."""
    n = row.get("n_unk") or 0
    return n / row["n_tokens"] if row["n_tokens"] else 0.0


def gini(values) -> float:
    """The Gini coefficient of positive values (0: all equal; towards 1: concentrated), the spread
    of tokenization premiums across languages used by Petrov et al. 2023 ("Language Model
    Tokenizers Introduce Unfairness Between Languages"). NaN values are left out.

    >>> gini([1, 1, 1, 1])
    0.0
    >>> round(gini([1, 2, 3, 4]), 4)
    0.25
    """
    xs = sorted(v for v in values if not math.isnan(v))
    n = len(xs)
    if n == 0 or sum(xs) == 0:
        return NAN
    # Mean absolute difference over all pairs / (2 * mean), in its sorted O(n log n) form.
    return sum((2 * i - n + 1) * x for i, x in enumerate(xs)) / (n * sum(xs))


def renyi_efficiency(counts, vocab_size: int, alpha: float = RENYI_ALPHA) -> float:
    """Rényi efficiency (Zouhar et al. 2023, "Tokenization and the Noiseless Channel"): the
    Rényi entropy of order ``alpha`` of the token unigram distribution divided by log |V|.
    1 means every token of the vocabulary is equally frequent; ``alpha`` = 2.5 penalises very
    frequent tokens, which the paper found to correlate best with downstream quality.

    >>> renyi_efficiency([5, 5, 5, 5], 4)
    1.0
    >>> round(renyi_efficiency([97, 1, 1, 1], 4), 4)
    0.0366
    """
    if hasattr(counts, "dtype"):  # a numpy array: the study's frequency tables, vectorized
        total = float(counts.sum())
        s = float(((counts[counts > 0] / total) ** alpha).sum()) if total else 0.0
    else:
        total = sum(counts)
        s = sum((c / total) ** alpha for c in counts if c) if total else 0.0
    if total == 0 or vocab_size < 2:
        return NAN
    return (math.log(s) / (1 - alpha)) / math.log(vocab_size)


def vocab_utilization(counts, vocab_size: int) -> float:
    """The share of the vocabulary that the text uses at least once.

    >>> vocab_utilization([3, 0, 1, 0], 4)
    0.5
    """
    used = int((counts > 0).sum()) if hasattr(counts, "dtype") else sum(1 for c in counts if c)
    return used / vocab_size if vocab_size else NAN


def average_rank(counts) -> float:
    """Vocabulary allocation as average rank, AR (Limisiewicz et al. 2023, "Tokenization Impacts
    Multilingual Language Modeling: Assessing Vocabulary Allocation and Overlap Across
    Languages"): rank the tokens a language uses by their frequency in it (1 = most frequent),
    and average the rank over token occurrences. Higher: the language spreads over more of the
    vocabulary (more tokens allocated to it). ``counts``: the used tokens' frequencies.

    >>> average_rank([6, 3, 1])      # (1*6 + 2*3 + 3*1) / 10
    1.5
    """
    c = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    total = c.sum()
    if total == 0:
        return NAN
    return float((np.arange(1, len(c) + 1) * c).sum() / total)


def js_divergence(a: tuple, b: tuple) -> float:
    """The Jensen–Shannon divergence (base 2: 0 = the same token distribution, 1 = no token in
    common) between two languages' token distributions, each ``(ids sorted, counts)``: the
    vocabulary overlap of Limisiewicz et al. 2023.

    >>> js_divergence(([1, 2], [1, 1]), ([1, 2], [5, 5])), js_divergence(([1], [3]), ([2], [3]))
    (0.0, 1.0)
    >>> round(js_divergence(([1, 2], [1, 1]), ([2, 3], [1, 1])), 4)   # half the mass shared
    0.5
    """
    ia, ca = np.asarray(a[0]), np.asarray(a[1], dtype=np.float64)
    ib, cb = np.asarray(b[0]), np.asarray(b[1], dtype=np.float64)
    if ca.sum() == 0 or cb.sum() == 0:
        return NAN
    p, q = ca / ca.sum(), cb / cb.sum()
    _, ja, jb = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
    ps, qs = p[ja], q[jb]
    m = (ps + qs) / 2
    shared = 0.5 * float((ps * np.log2(ps / m)).sum() + (qs * np.log2(qs / m)).sum())
    # Tokens only one language uses: m = p/2 there, each contributes p * log2(2) / 2.
    alone = 0.5 * float(p.sum() - ps.sum() + q.sum() - qs.sum())
    return max(0.0, min(1.0, shared + alone))


def overlap_matrix(dists: list[tuple]) -> np.ndarray:
    """``js_divergence`` between every pair of token distributions (symmetric, 0 on the diagonal;
    NaN beside an empty one), the same sums in one pass per language: the entries of every
    language sorted by token, so the later languages that share each of its tokens are found at
    once, and the shared ones summed per language (``np.bincount``) instead of a sorted
    intersection per pair. Only shared tokens are visited (NTREX-128: ~9 M pairs of entries, where
    a look-up of every later language's tokens visits ~30 M).

    >>> overlap_matrix([([1, 2], [1, 1]), ([2, 3], [1, 1]), ([], [])]).round(4).tolist()
    [[0.0, 0.5, nan], [0.5, 0.0, nan], [nan, nan, 0.0]]
    """
    n = len(dists)
    out = np.zeros((n, n))
    ids = [np.asarray(d[0], dtype=np.int64) for d in dists]
    counts = [np.asarray(d[1], dtype=np.float64) for d in dists]
    probs = [c / c.sum() if c.sum() else c for c in counts]
    empty = np.array([not c.sum() for c in counts], dtype=bool)
    sizes = [len(i) for i in ids]
    starts = np.cumsum([0] + sizes)
    totals = np.array([p.sum() for p in probs])
    # Every entry ordered by token, languages ascending within a token (a stable sort): the later
    # languages that use one of language i's tokens are the rest of that token's run. Each
    # language's tokens ascend, so for each later language its shared tokens still come in
    # ascending order: the sums below add the same numbers in the same order as a look-up of
    # the later languages' tokens one language after another would.
    all_ids = np.concatenate(ids) if n else np.zeros(0, dtype=np.int64)
    order = np.argsort(all_ids, kind="stable")
    by_owner = np.repeat(np.arange(n), sizes)[order]
    by_q = (np.concatenate(probs) if n else np.zeros(0))[order]
    sorted_ids = all_ids[order]
    bounds = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    run_ends = np.append(bounds, len(sorted_ids))
    end_of = np.repeat(run_ends, np.diff(np.concatenate(([0], run_ends))))  # each entry's run end
    where = np.empty(len(order), dtype=np.int64)
    where[order] = np.arange(len(order))  # each entry's place in the sorted order
    for i in range(n):
        if empty[i]:
            out[i, :] = out[:, i] = NAN
            out[i, i] = 0.0
            continue
        mine = probs[i] != 0
        pos, pi = where[starts[i]:starts[i + 1]][mine], probs[i][mine]
        after = end_of[pos] - pos - 1  # the later languages that share each token
        total = int(after.sum())
        # The sorted positions pos + 1 .. end - 1 of each token, one after another.
        at = np.repeat(pos + 1 - np.cumsum(after) + after, after) + np.arange(total)
        ps, qs, who = np.repeat(pi, after), by_q[at], by_owner[at]
        m = (ps + qs) / 2
        terms = ps * np.log2(ps / m) + qs * np.log2(qs / m)
        t, sp, sq = (np.bincount(who, weights=x, minlength=n)[i + 1:] for x in (terms, ps, qs))
        # Every later language at once, each the same float operations in the same order.
        js = np.clip(0.5 * t + 0.5 * (totals[i] - sp + totals[i + 1:] - sq), 0.0, 1.0)
        later = np.flatnonzero(~empty[i + 1:]) + i + 1
        out[i, later] = out[later, i] = js[later - i - 1]
    return out


def continued_words(token_counts, freqs) -> float:
    """The proportion of continued words (Rust et al. 2021, "How Good is Your Tokenizer?"): the
    share of word occurrences that a tokenizer splits into two or more tokens. ``token_counts``
    are the tokens of each distinct word, ``freqs`` how often it occurs.

    >>> continued_words([1, 2, 3], [2, 1, 1])
    0.5
    """
    total = sum(freqs)
    return sum(f for n, f in zip(token_counts, freqs) if n >= 2) / total if total else NAN


def pivot(rows: list[dict], column: str, langs: list[str], tokenizers: list[str]) -> list[list[float]]:
    """``column`` as a tokenizers x langs grid (NaN where missing)."""
    values = lookup(rows, column)
    return [[values.get((t, lang), NAN) for lang in langs] for t in tokenizers]
