"""analysis.report: report.html holds the headline table as the terminal prints it, escapes what
it shows, and asks for nothing from outside."""

from qtok.analysis.report import render_report, sample_sentence
from qtok.analysis.results import headline
from qtok.analysis.study import Study

NAN = float("nan")


def test_the_report_shows_the_table_and_escapes_text():
    rows = [dict(tokenizer=t, lang=lang, compression=v, compression_lo=NAN, compression_hi=NAN,
                 paper=NAN, paper_diff=NAN, reason="")
            for lang in ("en", "<b>x</b>") for t, v in (("qwen", 0.9), ("xlm-r", 1.0))]
    study = Study(rows, ["en", "<b>x</b>"], ["qwen", "xlm-r"], "xlm-r",
                  meta={"corpus_name": "<script>alert(1)</script>"},
                  samples={"en": {"text": "hi <there>", "tokens": {"qwen": ([6023, 366], [(0, 2), (2, 10)])}}})
    page = render_report(study, headline(study), {"fig.png": b"\x89PNG"}, {"k": "<v>"})
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "<td>0.900</td>" in page and "qwen: 2 tokens" in page
    assert "default-src 'none'" in page and "src=\"http" not in page
    assert sample_sentence("\n\nfirst line\nsecond") == "first line"
    # Code: the first line with words, not a comment opener or a brace.
    assert sample_sentence("/*\n * (c) 2024\n */\n{\nint main(void) { return 0; }") == "int main(void) { return 0; }"
    assert sample_sentence("#!/bin/sh\nset -eu\necho hello world") == "echo hello world"
    # The metadata is a definition list, the JSON behind a details element; "1 token", not "1 tokens".
    one = Study(rows, ["en"], ["qwen", "xlm-r"], "xlm-r", meta={"corpus_name": "c"},
                samples={"en": {"text": "hi", "tokens": {"qwen": ([6023], [(0, 2)])}}})
    page = render_report(one, headline(one), {}, {"corpus_name": "c", "baseline": "xlm-r", "bootstrap": {"replicates": 9}})
    assert "qwen: 1 token<" in page and '<dl id="meta-list">' in page and "<dt>baseline</dt><dd>xlm-r</dd>" in page
    assert "<details><summary>" in page and page.index("<dl") < page.index('<pre id="meta">')
