"""The reference engine's BPE: the heap-driven merge equals the textbook quadratic one."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtok.bpe import bpe_merge


def naive_bpe(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """The definition, minbpe-style: merge the lowest-ranked adjacent pair, leftmost on ties."""
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return [ranks[p] for p in parts]
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


def test_small_table():
    ranks = {b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"abc": 4, b"bc": 5}
    assert bpe_merge(b"abcab", ranks) == [4, 3]
    # 'ab' (3) beats 'bc' (5), then 'abc' exists.
    assert bpe_merge(b"abc", ranks) == [4]
    assert bpe_merge(b"", ranks) == []
    assert bpe_merge(b"c", ranks) == [2]


def test_ties_go_leftmost():
    ranks = {b"a": 0, b"aa": 1}
    assert bpe_merge(b"aaa", ranks) == [1, 0]


@given(st.binary(max_size=40))
def test_heap_equals_naive_on_qwen(qwen_ref, data):
    ranks = qwen_ref.mergeable_ranks
    assert bpe_merge(data, ranks) == naive_bpe(data, ranks)


def test_heap_equals_naive_on_random_tables():
    rng = random.Random(0)
    for _ in range(200):
        alphabet = [bytes([b]) for b in range(4)]
        tokens = list(alphabet)
        while len(tokens) < 12:
            t = rng.choice(tokens) + rng.choice(tokens)
            if t not in tokens:
                tokens.append(t)
        ranks = {t: i for i, t in enumerate(tokens)}
        piece = bytes(rng.randrange(4) for _ in range(rng.randrange(1, 30)))
        assert bpe_merge(piece, ranks) == naive_bpe(piece, ranks), (tokens, piece)


def test_merge_steps_show_the_merges(qwen_ref):
    steps = qwen_ref.engine.merge_steps(" hello")
    assert steps[0] == [b" ", b"h", b"e", b"l", b"l", b"o"]
    assert steps[-1] == [b" hello"]
    assert all(len(b) == len(a) - 1 for a, b in zip(steps, steps[1:]))
    assert all(b"".join(s) == b" hello" for s in steps)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["repeated", "cjk"])
def test_pathological_megabyte_is_not_quadratic(qwen_fast, qwen_ref, kind):
    import time

    rng = random.Random(1)
    if kind == "repeated":
        text = "x" * 1_000_000
    else:  # 1 MB of random CJK ideographs, no spaces: one piece of a million bytes
        text = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(333_334))
    start = time.perf_counter()
    ids = qwen_ref.encode(text)
    elapsed = time.perf_counter() - start
    assert ids == qwen_fast.encode(text)
    assert qwen_ref.decode(ids) == text
    # Not a speed assertion: a quadratic merge would take hours, so a minute is a safe bound.
    assert elapsed < 60
