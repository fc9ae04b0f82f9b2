"""analysis.plots: figures from the long table, no I/O; grouped bars up to MAX_BARS languages,
the atlas beyond."""

import matplotlib

from analysis.plots import MAX_BARS, compression_figure, premium_figure

matplotlib.use("Agg")
NAN = float("nan")


def rows_for(langs):
    return [dict(tokenizer=t, lang=lang, compression=v, premium=v, script="Latin")
            for lang in langs for t, v in (("qwen", 0.9), ("xlm-r", 1.0), ("bad", NAN))]


def test_figures_for_few_and_many_languages():
    few = [f"l{i}" for i in range(5)]
    fig = compression_figure(rows_for(few), few, ["qwen", "xlm-r", "bad"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == few  # grouped bars, one group a language
    many = [f"l{i}" for i in range(MAX_BARS + 5)]
    atlas = compression_figure(rows_for(many), many, ["qwen", "xlm-r"])
    assert atlas.get_size_inches()[1] > fig.get_size_inches()[1]  # the atlas grows with the languages
    assert premium_figure(rows_for(few), few, ["qwen"], "l0").axes
