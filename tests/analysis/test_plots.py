"""analysis.plots: figures from the long table, no I/O; grouped bars up to MAX_BARS languages,
the atlas beyond."""

import matplotlib

from qtok.analysis.plots import MAX_BARS, compression_figure, premium_figure

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


def test_a_metric_that_does_not_apply_gets_no_legend_entry():
    import matplotlib.pyplot as plt

    from qtok.analysis.plots import metric_figure

    langs = [f"l{i}" for i in range(20)]  # two rows of panels
    rows = [dict(tokenizer=t, lang=lang, split_rate=v, script="Latin")
            for lang in langs for t, v in (("qwen", 0.01), ("xlm-r", NAN))]
    fig = metric_figure(rows, "split_rate", langs, ["qwen", "xlm-r"], title="split rate", label="rate")
    labels = {text.get_text() for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
              for text in legend.get_texts()}
    assert "xlm-r" not in labels and "xlm-r: does not apply" in fig.texts[0].get_text() + "".join(
        ax.get_title() for ax in fig.axes) + (fig._suptitle.get_text() if fig._suptitle else "")
    assert all(any(p.get_height() > 0 for p in ax.patches) for ax in fig.axes)  # no empty panel
    plt.close(fig)
