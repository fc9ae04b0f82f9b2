"""The three engines agree with each other and with tiktoken built from the official ranks.

The ``tiktoken`` engine is the oracle; ``raw`` below is tiktoken itself, built here from the table
``qwen()`` makes (byte-identical to the official ``qwen.tiktoken``, test_load proves it), so the
oracle is not qtok's own wrapper either.
"""

import random

import pytest
import tiktoken
from helpers import clean
from hypothesis import given
from hypothesis import strategies as st

from qtok import get_tokenizer
from qtok.core import Tokenizer
from qtok.encodings import QWEN_PATTERN, EncodingSpec

ENGINES = ("fast", "tiktoken", "reference")


def raw_tiktoken(spec):
    return tiktoken.Encoding(f"raw-{spec.name}", pat_str=spec.pat_str,
                             mergeable_ranks=spec.mergeable_ranks, special_tokens=spec.special_tokens)


@pytest.fixture(scope="module")
def trained_spec(multilingual):
    from qtok.train import extend

    ranks = extend("cl100k_base", [multilingual[lang] for lang in ("th", "ko", "ru")], 200)
    return EncodingSpec("trained", QWEN_PATTERN, ranks,
                        {"<|endoftext|>": max(ranks.values()) + 1, "<|im_start|>": max(ranks.values()) + 2})


@pytest.fixture(scope="module", params=["qwen", "cl100k_base", "trained"])
def family(request, trained_spec):
    """The three engines and raw tiktoken for one encoding."""
    if request.param == "trained":
        spec = trained_spec
        toks = {e: Tokenizer(spec, engine=e) for e in ENGINES}
    else:
        toks = {e: get_tokenizer(request.param, engine=e) for e in ENGINES}
        spec = toks["fast"].spec
    return toks, raw_tiktoken(spec)




# Fragments that exercise the pattern's branches: scripts, digits of several systems, every kind
# of whitespace run, contractions, emoji sequences, punctuation, special-token text and its halves.
FRAGMENTS = [
    "hello", " world", "Ünïcödé", "Привет", " мир", "你好", "世界和平", "こんにちは", "カタカナ",
    "สวัสดีครับ", "مرحبا", "שלום", "안녕하세요", "नमस्ते", "Ελληνικά", "ሰላም", "ᐊᐃᑦ",
    "0", "123", "4567890", "١٢٣", "१२३", "１２３", "Ⅻ", "½", " 42", "3.14",
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u3000", "\u00a0", "\u2028", "\x0b\x0c",
    "'s", "'T", "'re", "'ll", "'d", "don't", "ſ", "’s",
    "😀", "👍🏽", "👩‍👩‍👧", "🇯🇵", "❤️", "\u200d", "\ufe0f",
    ".", "...", "!?", "()", "{}", "->", "==", "#", "@", "$", "%", "«»", "—", "、", "。",
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|extra_7|>", "<|", "|>", "<|endoftext",
]
mixed = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join)
any_text = st.one_of(st.text(), mixed)


@given(s=any_text)
def test_engines_equal_and_round_trip(family, s):
    toks, raw = family
    want = raw.encode_ordinary(clean(s))
    for name, tok in toks.items():
        ids = tok.encode(s)
        assert ids == want, name
        assert tok.decode(ids) == clean(s), name


@given(s=mixed, which=st.sampled_from(["all", "some", "none"]))
def test_engines_equal_with_specials(family, s, which):
    toks, raw = family
    specials = sorted(raw.special_tokens_set)
    allowed = {"all": "all", "some": set(specials[:1]), "none": set()}[which]
    want = raw.encode(clean(s), allowed_special=allowed, disallowed_special=())
    for name, tok in toks.items():
        assert tok.encode(s, allowed_special=allowed) == want, name


@given(texts=st.lists(any_text, max_size=12), allow=st.booleans())
def test_encode_batch_is_encode_one_by_one(family, texts, allow):
    toks, _ = family
    allowed = "all" if allow else ()
    for name, tok in toks.items():
        one_by_one = [tok.encode(t, allowed_special=allowed) for t in texts]
        for threads in (1, 2):
            assert tok.encode_batch(texts, num_threads=threads, allowed_special=allowed) == one_by_one, name
        ids, offsets = tok.encode_batch_flat(texts, allowed_special=allowed)
        assert [ids[a:b].tolist() for a, b in zip(offsets, offsets[1:])] == one_by_one, name


def test_multilingual_sample(multilingual):
    toks = {e: get_tokenizer("qwen", engine=e) for e in ENGINES}
    raw = raw_tiktoken(toks["fast"].spec)
    texts = list(multilingual.values())
    for lang, text in multilingual.items():
        ids = raw.encode_ordinary(text)
        for name, tok in toks.items():
            assert tok.encode(text) == ids, (lang, name)
            assert tok.decode(ids) == text, (lang, name)
    for name, tok in toks.items():
        assert tok.encode_batch(texts) == [raw.encode_ordinary(t) for t in texts], name


def test_whitespace_and_digit_edge_cases():
    toks = {e: get_tokenizer("qwen", engine=e) for e in ENGINES}
    raw = raw_tiktoken(toks["fast"].spec)
    for s in ["   ", "\r\n\r\n", " \n \n", "a  b", "x\t\ty", "3.14159", "１２３", "٣٤٥",
              "don't", "DON'T", "'ſ", "\u3000\u3000a", "\x0b\x0c\x1c\x85", "a\u2028b", ""]:
        want = raw.encode_ordinary(s)
        for name, tok in toks.items():
            assert tok.encode(s) == want, (repr(s), name)


def test_lone_surrogates_every_engine():
    for engine in ENGINES:
        tok = get_tokenizer("qwen", engine=engine)
        for s in ["a\ud800b", "\udfff", "x\ud83d", "\ud83d\ude00"]:
            assert tok.encode(s) == tok.encode(clean(s)), (engine, repr(s))
            assert tok.encode_batch([s, "ok"]) == [tok.encode(clean(s)), tok.encode("ok")], engine


_RNG_SEED = 7
# Each text made only when its test asks for it (the 10 MB of digits took seconds to make, and
# every case made all five).
PATHOLOGICAL = {
    "1 MB of one character": lambda rng: "x" * 1_000_000,
    "1 MB of CJK, no spaces": lambda rng: "".join(map(chr, (rng.randint(0x4E00, 0x9FFF) for _ in range(333_334)))),
    "10 MB of digits": lambda rng: "".join(rng.choices("0123456789", k=10_000_000)),
    "long whitespace runs": lambda rng: (" " * 100_000 + "a" + "\n" * 100_000 + "\t \r\n" * 50_000 + "b"),
    "lone surrogates": lambda rng: "a\ud800" * 50_000,
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(PATHOLOGICAL))
def test_pathological_inputs_every_engine(kind):
    text = PATHOLOGICAL[kind](random.Random(_RNG_SEED))
    toks = {e: get_tokenizer("qwen", engine=e) for e in ENGINES}
    want = toks["tiktoken"].encode(text)
    for name, tok in toks.items():
        if name == "reference" and kind == "10 MB of digits":
            text_ = text[:1_000_000]  # each digit is a piece: pure Python is slow, not wrong
            assert tok.encode(text_) == toks["tiktoken"].encode(text_), name
            continue
        assert tok.encode(text) == want, name
    assert toks["fast"].decode(want) == clean(text)


def test_decode_accepts_the_same_types_on_every_engine():
    import numpy as np
    for engine in ENGINES:
        tok = get_tokenizer("qwen", engine=engine)
        want = "hello world"
        for ids in ([14990, 1879], (14990, 1879), np.array([14990, 1879]),
                    np.array([14990, 1879], dtype=np.uint32), [np.int64(14990), np.int32(1879)]):
            assert tok.decode(ids) == want, (engine, type(ids))
        for bad, err in [([1.0], ValueError), ([True], ValueError), (np.array([14990.0]), ValueError),
                         (np.array([True]), ValueError), ((t for t in [1]), TypeError),
                         ({1, 2}, TypeError), ("12", TypeError), (b"12", TypeError),
                         (np.array([[1, 2]]), TypeError), ([151851], ValueError)]:
            with pytest.raises(err):
                tok.decode(bad)
            with pytest.raises(err):
                tok.decode_bytes(bad)
        with pytest.raises(ValueError, match="not an integer"):
            tok.decode_single_token_bytes(True)
