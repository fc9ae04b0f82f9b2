"""Figures: functions that take the long table and return a matplotlib Figure (no I/O).

Two layouts: the Qwen report's (one group of bars per language, a dashed line at 1) while the
languages fit across a page, and an atlas beyond that (one row per language, grouped and coloured
by script, sorted within a script, the figure growing with the number of languages), so a
128-language run stays readable at 150 dpi.
"""

from __future__ import annotations

import math

from .metrics import pivot

# Languages beyond which grouped bars become unreadable and the atlas layout takes over.
MAX_BARS = 30


def _figure():
    # pyplot picks Agg by itself on a machine without a display, and inline in a notebook.
    import matplotlib.pyplot as plt

    return plt


def subplots(*args, **kwargs):
    """``pyplot.subplots`` for a figure pyplot does not keep: the caller holds it (``savefig``
    works on it, a notebook shows the figure a cell returns), so a study or a test that draws
    many figures leaves none open. pyplot makes it (which loads the backend: in a notebook, the
    inline one that shows a returned figure), lets go of it, and it keeps an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    plt = _figure()
    fig, axes = plt.subplots(*args, **kwargs)
    plt.close(fig)
    FigureCanvasAgg(fig)
    return fig, axes


def _errors(rows, column, langs, tokenizers):
    lo = pivot(rows, f"{column}_lo", langs, tokenizers)
    hi = pivot(rows, f"{column}_hi", langs, tokenizers)
    val = pivot(rows, column, langs, tokenizers)
    return [[[0 if math.isnan(v - a) else v - a for v, a in zip(vs, los)],
             [0 if math.isnan(b - v) else b - v for v, b in zip(vs, his)]]
            for vs, los, his in zip(val, lo, hi)]


# At most this many languages share one row of grouped bars; more go to further rows, so the
# figure stays near 2:1 however many languages (up to MAX_BARS) it shows.
ROW_LANGS = 15
# The report shows a figure at its size in inches x 96 CSS pixels; 6 pt is then 8 px, the
# smallest text the legibility test allows.
MIN_FONT_PT = 6.5


def grouped_bars(rows: list[dict], column: str, langs: list[str], tokenizers: list[str], *,
                 title: str, ylabel: str, reference_line: float | None = 1.0):
    """Groups of bars, one per language, one bar per tokenizer, 95% intervals as error bars (the
    Qwen report's figure), at most ``ROW_LANGS`` languages a row, the legend above the plots."""
    n_rows = max(1, math.ceil(len(langs) / ROW_LANGS))
    per_row = math.ceil(len(langs) / n_rows) if langs else 1
    fig, axes = subplots(n_rows, 1, figsize=(10, max(5.0, 0.9 + 3.0 * n_rows)), layout="constrained",
                             squeeze=False)
    has_ci = all(f"{column}_lo" in r for r in rows)
    width = 0.8 / max(1, len(tokenizers))
    top = max([v for r in rows if r["tokenizer"] in tokenizers for v in
               [r.get(f"{column}_hi", math.nan), r.get(column, math.nan)] if not math.isnan(v)] or [1])
    for k, ax in enumerate(axes[:, 0]):
        part = langs[k * per_row:(k + 1) * per_row]
        grid = pivot(rows, column, part, tokenizers)
        errors = _errors(rows, column, part, tokenizers) if has_ci else [None] * len(tokenizers)
        for i, (name, values, err) in enumerate(zip(tokenizers, grid, errors)):
            xs = [j + (i - (len(tokenizers) - 1) / 2) * width for j in range(len(part))]
            ax.bar(xs, [0 if math.isnan(v) else v for v in values], width, label=name if k == 0 else None,
                   color=f"C{i}", yerr=err, error_kw={"elinewidth": 0.8, "capsize": 1.5})
        if reference_line is not None:
            ax.axhline(reference_line, color="black", linewidth=1, linestyle="--",
                       label=f"{ylabel.split(' / ')[-1]} = {reference_line:g}" if k == 0 else None)
        ax.set_xticks(range(len(part)), part, rotation=30 if any(len(x) > 5 for x in part) else 0,
                      ha="right" if any(len(x) > 5 for x in part) else "center")
        ax.set_xlim(-0.6, per_row - 0.4)
        ax.set_ylim(0, top * 1.08 if top > 0 else 1.0)  # every value 0 (a split rate of 0): an axis still
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize="medium")
    fig.legend(loc="outside lower center", ncols=min(5, len(tokenizers) + 1), fontsize="small", frameon=False)
    return fig


def atlas(rows: list[dict], column: str, langs: list[str], tokenizers: list[str], *,
          title: str, xlabel: str, reference_line: float | None = 1.0):
    """One row per language, grouped and coloured by script (the ``script`` column), sorted by
    the first tokenizer's value within a script; one marker per tokenizer, 95% intervals as
    whiskers. The height grows with the number of languages."""
    plt = _figure()
    values = {(r["tokenizer"], r["lang"]): r for r in rows}
    script_of = {r["lang"]: r.get("script", "") for r in rows}
    first = tokenizers[0]

    def key(lang):
        v = values[first, lang][column]
        return (script_of[lang], math.inf if math.isnan(v) else v)

    order = sorted(langs, key=key)
    scripts = sorted({script_of[lang] for lang in order})
    cmap = plt.get_cmap("tab10")
    colour = {s: cmap(i % 10) for i, s in enumerate(scripts)}
    height = max(4, 0.16 * len(order) + 1.5)
    fig, ax = subplots(figsize=(9, height), layout="constrained")
    markers = "osD^v<>px*"
    for i, t in enumerate(tokenizers):
        ys = [y + (i - (len(tokenizers) - 1) / 2) * 0.25 for y in range(len(order))]
        xs = [values[t, lang][column] for lang in order]
        lo = [values[t, lang].get(f"{column}_lo", math.nan) for lang in order]
        hi = [values[t, lang].get(f"{column}_hi", math.nan) for lang in order]
        err = [[0 if math.isnan(x - a) else x - a for x, a in zip(xs, lo)],
               [0 if math.isnan(b - x) else b - x for x, b in zip(xs, hi)]]
        ax.errorbar(xs, ys, xerr=err, fmt=markers[i % len(markers)], markersize=3.5,
                    linewidth=0.6, label=t)
    ax.set_yticks(range(len(order)), [f"{lang}" for lang in order], fontsize=MIN_FONT_PT)
    # Shade each script's block and name it at the right edge.
    start = 0
    for y in range(1, len(order) + 1):
        if y == len(order) or script_of[order[y]] != script_of[order[start]]:
            ax.axhspan(start - 0.5, y - 0.5, color=colour[script_of[order[start]]], alpha=0.08, linewidth=0)
            ax.text(1.005, (start + y - 1) / 2, script_of[order[start]], transform=ax.get_yaxis_transform(),
                    fontsize=MIN_FONT_PT, va="center")
            start = y
    if reference_line is not None:
        ax.axvline(reference_line, color="black", linewidth=1, linestyle="--")
    ax.set_ylim(-0.5, len(order) - 0.5)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    fig.suptitle(title, fontsize="medium")
    fig.legend(loc="outside lower center", ncols=min(5, len(tokenizers)), fontsize="small", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _layout(rows, column, langs, tokenizers, *, title, label, reference_line=1.0):
    if len(langs) <= MAX_BARS:
        return grouped_bars(rows, column, langs, tokenizers, title=title, ylabel=label,
                            reference_line=reference_line)
    return atlas(rows, column, langs, tokenizers, title=title, xlabel=label, reference_line=reference_line)


def compression_figure(rows: list[dict], langs: list[str], tokenizers: list[str], baseline: str = "xlm-r",
                       corpus: str = ""):
    """NSL per language for every tokenizer but the baseline (its bars would all be 1: the
    dashed line at 1 is the baseline)."""
    shown = [t for t in tokenizers if t != baseline] or tokenizers
    return _layout(rows, "compression", langs, shown,
                   title=f"Tokens relative to {baseline} (NSL; {baseline} = 1, lower is better)"
                         f"{' — ' + corpus if corpus else ''}",
                   label=f"tokens / {baseline} tokens")


def metric_figure(rows: list[dict], column: str, langs: list[str], tokenizers: list[str], *,
                  title: str, label: str):
    """Any per-language metric (--metric): the same layouts, no reference line. A tokenizer the
    metric does not apply to (no value for any language: the split rate of XLM-R) is left out, so
    it gets no legend entry and no empty panel, and the title says so."""
    shown = [t for t in tokenizers
             if any(r["tokenizer"] == t and r["lang"] in langs and not math.isnan(r.get(column, math.nan))
                    for r in rows)] or tokenizers
    if left := [t for t in tokenizers if t not in shown]:
        title += f" ({', '.join(left)}: does not apply)"
    return _layout(rows, column, langs, shown, title=title, label=label, reference_line=None)


def premium_figure(rows: list[dict], langs: list[str], tokenizers: list[str], reference_lang: str = "en"):
    return _layout(rows, "premium", [lang for lang in langs if not lang.startswith("code")], tokenizers,
                   title=f"Tokenization premium: tokens relative to {reference_lang} on parallel text",
                   label=f"tokens / {reference_lang} tokens")


def overlap_figure(matrix: list[list[float]], langs: list[str], tokenizer: str, scripts: dict[str, str]):
    """The vocabulary overlap between languages (Jensen–Shannon divergence of their token
    distributions: 0 = the same tokens, 1 = none shared), languages grouped by script."""
    import matplotlib
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    order = sorted(range(len(langs)), key=lambda i: (scripts.get(langs[i], ""), langs[i]))
    m = np.asarray(matrix)[np.ix_(order, order)]
    names = [langs[i] for i in order]
    side = max(5.0, 0.12 * len(names) + 2.5)
    fig, ax = subplots(figsize=(side + 1.2, side), layout="constrained")
    # The matrix is coloured here, a cell at a time, and the colours drawn: the same pixels as
    # imshow(m, cmap=...), which colours the image after scaling it up (128 languages: ~2,000
    # pixels a side, 0.2 s).
    im = ScalarMappable(Normalize(0, 1), matplotlib.colormaps["viridis"])
    ax.imshow(im.to_rgba(m, bytes=True), interpolation="nearest")
    size = MIN_FONT_PT if len(names) > 30 else 8
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=size)
    ax.set_yticks(range(len(names)), names, fontsize=size)
    fig.colorbar(im, ax=ax, shrink=0.6, label="Jensen–Shannon divergence (0 = same tokens)")
    ax.set_title(f"Vocabulary overlap between languages: {tokenizer}", fontsize="medium")
    return fig


def paper_figure(rows: list[dict], tokenizers: list[str]):
    """Measured against the Qwen report's figure, per language, for each tokenizer the chart
    has: the paper's value with its ±0.02 read-off band, the measured value with its 95% interval."""
    charted = [t for t in tokenizers
               if any(r["tokenizer"] == t and not math.isnan(r["paper"]) for r in rows)]
    fig, axes = subplots(len(charted), 1, figsize=(10, 0.6 + 3.2 * len(charted)), layout="constrained",
                             squeeze=False)
    for ax, t in zip(axes[:, 0], charted):
        mine = [r for r in rows if r["tokenizer"] == t and not math.isnan(r["paper"])]
        xs = range(len(mine))
        paper = [r["paper"] for r in mine]
        ax.bar(xs, [0.04] * len(mine), bottom=[p - 0.02 for p in paper], width=0.6, color="0.8",
               label="paper ±0.02 (read off the figure)")
        ax.errorbar(xs, [r["compression"] for r in mine],
                    yerr=[[r["compression"] - r["compression_lo"] for r in mine],
                          [r["compression_hi"] - r["compression"] for r in mine]],
                    fmt="o", markersize=4, color="C3", capsize=2, label="measured, 95% interval")
        ax.set_xticks(list(xs), [r["lang"] for r in mine])
        ax.axhline(1, color="black", linewidth=0.8, linestyle="--")
        worst = max(abs(r["paper_diff"]) for r in mine)
        ax.set_title(f"{t}: measured vs the Qwen report (largest difference {worst:.3f})")
        ax.set_ylabel("tokens / XLM-R tokens")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small", frameon=False)
    return fig
