"""Offsets and budgets: each token's character span, tiktoken's decode_with_offsets, truncate."""

import pytest
import tiktoken
from helpers import clean
from hypothesis import given
from hypothesis import strategies as st

from qtok import get_tokenizer

# Scripts whose characters Qwen often splits across tokens (CJK, Thai, emoji, combining marks).
SPLITTY = st.text(alphabet=st.sampled_from(list("元价格是你好世界สวัสดี😀👍🏽é\u0301 \n9a")), max_size=60)
TEXTS = st.one_of(st.text(), SPLITTY)




@given(TEXTS)
def test_spans_tile_the_text_in_order(s):
    tok = get_tokenizer("qwen")
    text = clean(s)
    ids, spans = tok.encode_with_offsets(s)
    assert ids == tok.encode(s) and len(spans) == len(ids)
    if not ids:
        return
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (a, b), (c, d) in zip(spans, spans[1:]):
        assert a < b and c < d
        # The next token starts where this one ends, or inside the character they share.
        assert c == b or (c == b - 1 and a <= c)
    # Each token's bytes lie inside its span's text.
    data = text.encode()
    pos = 0
    for t, (a, b) in zip(tok.decode_tokens_bytes(ids), spans):
        start = len(text[:a].encode())
        assert start <= pos and pos + len(t) <= len(text[:b].encode())
        pos += len(t)


@pytest.fixture(scope="module")
def raw_qwen():
    spec = get_tokenizer("qwen").spec
    return tiktoken.Encoding("raw", pat_str=spec.pat_str, mergeable_ranks=spec.mergeable_ranks,
                             special_tokens=spec.special_tokens)


@given(TEXTS)
def test_decode_with_offsets_equals_tiktoken(raw_qwen, s):
    tok = get_tokenizer("qwen")
    ids = tok.encode(s)
    assert tok.decode_with_offsets(ids) == raw_qwen.decode_with_offsets(ids)


@given(TEXTS, st.integers(0, 30))
def test_truncate_is_the_first_tokens_cut_between_characters(s, n):
    tok = get_tokenizer("qwen")
    text, ids, cut = clean(s), tok.encode(s), tok.truncate(s, n)
    if len(ids) <= n:
        assert cut == s
        return
    # Brute force: the longest prefix, in whole characters, of the first n tokens' bytes.
    head = tok.decode_bytes(ids[:n])
    want = max((text[:i] for i in range(len(text) + 1) if head.startswith(text[:i].encode())), key=len)
    assert cut == want and text.startswith(cut)


def test_truncate_on_readme_windows_matches_the_brute_force():
    """The red team's case: 12-word windows of README.md, every budget (1,129 of 9,754 were
    wrong when truncate bisected on counts, which are not monotonic in the prefix)."""
    from pathlib import Path

    tok = get_tokenizer("qwen")
    words = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split()
    for start in range(0, 1200, 12):
        text = " ".join(words[start:start + 12])
        ids = tok.encode(text)
        for n in range(len(ids) + 1):
            head = tok.decode_bytes(ids[:n])
            want = max((text[:i] for i in range(len(text) + 1) if head.startswith(text[:i].encode())), key=len)
            assert tok.truncate(text, n) == want, (text, n)
    assert tok.truncate("truncated", 1) == tok.decode(tok.encode("truncated")[:1])


def test_truncate_never_cuts_a_character_and_checks_its_budget():
    tok = get_tokenizer("qwen")
    assert tok.truncate("价格是 42 元", 3) in ("价格是", "价格是 ")
    with pytest.raises(ValueError, match="max_tokens"):
        tok.truncate("x", -1)


def test_offsets_of_a_long_text_cost_the_spans_not_a_table_per_byte():
    import tracemalloc

    tok = get_tokenizer("qwen", engine="fast")
    text = "The quick brown fox 价格 42 元 สวัสดี " * 30_000  # ~1.3 MB
    tok.encode_with_offsets(text[:1000])
    tracemalloc.start()
    ids, spans = tok.encode_with_offsets(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The ids and the spans are kept (~150 bytes a token); a table per byte of text was ~40 bytes
    # a byte more, and a list of every token's bytes ~60 bytes a token more.
    assert peak < 170 * len(ids), (peak, len(ids), len(text.encode()))
