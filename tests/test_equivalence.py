"""Both engines agree with each other and with tiktoken built from the official ranks."""

import tiktoken
from hypothesis import given
from hypothesis import strategies as st

from qtok.encodings import qwen


def official():
    # The table qwen() builds is byte-identical to the official qwen.tiktoken (test_load proves
    # it by sha256), so tiktoken built from it is tiktoken built from the official file.
    spec = qwen()
    return tiktoken.Encoding("qwen-official", pat_str=spec.pat_str,
                             mergeable_ranks=spec.mergeable_ranks, special_tokens=spec.special_tokens)


OFFICIAL = official()


@given(st.text())
def test_round_trip_both_engines(qwen_fast, qwen_ref, s):
    clean = s.encode("utf-8", "replace").decode("utf-8") if any(
        0xD800 <= ord(c) <= 0xDFFF for c in s) else s
    assert qwen_fast.decode(qwen_fast.encode(s)) == clean
    assert qwen_ref.decode(qwen_ref.encode(s)) == clean


@given(st.text())
def test_engines_equal_on_text(qwen_fast, qwen_ref, s):
    ids = qwen_fast.encode(s)
    assert qwen_ref.encode(s) == ids
    assert OFFICIAL.encode_ordinary(s) == ids


@given(st.binary(), st.sampled_from(["replace", "surrogateescape", "latin-1"]))
def test_engines_equal_on_binary_derived_text(qwen_fast, qwen_ref, data, how):
    s = data.decode("latin-1") if how == "latin-1" else data.decode("utf-8", how)
    assert qwen_ref.encode(s) == qwen_fast.encode(s)


@given(st.lists(st.sampled_from(["<|endoftext|>", "<|im_start|>", "<|extra_7|>", "a", " ", "\n",
                                 "12", "你好", "'s", "<|", "|>"])))
def test_engines_equal_with_specials(qwen_fast, qwen_ref, parts):
    s = "".join(parts)
    for allowed in ("all", ()):
        assert qwen_ref.encode(s, allowed_special=allowed) == qwen_fast.encode(s, allowed_special=allowed)
    assert qwen_fast.encode(s, allowed_special="all") == OFFICIAL.encode(s, allowed_special="all")


def test_multilingual_sample(qwen_fast, qwen_ref, multilingual):
    for lang, text in multilingual.items():
        ids = OFFICIAL.encode_ordinary(text)
        assert qwen_fast.encode(text) == ids, lang
        assert qwen_ref.encode(text) == ids, lang
        assert qwen_ref.decode(ids) == text


def test_whitespace_and_digit_edge_cases(qwen_fast, qwen_ref):
    for s in ["   ", "\r\n\r\n", " \n \n", "a  b", "x\t\ty", "3.14159", "１２３", "٣٤٥",
              "don't", "DON'T", "'ſ", "\u3000\u3000a", "\x0b\x0c\x1c\x85", "a\u2028b"]:
        assert qwen_ref.encode(s) == qwen_fast.encode(s) == OFFICIAL.encode_ordinary(s), repr(s)


@given(st.text())
def test_cl100k_engines_equal_tiktoken(s):
    from qtok import get_tokenizer
    from qtok.encodings import cl100k_base

    spec = cl100k_base()
    want = _cl100k_official(spec).encode_ordinary(s)
    assert get_tokenizer("cl100k_base").encode(s) == want
    assert get_tokenizer("cl100k_base", engine="reference").encode(s) == want


_CL100K = {}


def _cl100k_official(spec):
    if "enc" not in _CL100K:
        _CL100K["enc"] = tiktoken.Encoding("cl100k-official", pat_str=spec.pat_str,
                                           mergeable_ranks=spec.mergeable_ranks,
                                           special_tokens=spec.special_tokens)
    return _CL100K["enc"]
