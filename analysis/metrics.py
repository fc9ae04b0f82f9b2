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
    """New rows with every metric added as a column."""
    columns = {
        "compression": compression(rows, baseline),
        "bytes_per_token": bytes_per_token(rows),
        "chars_per_token": chars_per_token(rows),
        "fertility": fertility(rows),
        "premium": premium(rows, reference_lang, parallel),
    }
    return [dict(r, **{m: columns[m][i] for m in METRICS}) for i, r in enumerate(rows)]


def pivot(rows: list[dict], column: str, langs: list[str], tokenizers: list[str]) -> list[list[float]]:
    """``column`` as a tokenizers x langs grid (NaN where missing)."""
    values = lookup(rows, column)
    return [[values.get((t, lang), NAN) for lang in langs] for t in tokenizers]
