"""Metrics: pure functions over one long table, a list of rows (dicts) with the columns
``tokenizer, lang, n_docs, n_bytes, n_chars, n_words, n_tokens``. Missing values are NaN.

>>> rows = [dict(tokenizer="a", lang="en", n_bytes=10, n_chars=10, n_words=2, n_tokens=4),
...         dict(tokenizer="b", lang="en", n_bytes=10, n_chars=10, n_words=2, n_tokens=5)]
>>> [r["compression"] for r in add_metrics(rows, baseline="b")]
[0.8, 1.0]
"""

from __future__ import annotations

import math

NAN = float("nan")
# Written without spaces between words: tokens per whitespace word means nothing there.
NO_SPACE_LANGS = {"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "zh-TW", "yue"}
COLUMNS = ["tokenizer", "lang", "n_docs", "n_bytes", "n_chars", "n_words", "n_tokens"]
METRICS = ["compression", "bytes_per_token", "chars_per_token", "fertility", "premium"]
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
    """Tokens relative to the baseline tokenizer on the same language (baseline = 1, lower is better)."""
    tokens = lookup(rows, "n_tokens")
    return [ratio(r["n_tokens"], tokens.get((baseline, r["lang"]))) for r in rows]


def bytes_per_token(rows: list[dict]) -> list[float]:
    return [ratio(r["n_bytes"], r["n_tokens"]) for r in rows]


def chars_per_token(rows: list[dict]) -> list[float]:
    return [ratio(r["n_chars"], r["n_tokens"]) for r in rows]


def fertility(rows: list[dict]) -> list[float]:
    """Tokens per whitespace-separated word; NaN for scripts written without spaces."""
    return [NAN if r["lang"] in NO_SPACE_LANGS else ratio(r["n_tokens"], r["n_words"]) for r in rows]


def premium(rows: list[dict], reference_lang: str = "en", parallel: set[str] | None = None) -> list[float]:
    """Tokens relative to the same tokenizer on the reference language (parallel texts only)."""
    tokens = lookup(rows, "n_tokens")
    return [
        ratio(r["n_tokens"], tokens.get((r["tokenizer"], reference_lang)))
        if parallel is None or (r["lang"] in parallel and reference_lang in parallel) else NAN
        for r in rows
    ]


def add_metrics(rows: list[dict], baseline: str = "xlm-r", reference_lang: str = "en",
                parallel: set[str] | None = None) -> list[dict]:
    """New rows with every metric added as a column, and ``reason``: why a ratio is NaN.

    Rows may carry ``n_unk`` (unknown tokens); a ratio that uses a count with more than
    ``UNK_THRESHOLD`` unknown tokens is NaN, as is one whose denominator is zero tokens.
    """
    columns = {
        "compression": compression(rows, baseline),
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
