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
from qtok.encodings import QWEN_PATTERN
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
