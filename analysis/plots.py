"""Figures: functions that take the long table and return a matplotlib Figure (no I/O)."""

from __future__ import annotations

import math

from .metrics import pivot


def _figure():
    # pyplot picks Agg by itself on a machine without a display, and inline in a notebook.
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(rows: list[dict], column: str, langs: list[str], tokenizers: list[str], *,
                 title: str, ylabel: str, reference_line: float | None = 1.0):
    """One group of bars per language, one bar per tokenizer (the Qwen report's figure)."""
    plt = _figure()
    grid = pivot(rows, column, langs, tokenizers)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(langs) + 2), 4.5), layout="constrained")
    width = 0.8 / max(1, len(tokenizers))
    for i, (name, values) in enumerate(zip(tokenizers, grid)):
        xs = [j + (i - (len(tokenizers) - 1) / 2) * width for j in range(len(langs))]
        ax.bar(xs, [0 if math.isnan(v) else v for v in values], width, label=name)
    if reference_line is not None:
        ax.axhline(reference_line, color="black", linewidth=1, linestyle="--")
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(ncols=min(4, len(tokenizers)), fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig


def compression_figure(rows: list[dict], langs: list[str], tokenizers: list[str], baseline: str = "xlm-r",
                       corpus: str = ""):
    return grouped_bars(rows, "compression", langs, tokenizers,
                        title=f"Tokens relative to {baseline} ({baseline} = 1, lower is better){' — ' + corpus if corpus else ''}",
                        ylabel=f"tokens / {baseline} tokens")


def premium_figure(rows: list[dict], langs: list[str], tokenizers: list[str], reference_lang: str = "en"):
    return grouped_bars(rows, "premium", [lang for lang in langs if lang != "code"], tokenizers,
                        title=f"Tokenization premium: tokens relative to {reference_lang} on parallel text",
                        ylabel=f"tokens / {reference_lang} tokens")
