"""qtok.analysis._unigram, SentencePiece's Unigram encoder in C: sentencepiece's ids and spans, on
XLM-R (the embedded corpus, each language's words, and generated text built to hit the normalizer,
unknown characters, user-defined symbols and ties) and on models trained here with each
normalizer setting; models it does not reproduce stay on sentencepiece.
(benchmarks/study.py checks the same on all of NTREX-128 before it times anything.)"""

import unicodedata

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given
from hypothesis import strategies as st
from sentencepiece import sentencepiece_model_pb2

from qtok.analysis import tokenizers, unigram
from qtok.analysis.corpora import load_corpus
from qtok.offsets import byte_to_char


@pytest.fixture(scope="module")
def xlmr():
    """(the study's XLM-R adapter, sentencepiece on the same model)."""
    adapter = tokenizers.get_adapter("xlm-r")
    model = next(tokenizers.cache_dir().glob(f"xlmr-{tokenizers.XLMR_SPM_BUILT_SHA256}.model")).read_bytes()
    return adapter, spm.SentencePieceProcessor(model_proto=model)


def reference_spans(sp, text):
    pieces = sp.encode(text, return_type="proto").pieces
    char_at = byte_to_char(text.encode("utf-8"))
    return [p.id for p in pieces], [(char_at[p.begin], char_at[p.end]) for p in pieces]


def test_the_extension_is_built_and_counts_xlmr(xlmr):
    assert unigram._unigram is not None, "qtok.analysis._unigram was not built: pip install needs a C compiler"
    adapter, _ = xlmr
    assert adapter.meta["engine"].startswith("qtok.analysis._unigram")
    assert adapter.encode_flat is not None


def test_xlmr_ids_on_every_language_and_its_words(xlmr):
    adapter, sp = xlmr
    corpus = load_corpus()
    for lang in corpus.langs:
        docs = [unicodedata.normalize("NFC", d) for d in corpus.docs(lang)]
        words = sorted({w for d in docs for w in d.split()})
        for texts in (docs, words):
            ids, offsets = adapter.encode_flat(texts)
            assert ids.dtype == np.int64 and offsets.tolist()[-1] == len(ids)
            assert adapter.encode(texts) == sp.encode(texts), lang
        assert adapter.spans(docs[0]) == reference_spans(sp, docs[0]), lang


def test_every_bmp_character_normalizes_as_sentencepiece_does(xlmr):
    """Each character of the Basic Multilingual Plane past ASCII, doubled, before a combining
    mark (which the charsmap composes with some), before ASCII and at the end: the C side copies
    a run of characters it finds to be their own normalized form (no rule starts with them) and
    walks the charsmap for the rest; sentencepiece's ids either way."""
    adapter, sp = xlmr
    chars = [chr(c) for c in range(0x80, 0x10000) if not 0xD800 <= c < 0xE000]
    texts = [f"{c}{c}\u0301{c}a {c}" for c in chars]
    assert adapter.encode(texts) == sp.encode(texts)


# Characters that exercise every branch: whitespace the normalizer folds or keeps, the escape
# symbol itself, NFKC rewrites (one character to several, several to one), combining marks,
# characters with no piece (unknowns, merged when adjacent), the user-defined "<mask>", control
# pieces' text ("<s>"), and runs of hyphens (pieces whose scores tie).
ALPHABET = st.sampled_from(
    list("ab eé-.\t\n") + ["  ", "\u00a0", "\u3000", "\u2581", "ﬁ", "①", "ｈ", "Ǆ", "\u0301", "\u0e01",
                          "中", "\U0001f642", "\U0001d11e", "\ue000", "\x00", "\x7f", "\ufffd",
                          "<mask>", "<s>", "-----", "\u200b", "\u0640"])


@given(st.lists(ALPHABET, max_size=24).map("".join))
def test_xlmr_on_generated_text(xlmr, text):
    adapter, sp = xlmr
    assert adapter.encode([text, text + " x"]) == sp.encode([text, text + " x"])
    assert adapter.spans(text) == reference_spans(sp, text)


def test_xlmr_word_by_word_on_long_texts_past_the_score_reset(xlmr):
    # The C encoder searches a text a word at a time and takes words it searched before from a
    # cache when their pieces cannot change after the score so far (_unigram.c, word_holds).
    # Texts of 30,000 words pass |100000|, where sentencepiece moves the scores back to 0;
    # runs of hyphens are words whose pieces tie. Without the check of where the reset falls,
    # 4 of these 20 texts came out different.
    import random

    adapter, sp = xlmr
    corpus = load_corpus(langs=["en", "de", "ru", "ar", "he", "th"])
    words = sorted({w for lang in corpus.langs for d in corpus.docs(lang) for w in d.split()})
    rng = random.Random(0)
    for _ in range(20):
        text = " ".join(rng.choice(words) if rng.random() < 0.7 else "-" * rng.randint(2, 12)
                        for _ in range(30_000))
        adapter.encode_flat([text[:40_000]])  # words seen at another score first
        assert adapter.encode([text]) == sp.encode([text])


def test_a_large_batch_split_over_threads_gives_the_same_ids(xlmr, monkeypatch):
    adapter, sp = xlmr
    docs = [unicodedata.normalize("NFC", d) for lang in ("en", "zh", "ar") for d in load_corpus().docs(lang)]
    monkeypatch.setattr(unigram, "PARALLEL_CHARS", 1000)
    assert len(unigram._parts(docs)) > 1
    assert adapter.encode(docs) == sp.encode(docs)


def test_a_cache_serves_one_model(xlmr, trained):
    model = xlmr[0].encode_flat.__self__.model
    cache = unigram._unigram.cache(model)
    assert unigram._unigram.encode(model, ["a b a"], cache) == unigram._unigram.encode(model, ["a b a"])
    other = trained["default"][0].encode_flat.__self__.model
    with pytest.raises(ValueError, match="another model"):
        unigram._unigram.encode(other, ["a"], cache)


def test_user_defined_symbols_the_normalizer_would_change_are_kept(trained):
    # The normalizer keeps a user-defined symbol as it is; one that starts with an ASCII letter
    # must not take the shortcut for ASCII text (_unigram.c, Model.ascii): "\t" is otherwise a space.
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(trained["nfkc_cf"][1].serialized_model_proto())
    for piece in ("k\tk", "Q\u00a0Q"):
        proto.pieces.add(piece=piece, score=0.0, type=4)
    data = proto.SerializeToString()
    adapter, sp = tokenizers.sentencepiece_adapter(data, "kept"), spm.SentencePieceProcessor(model_proto=data)
    texts = ["k\tk", "ak\tkb k\t k", "Q\u00a0Q q\u00a0q", "K\tK"]
    assert adapter.encode(texts) == sp.encode(texts)
    assert [adapter.spans(t) for t in texts] == [reference_spans(sp, t) for t in texts]
    assert len(proto.pieces) - 2 in sp.encode(texts[0])


def test_a_piece_across_a_space_is_found_as_sentencepiece_finds_it(trained):
    # Such a piece steps over a word's end: the model is searched a whole text at a time.
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(trained["default"][1].serialized_model_proto())
    for piece in ("\u2581of\u2581the", "e\u2581"):
        proto.pieces.add(piece=piece, score=-1.0, type=1)
    data = proto.SerializeToString()
    adapter, sp = tokenizers.sentencepiece_adapter(data, "across"), spm.SentencePieceProcessor(model_proto=data)
    texts = ["one of the best of the rest", "the three of the", "of the"] * 2
    assert adapter.encode(texts) == sp.encode(texts)
    assert len(proto.pieces) - 2 in sp.encode(texts[0])  # the piece across the space is used


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Small Unigram models trained here, one per normalizer setting (and with user-defined
    symbols), so every flag the C side reads is checked against sentencepiece."""
    corpus = load_corpus(langs=["en", "de", "zh", "th"])
    path = tmp_path_factory.mktemp("spm") / "train.txt"
    path.write_text("\n".join(d for lang in corpus.langs for d in list(corpus.docs(lang))[:20]), encoding="utf-8")
    models = {}
    for name, options in {
        "default": {},
        "no-dummy-prefix": {"add_dummy_prefix": False},
        "keep-whitespace": {"remove_extra_whitespaces": False},
        "no-escape": {"normalization_rule_name": "identity"},
        "nfkc_cf": {"normalization_rule_name": "nmt_nfkc_cf", "user_defined_symbols": ["<mask>", "@@"]},
    }.items():
        prefix = path.parent / name
        spm.SentencePieceTrainer.train(input=str(path), model_prefix=str(prefix), vocab_size=800, character_coverage=0.98,
                                       model_type="unigram", minloglevel=2, **options)
        data = prefix.with_suffix(".model").read_bytes()
        if name in ("no-escape", "default"):  # what the trainer has no option for: set in the model
            proto = sentencepiece_model_pb2.ModelProto()
            proto.ParseFromString(data)
            if name == "no-escape":
                proto.normalizer_spec.escape_whitespaces = False
            else:  # pieces the encoder walks through but never emits
                for i in (20, 40, 60, 80):
                    proto.pieces[i].type = 5  # UNUSED
            data = proto.SerializeToString()
        models[name] = (tokenizers.sentencepiece_adapter(data, name), spm.SentencePieceProcessor(model_proto=data))
    return models


@given(st.lists(ALPHABET | st.sampled_from(["@@", "The ", "schön", "的"]), max_size=24).map("".join))
def test_trained_models_on_generated_text(trained, text):
    for name, (adapter, sp) in trained.items():
        assert adapter.meta["engine"].startswith("qtok.analysis._unigram"), name
        assert adapter.encode([text]) == [sp.encode(text)], name
        assert adapter.spans(text) == reference_spans(sp, text), name


def test_models_it_does_not_reproduce_stay_on_sentencepiece(trained, monkeypatch):
    _, sp = trained["default"]
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(sp.serialized_model_proto())
    for change in ("bpe", "byte_fallback", "suffix", "charsmap", "two unknowns", "a control twice"):
        p = sentencepiece_model_pb2.ModelProto()
        p.CopyFrom(proto)
        if change == "bpe":
            p.trainer_spec.model_type = 2
        elif change == "byte_fallback":
            p.trainer_spec.byte_fallback = True
        elif change == "suffix":
            p.trainer_spec.treat_whitespace_as_suffix = True
        elif change == "charsmap":
            p.normalizer_spec.precompiled_charsmap = p.normalizer_spec.precompiled_charsmap[:-7]
        elif change == "two unknowns":
            p.pieces[5].type = 2
        else:  # sentencepiece refuses it ("is already defined"), and so does the C side
            p.pieces[1].piece, p.pieces[1].type = p.pieces[2].piece, 3
            with pytest.raises(tokenizers.TokenizerError, match="already defined"):
                tokenizers.sentencepiece_adapter(p.SerializeToString(), "twice")
        assert unigram.fast_encoder(p.SerializeToString(), p, lambda: None) is None, change
    # Without the extension (no C compiler), sentencepiece counts, with the same ids.
    monkeypatch.setattr(unigram, "_unigram", None)
    adapter = tokenizers.sentencepiece_adapter(sp.serialized_model_proto(), "plain")
    assert adapter.meta["engine"] == "sentencepiece" and adapter.encode_flat is None
    assert adapter.encode(["Hello  world"]) == [sp.encode("Hello  world")]


def test_text_without_utf8_gets_sentencepiece_s_answer(xlmr):
    adapter, sp = xlmr
    with pytest.raises(Exception) as theirs:
        sp.encode(["ok", "a\ud800"])
    with pytest.raises(type(theirs.value)):  # the C side cannot read it, and hands it over
        adapter.flat(["ok", "a\ud800"])


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_xlmr_on_any_text(xlmr, text):
    adapter, sp = xlmr
    assert adapter.encode([text]) == [sp.encode(text)]


def test_a_damaged_model_is_refused_or_encodes_never_crashes(xlmr):
    """Truncated and overwritten model files and normalization tables: the C side reads them
    with every index checked (sentencepiece trusts its files), so each is refused (ValueError;
    the adapter then leaves the file to sentencepiece) or encodes without a fault."""
    import random

    _, sp = xlmr
    data = sp.serialized_model_proto()
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(data)
    charsmap = proto.normalizer_spec.precompiled_charsmap
    rng = random.Random(0)
    refused = 0
    for k in range(40):
        model, table = bytearray(data), bytearray(charsmap)
        if k % 2:
            model = model[:rng.randrange(len(model))]
        for _ in range(rng.randint(0, 30) if k % 3 else 0):
            model[rng.randrange(len(model))] = rng.randrange(256)
        for _ in range(rng.randint(1, 40) if k % 4 == 0 else 0):
            table[rng.randrange(len(table))] = rng.randrange(256)
        try:
            m = unigram._unigram.model(bytes(model), bytes(table), 7)
        except ValueError:
            refused += 1
            continue
        unigram._unigram.encode(m, ["Hello world", "中文 ａｂｃ", "-----", ""])
        unigram._unigram.spans(m, "Hello <mask> world")
    assert 0 < refused < 40
