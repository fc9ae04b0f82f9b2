"""Tokenizer adapters on known answers, including a SentencePiece model trained here."""

import pytest

from qtok.analysis.tokenizers import TokenizerError, get_adapter
from qtok.load import dump_ranks


def test_xlmr_hello_world_is_two_pieces():
    assert get_adapter("xlm-r").count(["Hello world"]) == [2]


def test_qtok_adapters():
    assert get_adapter("qwen").count(["hello world", "12345"]) == [2, 5]
    assert get_adapter("cl100k_base").count(["12345"]) == [2]
    assert get_adapter("mine=qwen").name == "mine"


def test_tiktoken_file_adapter(tmp_path):
    path = tmp_path / "tiny.tiktoken"
    path.write_bytes(dump_ranks({bytes([i]): i for i in range(256)} | {b"ab": 256}))
    a = get_adapter(str(path))
    assert a.name == "tiny" and a.count(["abab"]) == [2] and a.meta["sha256"]
    # A path with "=" in it, named or not: NAME=PATH splits at the first "=".
    odd = tmp_path / "lr=3e-4"
    odd.mkdir()
    (odd / "x.tiktoken").write_bytes(path.read_bytes())
    assert get_adapter(f"mine={odd / 'x.tiktoken'}").name == "mine"
    assert get_adapter(str(odd / "x.tiktoken")).name == "x"


def test_sentencepiece_adapter_trained_in_the_test(tmp_path, multilingual):
    import sentencepiece as spm

    (tmp_path / "train.txt").write_text(multilingual["en"], encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "train.txt"), model_prefix=str(tmp_path / "sp"),
                                   vocab_size=300, model_type="unigram", minloglevel=2)
    a = get_adapter(str(tmp_path / "sp.model"))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    text = "All human beings are born free"
    assert a.count([text]) == [len(sp.encode(text))]
    assert a.name == "sp" and not a.meta["is_original_xlmr"]
    # No BOS/EOS even though the model has them.
    assert sp.bos_id() >= 0 and sp.encode(text)[0] != sp.bos_id()


def test_tokenizer_json_adapter(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    assert get_adapter(str(tmp_path / "tokenizer.json")).count(["hello world again"]) == [3]


def test_bad_tokenizers(tmp_path):
    with pytest.raises(TokenizerError, match="unknown tokenizer 'gpt9': use one of .*qwen3.5"):
        get_adapter("gpt9")
    for missing in ("mine=nosuch.tiktoken", "nosuch.tiktoken", "dir/tokenizer.json"):
        with pytest.raises(TokenizerError, match=f"file not found: {missing.split('=')[-1]} "):
            get_adapter(missing)
    (tmp_path / "x.model").write_bytes(b"not a model")
    with pytest.raises(TokenizerError, match="not a SentencePiece model"):
        get_adapter(str(tmp_path / "x.model"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(TokenizerError, match="not a Hugging Face tokenizer.json"):
        get_adapter(str(tmp_path / "x.json"))
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(TokenizerError, match="cannot tell"):
        get_adapter(str(tmp_path / "x.bin"))


def test_tampered_xlmr_file(tmp_path, monkeypatch):
    import lzma

    import qtok.analysis.tokenizers as tk

    fake = tmp_path / "xlmr-tokenizer.json.xz"
    fake.write_bytes(lzma.compress(b'{"version": "1.0"}'))
    monkeypatch.setattr(tk, "XLMR_JSON", fake)
    with pytest.raises(TokenizerError, match="failed its hash check: expected sha256 f228f56c"):
        get_adapter("xlm-r")
    with pytest.raises(TokenizerError, match="failed its hash check"):
        get_adapter("xlm-r-hf")


def test_xlmr_sentencepiece_route_equals_the_tokenizer_json(tmp_path, monkeypatch):
    # The study runs XLM-R through sentencepiece, from a model built out of the vendored
    # tokenizer.json: the same ids as HF tokenizers on the file itself, except that trailing
    # whitespace is dropped by the SentencePiece normalizer (as the original XLM-R model does)
    # where HF keeps a "▁" token, and that ties between equal-score segmentations may differ.
    import unicodedata

    from qtok.analysis.corpora import load_corpus

    monkeypatch.setenv("QTOK_CACHE_DIR", str(tmp_path))  # a cold cache: the model is built here
    sp, hf = get_adapter("xlm-r"), get_adapter("xlm-r-hf")
    assert list(tmp_path.glob("xlmr-*.model")) and sp.meta["model_sha256"]
    corpus = load_corpus()
    for lang in corpus.langs:
        docs = [unicodedata.normalize("NFC", d) for d in corpus.docs(lang)]
        a, b = sum(sp.count(docs)), sum(hf.count(docs))
        assert abs(a - b) <= 1e-3 * b, lang
        if lang in ("zh", "de", "th", "ru", "en"):
            assert sp.encode(docs) == hf.encode(docs), lang
    assert sp.encode(["trail "]) == [[141037]] and hf.encode(["trail "]) == [[141037, 6]]
    assert sp.encode(["a  b\tc"]) == hf.encode(["a  b\tc"])
    assert get_adapter("xlm-r").count(["Hello world"]) == [2]  # now from the cache


def test_corrupt_json_xz_is_one_error(tmp_path):
    bad = tmp_path / "tok.json.xz"
    bad.write_bytes(b"not xz at all")
    with pytest.raises(TokenizerError, match="is not a valid .xz file"):
        get_adapter(str(bad))


@pytest.mark.parametrize("spec", ["qwen", "cl100k_base", "xlm-r"])
def test_long_documents_counted_in_pieces_equal_counted_whole(spec, monkeypatch):
    """split_long cuts before a space between two letters; no token of these tokenizers spans
    such a cut, so a long document counted a piece at a time (bounded memory) gives the count
    and the token frequencies of the document counted whole."""
    import numpy as np

    import qtok.analysis.count as count
    import qtok.analysis.tokenizers as t
    from qtok.analysis.corpora import load_corpus
    from qtok.analysis.count import _flat_cut

    adapter = t.get_adapter(spec)
    assert adapter.cut_safe
    corpus = load_corpus(langs=["en", "zh", "th", "ru", "ar"])
    doc = " ".join(line for lang in corpus.langs for d in corpus.docs(lang) for line in d.split("\n"))[:300_000]
    pieces = t.split_long(doc, 1000)
    assert len(pieces) > 100 and "".join(pieces) == doc
    assert sum(adapter.count(pieces)) == adapter.count([doc])[0]
    monkeypatch.setattr(count, "LONG_DOC", 1000)  # where the study reads it
    flat, counts = _flat_cut(adapter, [doc, "short one"], "mixed")
    whole, whole_counts = adapter.flat([doc, "short one"])
    assert counts.tolist() == whole_counts.tolist()
    assert np.array_equal(np.bincount(flat), np.bincount(whole))


def test_uncuttable_long_document_is_refused_in_one_line(monkeypatch):
    import qtok.analysis.count as count
    import qtok.analysis.tokenizers as t
    from qtok.analysis.count import _flat_cut

    adapter = t.get_adapter("xlm-r")
    monkeypatch.setattr(count, "LONG_DOC", 100)
    monkeypatch.setattr(adapter, "max_chars", 500)
    with pytest.raises(ValueError, match=r"a document of 'th' has 1,000 characters xlm-r must take at once.*split the document"):
        _flat_cut(adapter, ["ก" * 1000], "th")


def test_the_unknown_token_is_the_tokenizers_own(tmp_path):
    """A WordPiece tokenizer.json whose unknown token is "[UNK]" (BERT's): "hallo welt" is two
    unknown tokens, counted as such, and the ratio is blanked with the reason."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from qtok.analysis.count import count_block
    from qtok.blocks import Block

    tok = Tokenizer(models.WordPiece({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "bert.json"))
    adapter = get_adapter(f"bert={tmp_path / 'bert.json'}")
    assert adapter.unk_ids == frozenset({0})
    part = count_block(Block(0, "de", "docs", docs=["hallo welt"]), [adapter], None)
    assert part["freq"]["bert"][0] == 2  # both words are the unknown token


def test_the_qwen_family_by_name():
    # Every named qtok encoding is a study tokenizer; Qwen3.5's new vocabulary costs Hindi far
    # fewer tokens than Qwen-1's.
    text = ["नमस्ते दुनिया, यह एक वाक्य है।"]
    counts = {name: get_adapter(name).count(text)[0] for name in ("qwen", "qwen2.5", "qwen3", "qwen3.5")}
    assert counts["qwen"] == counts["qwen2.5"] == counts["qwen3"] > 2 * counts["qwen3.5"]


@pytest.mark.parametrize("name", ["qwen", "qwen2", "qwen2.5", "qwen3", "qwen3.5"])
def test_the_study_counts_added_token_text_as_encode_does(name):
    # The study counts through the fast engine's flat batch, which once made Qwen3.5's
    # <tool_call> and <think> control tokens (680 tokens where encode gave 960).
    import qtok
    from qtok.family import MEMBERS

    added = MEMBERS[name].added if name in MEMBERS else list(qtok.get_tokenizer(name).special_tokens)
    texts = list(added) + [f"x{t}y {t}{t}" for t in added] + ["<tool_call>x</tool_call>", "<think>y"]
    want = [len(qtok.get_tokenizer(name).encode(t)) for t in texts]
    assert get_adapter(name).count(texts) == want
