"""qtok.tally: each text's tokens, every token's occurrences and the characters a token ends
inside, counted in C without making the ids: equal to what tiktoken's ids give, on real
multilingual text, generated text, long pieces, tables BPE cannot build and a cache that fills.
"""

import threading

import numpy as np
import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from qtok import _native, get_tokenizer
from qtok.core import replace_surrogates
from qtok.encodings import CL100K_PATTERN, QWEN3_5_PATTERN, QWEN_PATTERN
from qtok.tally import NATIVE_PATTERNS, Tally

from .test_native import TRICKY

NAMES = ["qwen", "qwen3.5", "cl100k_base"]


@pytest.fixture(scope="module")
def tallies():
    """(the tally, tiktoken's encoding of the same table: the oracle) for each name."""
    out = {}
    for name in NAMES:
        tok = get_tokenizer(name, engine="tiktoken")
        out[name] = (Tally.of(tok), tiktoken.Encoding(name, pat_str=tok.pat_str,
                                                      mergeable_ranks=tok.mergeable_ranks, special_tokens={}))
    return out


def expected(enc: tiktoken.Encoding, texts: list[str], n_vocab: int):
    """(tokens of each text, token frequencies, characters whose bytes two tokens share), from
    tiktoken's ids, as the study counted them before the tally."""
    counts, freq, split = [], np.zeros(n_vocab, dtype=np.int64), 0
    for text in texts:
        ids = enc.encode_ordinary(text)
        counts.append(len(ids))
        np.add.at(freq, ids, 1)
        data = replace_surrogates(text).encode("utf-8")
        ends = np.cumsum([len(enc.decode_single_token_bytes(i)) for i in ids])[:-1]
        inside = {e for e in ends if data[e] & 0xC0 == 0x80}
        # the characters (by their first byte) that an end falls inside
        split += len({e - next(k for k in range(4) if data[e - k] & 0xC0 != 0x80) for e in inside})
    return counts, freq, split


def check(tally: Tally, enc, texts: list[str]) -> None:
    freq = np.zeros(tally.n_vocab, dtype=np.int64)
    counts, split = tally(texts, freq)
    want_counts, want_freq, want_split = expected(enc, texts, tally.n_vocab)
    assert counts.tolist() == want_counts
    assert np.array_equal(freq, want_freq)
    assert split == want_split
    assert [tally.encode(t) for t in texts] == [enc.encode_ordinary(t) for t in texts]


def test_the_extension_is_built():
    assert _native is not None, "qtok._native was not built: pip install needs a C compiler"
    assert all(Tally.can_count(get_tokenizer(n)) for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_real_multilingual_text(name, tallies, multilingual):
    tally, enc = tallies[name]
    check(tally, enc, list(multilingual.values()))
    # Split in sentences and joined again: the counts add up the same.
    lines = [line for text in multilingual.values() for line in text.splitlines()]
    check(tally, enc, lines)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(st.text(), st.text(alphabet=TRICKY, max_size=80)), max_size=6),
       st.sampled_from(NAMES))
def test_generated_text(tallies, texts, name):
    check(*tallies[name], texts)


def test_long_pieces_surrogates_and_special_texts(tallies):
    tally, enc = tallies["qwen"]
    texts = ["x" * 5000, "ab" * 40 + " " + "\u0e01\u0e34" * 300, "a\ud800b \udfff",
             "<|endoftext|> <|im_start|>user", "", "1234567", "\u00e9" * 70]
    fixed = [replace_surrogates(t) for t in texts]  # a lone surrogate is one U+FFFD, as engines take it
    freq = np.zeros(tally.n_vocab, dtype=np.int64)
    counts, split = tally(texts, freq)
    want = expected(enc, fixed, tally.n_vocab)
    assert counts.tolist() == want[0] and np.array_equal(freq, want[1]) and split == want[2]
    assert tally.encode("<|endoftext|>") == enc.encode_ordinary("<|endoftext|>")  # text, not a special


def test_a_megabyte_without_a_space_in_bounded_time(tallies):
    tally, enc = tallies["qwen3.5"]
    text = "\u0915\u094d\u0937" * 350_000  # one piece of ~3 MB: the O(n log n) merges
    counts, _ = tally([text])
    assert counts.tolist() == [len(enc.encode_ordinary(text))]


def test_tokens_bpe_cannot_reach_and_the_whole_piece_rule():
    # "abc" is a token that no merge makes (no "ab", no "bc"): a piece "abc" is that token whole,
    # "abcd" is bytes; "xyz" is reached by merges, "xyxy" by two.
    ranks = {bytes([i]): i for i in range(256)} | {b"abc": 256, b"xy": 257, b"xyz": 258, b"xyxy": 259}
    enc = tiktoken.Encoding("t", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={})
    check(Tally(ranks, QWEN_PATTERN), enc, ["abc abcd xyz xyxyxyz " + "xy" * 40 + " abc" * 3])


def test_a_full_cache_starts_again_with_nothing_lost(tallies):
    # More distinct pieces than the cache holds (65,536), twice over, in one call and in two.
    tally, enc = tallies["cl100k_base"]
    def letters(i: int) -> str:  # a distinct all-letter word for each i: one piece each
        word = ""
        while True:
            i, d = divmod(i, 26)
            word += chr(97 + d)
            if not i:
                return word + "q"

    words = [letters(i) for i in range(150_000)]
    texts = [" ".join(words[i:i + 1000]) for i in range(0, len(words), 1000)]
    check(tally, enc, texts)
    check(tally, enc, texts[:70])


def test_words_in_one_line(tallies):
    tally, enc = tallies["qwen"]
    words = ["don't", "12345", "naïve", "'s", "x" * 200, "漢字", "--", "a1b2", "\U0001F600", "e\u0301"]
    assert tally.words(words).tolist() == [len(enc.encode_ordinary(" " + w)) for w in words]
    # A "word" holding a space is no word: the line would not split as the words do, so each is
    # counted alone.
    assert tally.words(["a b", "c"]).tolist() == [len(enc.encode_ordinary(" a b")), 1]
    assert tally.words([]).tolist() == []


def test_threads_each_with_their_own_cache(tallies, multilingual):
    tally, enc = tallies["qwen3.5"]
    texts = list(multilingual.values())
    want = expected(enc, texts, tally.n_vocab)
    results = []

    def run():
        freq = np.zeros(tally.n_vocab, dtype=np.int64)
        counts, split = tally(texts, freq)
        results.append((counts.tolist(), freq, split))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(c == want[0] and np.array_equal(f, want[1]) and s == want[2] for c, f, s in results)


def test_bad_input_says_what_to_do(tallies):
    tally, _ = tallies["qwen"]
    with pytest.raises(TypeError, match="texts must be str, got bytes"):
        tally([b"abc"])
    with pytest.raises(ValueError, match="int64 array of at least"):
        tally(["abc"], np.zeros(10, dtype=np.int64))
    with pytest.raises(ValueError, match="int64 array of at least"):
        tally(["abc"], np.zeros(tally.n_vocab, dtype=np.int32))
    other = tallies["cl100k_base"][0]
    with pytest.raises(ValueError, match="belongs to another encoder"):
        _native.tally(tally._encoder, other._cache(), ["abc"], np.zeros(1, dtype=np.int64), None)
    with pytest.raises(ValueError, match="no token for the byte 0x00"):
        Tally({bytes([i]): i - 1 for i in range(1, 256)}, QWEN_PATTERN)
    with pytest.raises(ValueError, match="pattern of Qwen's family"):
        Tally({bytes([i]): i for i in range(256)}, r"\S+|\s+")
    assert set(NATIVE_PATTERNS) >= {get_tokenizer(n).pat_str for n in NAMES}


def test_token_lengths_and_vocabulary(tallies):
    for name, (tally, enc) in tallies.items():
        lengths = tally.token_lengths()
        assert tally.n_vocab == len(lengths) == enc.max_token_value + 1
        ranks = get_tokenizer(name).mergeable_ranks
        assert all(lengths[rank] == len(token) for token, rank in ranks.items())


# ---------------------------------------------------------------- two nested tables at once

NUMERALS = list("0123456789٠١٢٣४५๓²½Ⅻ〇 aé.\n's中\u0301")


@pytest.fixture(scope="module")
def joint(tallies):
    """Qwen's table over cl100k_base's, which it extends."""
    both = tallies["qwen"][0].joint(tallies["cl100k_base"][0])
    assert both is not None
    return both


def check_joint(joint, encs, texts: list[str]) -> None:
    """The joint counts of both tables are tiktoken's (``expected``), and its words those of
    each word alone."""
    fa, fb = np.zeros(joint.tally.n_vocab, dtype=np.int64), np.zeros(joint.base.n_vocab, dtype=np.int64)
    counts, split, base_counts, base_split = joint(texts, fa, fb)
    for got, enc, table in (((counts, fa, split), encs[0], joint.tally), ((base_counts, fb, base_split), encs[1], joint.base)):
        want = expected(enc, texts, table.n_vocab)
        assert got[0].tolist() == want[0] and np.array_equal(got[1], want[1]) and got[2] == want[2]
    words = [w for t in texts for w in t.split()]
    assert [c.tolist() for c in joint.words(words)] == [[len(e.encode_ordinary(" " + w)) for w in words] for e in encs]


def test_joint_counts_real_multilingual_text(joint, tallies, multilingual):
    encs = (tallies["qwen"][1], tallies["cl100k_base"][1])
    check_joint(joint, encs, list(multilingual.values()))
    check_joint(joint, encs, [line for text in multilingual.values() for line in text.splitlines()])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(), st.text(alphabet=TRICKY, max_size=80), st.text(alphabet=NUMERALS, max_size=60)),
                max_size=6))
def test_joint_counts_generated_text(joint, tallies, texts):
    check_joint(joint, (tallies["qwen"][1], tallies["cl100k_base"][1]), texts)


def test_joint_long_pieces_numeral_runs_and_a_full_cache(joint, tallies):
    encs = (tallies["qwen"][1], tallies["cl100k_base"][1])
    # Pieces past the cached length (64 bytes), runs of 1-8 numerals of several scripts (each
    # table cuts them its own way: Qwen a numeral a token, cl100k_base up to 3), a lone surrogate.
    texts = ["x" * 5000, "ab" * 40 + " " + "\u0e01\u0e34" * 300, "1 12 123 1234 12345 123456 1234567 12345678",
             "٣٤٥٦ ४५६७८ 12٣४5 ²³½Ⅻ 2024年", "a\ud800b 99", "", "\u00e9" * 70 + "123"]
    fixed = [replace_surrogates(t) for t in texts]
    fa, fb = np.zeros(joint.tally.n_vocab, dtype=np.int64), np.zeros(joint.base.n_vocab, dtype=np.int64)
    counts, split, base_counts, base_split = joint(texts, fa, fb)
    for got, enc, n in (((counts, fa, split), encs[0], joint.tally.n_vocab), ((base_counts, fb, base_split), encs[1], joint.base.n_vocab)):
        want = expected(enc, fixed, n)
        assert got[0].tolist() == want[0] and np.array_equal(got[1], want[1]) and got[2] == want[2]
    # More distinct pieces than the cache holds (65,536), with numerals between them: the same
    # counts as the two tallies, in one call and over several.
    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}{chr(97 + i // 17576)} {i}"
             for i in range(90_000)]
    texts = [" ".join(words[i:i + 1000]) for i in range(0, len(words), 1000)]
    for batch in (texts, texts[:40]):
        fa, fb = np.zeros(joint.tally.n_vocab, dtype=np.int64), np.zeros(joint.base.n_vocab, dtype=np.int64)
        ga, gb = np.zeros_like(fa), np.zeros_like(fb)
        counts, split, base_counts, base_split = joint(batch, fa, fb)
        (want_counts, want_split), (want_base, want_base_split) = joint.tally(batch, ga), joint.base(batch, gb)
        assert counts.tolist() == want_counts.tolist() and base_counts.tolist() == want_base.tolist()
        assert (split, base_split) == (want_split, want_base_split)
        assert np.array_equal(fa, ga) and np.array_equal(fb, gb)


def test_joint_words_and_threads(joint, tallies, multilingual):
    qwen, cl100k = tallies["qwen"][1], tallies["cl100k_base"][1]
    words = ["don't", "12345", "naïve", "'s", "x" * 200, "漢字", "--", "a1b2", "\U0001F600", "e\u0301", "٣٤٥٦"]
    counts, base_counts = joint.words(words)
    assert counts.tolist() == [len(qwen.encode_ordinary(" " + w)) for w in words]
    assert base_counts.tolist() == [len(cl100k.encode_ordinary(" " + w)) for w in words]
    assert [c.tolist() for c in joint.words(["a b", "c"])] == [[len(e.encode_ordinary(" a b")), 1] for e in (qwen, cl100k)]
    assert [c.tolist() for c in joint.words([])] == [[], []]
    texts = list(multilingual.values())
    want = joint(texts)
    results = []
    threads = [threading.Thread(target=lambda: results.append(joint(texts))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(r[0].tolist() == want[0].tolist() and r[2].tolist() == want[2].tolist() and (r[1], r[3]) == (want[1], want[3])
               for r in results)


def test_which_tables_nest(tallies):
    qwen, qwen35, cl100k = (tallies[n][0] for n in ("qwen", "qwen3.5", "cl100k_base"))
    assert qwen.joint(cl100k) is qwen.joint(cl100k)  # checked once a pair
    assert cl100k.joint(qwen) is None  # the base does not extend its extension
    assert qwen35.joint(qwen) is None and qwen.joint(qwen35) is None  # a vocabulary of its own
    byte = {bytes([i]): i for i in range(256)}
    # "qrs": a token of both that no merge makes (no "qr", no "rs"): a piece "qrs" is that token
    # in each table, though the merges leave it in bytes.
    base = byte | {b"ab": 256, b"12": 257, b"xy": 258, b"\xc2\xb2\xc2\xb2": 259, b"qrs": 260}  # 259: "²²"
    ext = byte | {b"ab": 256, b"xy": 257, b"qrs": 258, b"abxy": 259, b"ba": 260}  # drops "12", "²²": numerals
    enc = {name: tiktoken.Encoding(name, pat_str=pat, mergeable_ranks=ranks, special_tokens={})
           for name, pat, ranks in (("ext", QWEN_PATTERN, ext), ("base", CL100K_PATTERN, base))}
    both = Tally(ext, QWEN_PATTERN).joint(Tally(base, CL100K_PATTERN))
    assert both is not None
    check_joint(both, (enc["ext"], enc["base"]), ["qrs abxy ab ba 12 123 ²²² xyab abab", "1212 ²² xy\nqrs"])
    # What breaks the nesting: a dropped token that is not numerals, the base's order changed,
    # a token of the base after one of the extension's own, another letter class.
    no = [byte | {b"ab": 256, b"qrs": 257, b"ba": 258},  # drops "xy"
          byte | {b"xy": 256, b"ab": 257, b"qrs": 258, b"ba": 259},  # "xy" before "ab"
          byte | {b"ab": 256, b"ba": 257, b"xy": 258, b"qrs": 259}]  # its own "ba" before the base's "xy"
    assert all(Tally(r, QWEN_PATTERN).joint(Tally(base, CL100K_PATTERN)) is None for r in no)
    assert Tally(ext, QWEN3_5_PATTERN).joint(Tally(base, QWEN_PATTERN)) is None
    # A partial numeral's bytes dropped ("\xc2" alone is no character): no nesting either.
    assert Tally(byte, QWEN_PATTERN).joint(Tally(byte | {b"\xe2\x85": 256}, QWEN_PATTERN)) is None


def test_joint_bad_input_says_what_to_do(joint, tallies):
    with pytest.raises(ValueError, match="base_freq must be an int64 array of at least"):
        joint(["abc"], None, np.zeros(10, dtype=np.int64))
    with pytest.raises(TypeError, match="texts must be str, got bytes"):
        joint([b"abc"])
    cl100k = get_tokenizer("cl100k_base")
    other = tallies["qwen"][0].joint(Tally(cl100k.mergeable_ranks, cl100k.pat_str))  # a second nesting
    with pytest.raises(ValueError, match="belongs to another nesting"):
        _native.tally2(joint._nesting, other._cache(), ["abc"], np.zeros(1, dtype=np.int64), None,
                       np.zeros(1, dtype=np.int64), None)
