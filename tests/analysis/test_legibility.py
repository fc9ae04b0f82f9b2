"""Every figure the study writes is legible at the size report.html shows it (its size in inches
at 96 CSS pixels an inch): no text under 8 px, no tick label or legend over a plot's data area,
the headline figure no wider than about 2:1, and no bars for the baseline (its line at 1 says it).
Checked with matplotlib's own layout of the drawn figure."""

import math

import matplotlib
import pytest
from matplotlib.text import Text

from qtok.analysis.plots import (
    compression_figure,
    metric_figure,
    overlap_figure,
    paper_figure,
    premium_figure,
)

matplotlib.use("Agg")
PX_PER_PT = 96 / 72  # report.html shows a figure at 96 px an inch; text is sized in points


def rows_for(langs, scripts=("Latin", "Thai", "Han")):
    rows = []
    for k, lang in enumerate(langs):
        for t, v in (("qwen", 0.9 + k * 0.1), ("cl100k_base", 1.3 + k * 0.05), ("xlm-r", 1.0)):
            rows.append({"tokenizer": t, "lang": lang, "compression": v, "compression_lo": v - 0.02,
                         "compression_hi": v + 0.02, "premium": v, "premium_lo": v - 0.03,
                         "premium_hi": v + 0.03, "split_rate": 0.1,
                         "paper": v + 0.01 if t == "qwen" else math.nan, "paper_diff": -0.01,
                         "script": scripts[k % len(scripts)]})
    return rows


def check_legible(fig, max_aspect=None):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    data_areas = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip():
            assert text.get_fontsize() * PX_PER_PT >= 8, (text.get_text(), text.get_fontsize())
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        area = ax.get_window_extent(renderer)
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            if label.get_visible() and label.get_text():
                box = label.get_window_extent(renderer).shrunk(0.98, 0.9)
                assert not box.overlaps(area), f"tick label {label.get_text()!r} over the data"
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends, "a figure with several series has a legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(area) for area in data_areas), "the legend covers data"
    if max_aspect:
        w, h = fig.get_size_inches()
        assert w / h <= max_aspect, (w, h)


@pytest.mark.parametrize("n", [3, 20, 27, 128])
def test_headline_and_premium_figures_are_legible(n):
    langs = [f"l{i}" if i % 3 else f"lang-{i}" for i in range(n)]
    rows = rows_for(langs)
    fig = compression_figure(rows, langs, ["qwen", "cl100k_base", "xlm-r"])
    check_legible(fig, max_aspect=2.2 if n <= 30 else None)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "xlm-r" not in labels and "qwen" in labels  # no baseline bars: its line at 1
    check_legible(premium_figure(rows, langs, ["qwen", "cl100k_base", "xlm-r"], "l1"))
    check_legible(metric_figure(rows, "split_rate", langs, ["qwen", "cl100k_base"], title="t", label="s"))


def test_paper_and_overlap_figures_are_legible():
    langs = ["en", "de", "zh", "th"]
    check_legible(paper_figure(rows_for(langs), ["qwen", "xlm-r"]))
    many = [f"l{i}" for i in range(128)]
    matrix = [[0 if i == j else 0.5 for j in range(128)] for i in range(128)]
    fig = overlap_figure(matrix, many, "qwen", {lang: "Latin" for lang in many})
    fig.canvas.draw()
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert min(t.get_fontsize() for t in texts) * PX_PER_PT >= 8
