"""Each corpus layout on tiny files, and every bad input."""

import json
import unicodedata

import pytest

from qtok.analysis.corpora import CODE_LANGS, CorpusError, flores_to_short, load_corpus, ntrex_short_codes


def test_embedded_corpus_is_ntrex_news_and_a_fixed_code_sample():
    c = load_corpus()
    assert c.langs[:3] == ["th", "he", "ar"] and c.langs[17:19] == ["en", "code"]
    assert c.langs[19:] == [f"code-{lang}" for lang in CODE_LANGS]
    assert "code" not in c.parallel and "en" in c.parallel and len(c.parallel) == 18
    en, de = list(c.docs("en")), list(c.docs("de"))
    assert len(en) == len(de) == 123  # news stories, from DOCUMENT_IDS.tsv
    assert sum(d.count("\n") + 1 for d in en) == 1997  # sentences
    assert en[0].startswith("Welsh AMs worried about 'looking like muppets'")
    assert c.meta["codes"]["en"] == "newstest2019-src.eng.txt"  # the source side
    code = list(c.docs("code"))
    assert len(code) == sum(len(list(c.docs(f"code-{lang}"))) for lang in CODE_LANGS)
    assert any("def " in d for d in c.docs("code-python")) and any("func " in d for d in c.docs("code-go"))
    assert c.meta["archives_sha256"]


def test_udhr_stays_available():
    c = load_corpus("udhr")
    assert len(c.langs) == 18 and "code" not in c.langs
    assert next(iter(c.docs("en"))) == "Universal Declaration of Human Rights"
    vi = "".join(c.docs("vi"))  # stored decomposed; the study normalizes it (recorded)
    assert unicodedata.normalize("NFC", vi) != vi


def test_tampered_archive(tmp_path, monkeypatch):
    import qtok.analysis.corpora as corpora

    data = (corpora.DATA / corpora.NTREX_CHART).read_bytes()
    (tmp_path / corpora.NTREX_CHART).write_bytes(data[:-10] + b"0" * 10)
    monkeypatch.setattr(corpora, "DATA", tmp_path)
    corpora.read_archive.cache_clear()
    try:
        with pytest.raises(CorpusError, match="failed its hash check"):
            load_corpus()
    finally:
        corpora.read_archive.cache_clear()


def test_unknown_language_lists_available():
    with pytest.raises(CorpusError, match="unknown language.*xx.*available: th, he"):
        load_corpus(langs=["en", "xx"])


def test_tampered_udhr(tmp_path, monkeypatch):
    import qtok.analysis.corpora as corpora

    (tmp_path / "udhr").mkdir()
    (tmp_path / "udhr" / "en.txt").write_text("changed\n")
    monkeypatch.setattr(corpora, "DATA", tmp_path)
    with pytest.raises(CorpusError, match="failed its hash check"):
        list(load_corpus("udhr", langs=["en"]).docs("en"))


def test_directory_layout(tmp_path):
    (tmp_path / "en.txt").write_text("one line\n\nsecond line\n")
    (tmp_path / "fr.txt").write_text("une ligne\n")
    c = load_corpus(str(tmp_path))
    assert c.langs == ["en", "fr"] and list(c.docs("en")) == ["one line", "second line"]


def _ntrex(tmp_path, files, languages=True, ids=None):
    for name, lines in files.items():
        (tmp_path / name).write_bytes("".join(f"{x}\r\n" for x in lines).encode())
    if languages:
        (tmp_path / "LANGUAGES.tsv").write_text("deu\tGerman\nzho-CN\tChinese (Simplified)\n")
    if ids:
        (tmp_path / "DOCUMENT_IDS.tsv").write_text("".join(f"{i}\n" for i in ids))
    return tmp_path


def test_ntrex_layout(tmp_path):
    files = {f"newstest2019-ref.{code}.txt": [text, "line two", "three"] for code, text in
             [("deu", "Hallo Welt"), ("zho-CN", "你好"), ("zho-TW", "你好"), ("eng-GB", "hello"),
              ("xyz", "unknown language")]}
    files["newstest2019-src.eng.txt"] = ["hello", "line two", "three"]
    _ntrex(tmp_path, files, ids=["a", "a", "b"])
    c = load_corpus(f"ntrex:{tmp_path}")
    assert c.langs == ["de", "en", "en-GB", "xyz", "zh", "zh-TW"]
    assert list(c.docs("de")) == ["Hallo Welt\nline two", "three"]  # CRLF stripped, stories joined
    assert c.meta["names"]["deu"] == "German" and c.meta["n_documents"] == 2
    assert load_corpus(str(tmp_path)).name == "ntrex-128"  # detected from the file names


def test_ntrex_bad_layouts(tmp_path):
    (tmp_path / "no-tsv").mkdir()
    bad = _ntrex(tmp_path / "no-tsv", {"newstest2019-ref.deu.txt": ["a"]}, languages=False)
    with pytest.raises(CorpusError, match="no LANGUAGES.tsv"):
        load_corpus(f"ntrex:{bad}")
    (tmp_path / "uneven").mkdir()
    bad = _ntrex(tmp_path / "uneven", {"newstest2019-ref.deu.txt": ["a", "b"],
                                       "newstest2019-ref.fra.txt": ["a"]}, ids=["x", "x"])
    with pytest.raises(CorpusError, match=r"ref.fra.txt has 1 lines where DOCUMENT_IDS.tsv has 2: "
                                          "the files are not parallel"):
        load_corpus(f"ntrex:{bad}")
    (tmp_path / "twice").mkdir()
    bad = _ntrex(tmp_path / "twice", {"newstest2019-ref.deu.txt": ["a"], "newstest2019-ref.de.txt": ["a"]})
    with pytest.raises(CorpusError, match="are both language 'de'"):
        load_corpus(f"ntrex:{bad}")
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(f"ntrex:{tmp_path / 'missing'}")


def test_flores_codes_line_up_with_ntrex():
    assert [flores_to_short(c) for c in ("eng_Latn", "zho_Hans", "zho_Hant", "arb_Arab", "tha_Thai")] == [
        "en", "zh", "zh-TW", "ar", "th"]


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



def test_a_language_named_twice_is_refused():
    with pytest.raises(CorpusError, match="--langs names en more than once"):
        load_corpus("udhr", langs=["en", "de", "en"])


@pytest.mark.parametrize("name", [".txt", "a,b.txt", "two words.txt"])
def test_a_file_name_that_names_no_language_is_refused(tmp_path, name):
    (tmp_path / "en.txt").write_text("hello\n")
    (tmp_path / name).write_text("hello\n")
    with pytest.raises(CorpusError, match="names none --langs could choose"):
        load_corpus(str(tmp_path))
