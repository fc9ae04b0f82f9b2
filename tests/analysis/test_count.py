"""analysis.count: a sample or a cap travels with each block as the documents it selects."""

import numpy as np

from qtok.analysis.count import Selection, select_docs, selected
from qtok.blocks import docs_blocks, number


def test_first_documents_and_samples_select_the_same_documents_for_parallel_languages():
    blocks = number(b for lang in ("en", "de") for b in docs_blocks([f"{lang} {i}" for i in range(50)], lang, 100))
    sizes = {b.index: np.array([len(d) for d in b.docs]) for b in blocks}
    first = select_docs(blocks, sizes, sample=None, seed=0, max_docs=7, max_bytes=None)
    assert all(isinstance(b, Selection) for b in first)
    got = {lang: [d for b in first if b.group == lang for d in selected(b)] for lang in ("en", "de")}
    assert got["en"] == [f"en {i}" for i in range(7)] and len(got["de"]) == 7
    drawn = select_docs(blocks, sizes, sample=10, seed=3, max_docs=None, max_bytes=None)
    picked = {lang: [d.split()[1] for b in drawn if b.group == lang for d in selected(b)] for lang in ("en", "de")}
    assert len(picked["en"]) == 10 and picked["en"] == picked["de"]  # the same draw: still parallel
    assert list(selected(blocks[0])) == blocks[0].docs  # a plain block: all its documents


def test_the_nfd_sample_and_the_split_rate_of_one_block():
    import unicodedata

    from qtok.analysis.count import NFD_SAMPLE_CHARS, count_block
    from qtok.analysis.tokenizers import get_adapter
    from qtok import get_tokenizer

    qwen = get_tokenizer("qwen")
    doc = "Việt Nam é ꙮ 𓀀 " * 20_000  # one document far past the sample's budget; ꙮ and 𓀀 split
    (block,) = docs_blocks([doc], "vi")
    part = count_block(block, [get_adapter("qwen")], "NFC")
    head = unicodedata.normalize("NFC", doc)[:NFD_SAMPLE_CHARS]  # cut there, not taken whole
    assert part["nfd"]["qwen"] == (qwen.count(unicodedata.normalize("NFD", head)), qwen.count(head))
    # Characters whose bytes two tokens share, counted from the tokens' byte lengths.
    text = unicodedata.normalize("NFC", doc)
    ends, pos = set(), 0
    for t in qwen.decode_tokens_bytes(qwen.encode(text)):
        pos += len(t)
        ends.add(pos)
    starts = np.cumsum([0] + [len(c.encode()) for c in text])
    split = sum(1 for a, b in zip(starts, starts[1:]) if any(e in ends for e in range(a + 1, b)))
    assert part["split"]["qwen"] == split == 40_000


def test_words_counted_in_lines_are_counted_as_alone():
    """Adapter.word_counts counts a line of words for the joinable patterns (qtok.tally's
    tally_words in C; without the C extension, a line encoded by the engine); each word's count
    must be its count alone (" " + word) by tiktoken, on words made to probe the patterns' edges:
    contractions, digits, marks, punctuation runs, letters after punctuation, every script."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from qtok import _native, get_tokenizer
    from qtok.analysis.tokenizers import get_adapter

    names = ("qwen", "cl100k_base", "qwen3.5")
    adapters = [get_adapter(n) for n in names]
    oracles = [get_tokenizer(n, engine="tiktoken") for n in names]
    assert all(a.words_joinable and a.tally is not None for a in adapters)
    pieces = st.sampled_from(["'s", "'LL", "'", "don't", "12345", "٣٤", "x", "é", "e\u0301", "क्षि", "ไทย",
                              "漢字", "!?", "...", "(", "\u200b", "\u00ad", "\U0001f600", "\r", "\n", "a\nb",
                              "—", "-", "A1b", "\ufeff", "\x1c"])
    word = st.lists(st.one_of(pieces, st.text(min_size=1, max_size=3)), min_size=1, max_size=4).map("".join)
    words = st.lists(word.map(lambda w: "".join(w.split())).filter(bool), min_size=1, max_size=60)

    @settings(max_examples=150, deadline=None)
    @given(words)
    def agree(ws):
        for a, oracle in zip(adapters, oracles):
            alone = [len(oracle.encode_ordinary(" " + w)) for w in ws]
            if "\ud800" not in "".join(ws):  # the C line answered, not the word-by-word fallback
                line = " " + " ".join(ws)
                assert _native.tally_words(a.tally._encoder, a.tally._cache(), line, np.empty(len(ws), np.int64))
            assert a.word_counts(ws).tolist() == alone, (a.name, ws)
            tally, a.tally = a.tally, None  # the lines without the C extension: the engine's ids
            a.counts = None  # ... and not the word-by-word fallback
            try:
                assert a.word_counts(ws).tolist() == alone, (a.name, ws)
            finally:
                a.tally = tally
                del a.counts

    agree()
    # Words past one line (LONG_DOC characters) are spread over several lines.
    from qtok.analysis import tokenizers

    many = [f"w{i}ord" for i in range(3000)]
    old, tokenizers.LONG_DOC = tokenizers.LONG_DOC, 1000
    tally, adapters[0].tally = adapters[0].tally, None
    try:
        assert adapters[0].word_counts(many).tolist() == [len(oracles[0].encode_ordinary(" " + w)) for w in many]
    finally:
        tokenizers.LONG_DOC = old
        adapters[0].tally = tally


def test_words_in_c_are_str_split_words(monkeypatch, multilingual):
    """count._Words counts each document's words, their UTF-8 bytes and the distinct words in C
    (qtok._native.words_into); str.split() and a Counter must give the same, in the same order,
    on real text and on every kind of whitespace Python splits at (U+001C..U+001F, U+0085,
    U+00A0, U+2028, U+3000...), long documents included."""
    import random
    from collections import Counter

    from qtok import _native
    from qtok.analysis import count

    assert _native is not None, "qtok._native was not built: pip install needs a C compiler"
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    rng = random.Random(0)
    generated = ["".join(rng.choice(spaces + list("ab é中\U0001F600'")) for _ in range(rng.randrange(60)))
                 for _ in range(500)]
    texts = [*multilingual.values(), *generated, "", "  ", "x", "w " * 300_000]
    for keep in (True, False):
        c_words = count._Words(keep)
        counts, n_bytes = c_words.add(texts)
        assert counts.tolist() == [len(t.split()) for t in texts]
        assert n_bytes == sum(len(t.encode("utf-8")) for t in texts)
        want = Counter(w for t in texts for w in t.split()) if keep else Counter()
        unique, n = c_words.distinct()
        assert unique == list(want) and n.tolist() == list(want.values())
        monkeypatch.setattr(count, "_native", None)  # the Python path: the same numbers
        py_words = count._Words(keep)
        py_counts, py_bytes = py_words.add(texts)
        assert py_counts.tolist() == counts.tolist() and py_bytes == n_bytes
        assert py_words.distinct()[0] == unique and py_words.distinct()[1].tolist() == n.tolist()
        monkeypatch.undo()


def test_the_nfd_sample_reuses_only_documents_nfd_leaves_alone():
    # Documents NFD leaves unchanged take their NFC count; the others (é decomposes, 한 too) are
    # counted in NFD: the sums must be those of counting the whole sample.
    import unicodedata

    from qtok import get_tokenizer
    from qtok.analysis.count import count_block
    from qtok.analysis.tokenizers import get_adapter

    docs = ["plain ascii text", "café au lait", "한국어 문장", "Ελληνικά χωρίς τόνο", "naïve", "日本語の文"]
    for form in ("NFC", None):
        (block,) = docs_blocks(docs, "xx")
        part = count_block(block, [get_adapter("qwen"), get_adapter("xlm-r")], form)
        qwen = get_tokenizer("qwen")
        assert part["nfd"]["qwen"] == (sum(qwen.count(unicodedata.normalize("NFD", d)) for d in docs),
                                       sum(qwen.count(unicodedata.normalize("NFC", d)) for d in docs))
        xlmr = get_adapter("xlm-r")
        assert part["nfd"]["xlm-r"] == (int(xlmr.counts([unicodedata.normalize("NFD", d) for d in docs]).sum()),
                                        int(xlmr.counts([unicodedata.normalize("NFC", d) for d in docs]).sum()))


def test_a_batch_is_normalized_as_its_documents_are():
    # One check of the joined batch stands for each document's: on documents each in the form
    # and on batches with one that is not (a mark after a newline, Hangul jamo, a compatibility
    # character), the result is each document normalized.
    import unicodedata

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from qtok.analysis.count import normalized

    alphabet = st.sampled_from(list("ae\n ") + ["\u0301", "\u0323", "\u1100", "\u1161", "\u11a8", "\ufb01",
                                                  "é", "ﬁ", "\u212b", "가", "\u0f73"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(alphabet, max_size=12), max_size=6), st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
    def agree(docs, form):
        assert normalized(docs, form) == [unicodedata.normalize(form, d) for d in docs]
        ready = [unicodedata.normalize(form, d) for d in docs]
        assert normalized(ready, form) == ready

    agree()
    assert normalized(["x\u0301"], None) == ["x\u0301"]  # no form: as given


def test_a_table_and_the_one_it_extends_are_counted_together(multilingual):
    # Qwen's table extends cl100k_base's: the two are counted in one pass (qtok.tally.Joint),
    # with every count of each alone.
    from qtok.analysis.count import count_block, joint_units
    from qtok.analysis.tokenizers import get_adapter

    qwen, cl100k, xlmr = (get_adapter(n) for n in ("qwen", "cl100k_base", "xlm-r"))
    assert [[a.name for a in unit] for unit in joint_units([cl100k, xlmr, qwen])] == [["qwen", "cl100k_base"], ["xlm-r"]]
    assert [[a.name for a in unit] for unit in joint_units([cl100k, xlmr])] == [["cl100k_base"], ["xlm-r"]]
    docs = list(multilingual.values()) + ["in 2024, 12345 people", "cafe\u0301 ٣٤٥ naïve", "x" * 300]
    (block,) = docs_blocks(docs, "xx")
    together = count_block(block, [qwen, cl100k], "NFC")
    for a in (qwen, cl100k):
        alone = count_block(block, [a], "NFC")
        for key in ("freq", "lengths"):
            assert np.array_equal(together[key][a.name], alone[key][a.name])
        for key in ("continued", "split", "nfd"):
            assert together[key][a.name] == alone[key][a.name]
        assert together["nfd"][a.name][0] > 0 and together["continued"][a.name][1] > 0
