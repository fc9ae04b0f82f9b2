"""analysis.results: one headline table for the terminal and the report, files that are one run."""

import math

import pytest

from qtok.analysis.results import fmt, format_table, headline, verify_results, write_results
from qtok.analysis.study import Study

NAN = float("nan")


def toy_study() -> Study:
    rows = []
    for lang, q, x in (("en", 0.9, 1.0), ("zh", 0.8, 1.0), ("xx", NAN, 1.0)):
        for t, v in (("qwen", q), ("xlm-r", x)):
            rows.append(dict(tokenizer=t, lang=lang, compression=v, compression_lo=v - 0.1,
                             compression_hi=v + 0.1, paper=0.92 if (t, lang) == ("qwen", "en") else NAN,
                             paper_diff=v - 0.92 if (t, lang) == ("qwen", "en") else NAN,
                             reason="unknown tokens: 3.0%" if lang == "xx" and t == "qwen" else ""))
    return Study(rows, ["en", "zh", "xx"], ["qwen", "xlm-r"], "xlm-r")


def test_one_table_for_the_terminal_and_the_report():
    h = headline(toy_study())
    # An interval for every tokenizer but the baseline (whose NSL is 1 by definition).
    assert h.columns == ["qwen", "qwen 95%", "xlm-r", "qwen: paper", "qwen: diff"]
    en = dict(zip(h.columns, h.rows[0][1]))
    assert en == {"qwen": "0.900", "qwen 95%": "[0.800, 1.000]", "xlm-r": "1.000", "qwen: paper": "0.92",
                  "qwen: diff": "-0.02"}
    xx = h.rows[2]
    assert xx[1][0] == "–" and xx[2][0] == "unknown tokens: 3.0%"  # NaN shown as "–", flagged
    assert xx[2][2] == ""  # the note marks the cell it explains, not its neighbours
    text = format_table(toy_study())
    assert "–" in text and "nan" not in text and "note: unknown tokens: 3.0%" in text
    premium = headline(toy_study(), "premium")
    assert premium.columns == ["qwen", "qwen 95%", "xlm-r", "xlm-r 95%"]  # the baseline too, no paper
    with pytest.raises(ValueError, match="unknown metric 'nope': use one of"):
        headline(toy_study(), "nope")
    assert fmt(math.nan) == "–" and fmt(None) == "–" and fmt(1.23456) == "1.235"


def test_written_results_verify_and_a_changed_file_is_refused(tmp_path, multilingual):
    from qtok.analysis import get_adapter, load_corpus, run_study

    study = run_study(load_corpus("udhr", langs=["en", "de"]), [get_adapter("qwen"), get_adapter("xlm-r")],
                      n_boot=20, progress=False)
    paths = write_results(study, tmp_path)
    assert list(paths)[-1] == "compression.json"  # the manifest last
    assert verify_results(tmp_path)["languages"] == ["en", "de"]
    (tmp_path / "compression.csv").write_text("edited\n")
    with pytest.raises(ValueError, match="does not match the manifest"):
        verify_results(tmp_path)


def test_a_later_run_leaves_no_file_of_an_earlier_one(tmp_path):
    from qtok.analysis import get_adapter, load_corpus, run_study

    adapters = [get_adapter("qwen"), get_adapter("xlm-r")]
    two = run_study(load_corpus("embedded", langs=["en", "de"]), adapters, n_boot=0, progress=False)
    write_results(two, tmp_path)
    assert (tmp_path / "compression-premium.png").exists()  # a premium figure needs 2 parallel languages
    one = run_study(load_corpus("embedded", langs=["en"]), adapters, n_boot=0, progress=False)
    write_results(one, tmp_path)
    assert not (tmp_path / "compression-premium.png").exists()
    assert set(p.name for p in tmp_path.iterdir()) == set(verify_results(tmp_path)["files"]) | {"compression.json"}


def test_a_figure_worker_draws_the_same_files_and_leaves_no_process(tmp_path, monkeypatch):
    """The CLI's second process for the overlap figure (128 languages: 1.5-2 s of ~3.5 s of
    figures): the files are byte for byte those drawn here, a worker that died leaves the figure
    to this process, and none outlives its ``with``."""
    from qtok.analysis import get_adapter, load_corpus, run_study
    from qtok.analysis.results import FigureDrawer
    from qtok.runner import Workers

    study = run_study(load_corpus("embedded", langs=["en", "de", "zh", "th"]),
                      [get_adapter("qwen"), get_adapter("xlm-r")], n_boot=0, progress=False)
    write_results(study, tmp_path / "here")
    import qtok.analysis.results as results

    drawn_here = []
    render = results.render_png
    monkeypatch.setattr(results, "render_png", lambda spec: drawn_here.append(spec[0].__name__) or render(spec))
    with Workers(FigureDrawer()) as workers:
        write_results(study, tmp_path / "away", workers=workers)
        assert "overlap_figure" not in drawn_here and "compression_figure" in drawn_here
        (worker,) = workers.pool._processes.values()
        assert worker.is_alive()
        worker.kill()
        worker.join()
        write_results(study, tmp_path / "dead", workers=workers)
        assert "overlap_figure" in drawn_here
    for out in ("away", "dead"):
        assert verify_results(tmp_path / out)["files"] == verify_results(tmp_path / "here")["files"], out
    assert (tmp_path / "away" / "compression-overlap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not worker.is_alive()
