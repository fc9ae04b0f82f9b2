"""Each corpus layout on tiny files, and every bad input."""

import json
import unicodedata

import pytest

from analysis.corpora import CorpusError, load_corpus, ntrex_short_codes


def test_embedded_corpus():
    c = load_corpus()
    assert c.langs[:3] == ["th", "he", "ar"] and c.langs[-2:] == ["en", "code"]
    assert "code" not in c.parallel and "en" in c.parallel
    en = list(c.docs("en"))
    assert en[0] == "Universal Declaration of Human Rights" and len(en) > 50
    assert len(list(c.docs("code"))) >= 15
    assert c.meta["code"]["python"]
    # vi is stored decomposed; the study normalizes it (recorded), the corpus does not hide it.
    vi = "".join(c.docs("vi"))
    assert unicodedata.normalize("NFC", vi) != vi


def test_unknown_language_lists_available():
    with pytest.raises(CorpusError, match="unknown language.*xx.*available: th, he"):
        load_corpus(langs=["en", "xx"])


def test_tampered_udhr(tmp_path, monkeypatch):
    import analysis.corpora as corpora

    (tmp_path / "udhr").mkdir()
    (tmp_path / "udhr" / "en.txt").write_text("changed\n")
    monkeypatch.setattr(corpora, "DATA", tmp_path)
    with pytest.raises(CorpusError, match="failed its hash check"):
        list(load_corpus(langs=["en"]).docs("en"))


def test_directory_layout(tmp_path):
    (tmp_path / "en.txt").write_text("one line\n\nsecond line\n")
    (tmp_path / "fr.txt").write_text("une ligne\n")
    c = load_corpus(str(tmp_path))
    assert c.langs == ["en", "fr"] and list(c.docs("en")) == ["one line", "second line"]


def test_ntrex_layout(tmp_path):
    for code, text in [("deu", "Hallo Welt"), ("zho-CN", "你好"), ("zho-TW", "你好"),
                       ("eng-GB", "hello"), ("xyz", "unknown language")]:
        (tmp_path / f"newstest2019-ref.{code}.txt").write_bytes(f"{text}\r\nline two\r\n".encode())
    (tmp_path / "LANGUAGES.tsv").write_text("deu\tGerman\nzho-CN\tChinese (Simplified)\n")
    c = load_corpus(f"ntrex:{tmp_path}")
    assert c.langs == ["de", "en", "xyz", "zh", "zh-TW"]
    assert list(c.docs("de")) == ["Hallo Welt", "line two"]  # CRLF stripped
    assert c.meta["names"]["deu"] == "German"
    assert load_corpus(str(tmp_path)).name == "ntrex-128"  # detected from the file names


def test_ntrex_short_codes():
    assert ntrex_short_codes(["srp-Cyrl", "srp-Latn", "fra", "zho-TW", "zho-CN"]) == {
        "srp-Cyrl": "sr", "srp-Latn": "sr-Latn", "fra": "fr", "zho-CN": "zh", "zho-TW": "zh-TW"}


@pytest.mark.parametrize("builder", ["text", "json", "parquet"])
def test_datasets_local_files_streamed(tmp_path, builder):
    rows = [{"text": "hello world"}, {"text": "second doc"}, {"text": "third"}]
    for lang in ("en", "de"):
        path = tmp_path / f"{lang}.{builder}"
        if builder == "text":
            path.write_text("\n".join(r["text"] for r in rows) + "\n")
        elif builder == "json":
            path.write_text("\n".join(json.dumps(r) for r in rows))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({"text": [r["text"] for r in rows]}), path)
    c = load_corpus(f"hf:{builder}:{tmp_path}/{{lang}}.{builder}", langs=["en", "de"])
    assert list(c.docs("de")) == ["hello world", "second doc", "third"]


def test_datasets_needs_langs_and_placeholder(tmp_path):
    with pytest.raises(CorpusError, match="needs --langs"):
        load_corpus(f"hf:text:{tmp_path}/{{lang}}.txt")
    with pytest.raises(CorpusError, match="placeholder"):
        load_corpus(f"hf:text:{tmp_path}/en.txt", langs=["en"])
    with pytest.raises(CorpusError, match="no file matches"):
        list(load_corpus(f"hf:text:{tmp_path}/{{lang}}.txt", langs=["en"]).docs("en"))


def test_bad_files(tmp_path):
    (tmp_path / "en.txt").write_bytes(b"fine\nbad \xff byte\n")
    (tmp_path / "fr.txt").write_text("")
    c = load_corpus(str(tmp_path))
    with pytest.raises(CorpusError, match=r"en.txt is not valid UTF-8 at byte offset 9.*--errors replace"):
        list(c.docs("en"))
    assert list(load_corpus(str(tmp_path), errors="replace").docs("en"))[1] == "bad \ufffd byte"
    with pytest.raises(CorpusError, match="is empty"):
        list(c.docs("fr"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no <lang>.txt files"):
        load_corpus(str(tmp_path / "empty"))
    with pytest.raises(CorpusError, match="unknown corpus"):
        load_corpus(str(tmp_path / "nope"))
