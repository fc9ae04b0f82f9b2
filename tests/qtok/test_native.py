"""qtok._native, the trainer's C loops: the same pieces and the same learned tables as the
pure-Python path (``regex`` and the dict-and-heap loop of ``extend_counts``).

The extension is built by ``pip install`` wherever a C compiler is, CI's machine included: the
first test fails there if it was not, rather than letting the rest compare Python with itself.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtok import parity, train
from qtok.encodings import CL100K_PATTERN, QWEN3_5_PATTERN, QWEN_PATTERN, is_multi_digit
from qtok.unicode import CLASS_BITS, class_table, tiktoken_class

BYTES = {bytes([i]): i for i in range(256)}
PATTERNS = [QWEN_PATTERN, CL100K_PATTERN, QWEN3_5_PATTERN]
# Characters where the hand-written pattern has a branch: the contractions (and U+017F, a long s
# that folds to s), newlines among other spaces, a space before punctuation, digits of several
# scripts, combining marks (letters for Qwen3.5, punctuation for Qwen-1), letters of several
# scripts, U+180E (a space to PCRE2, not to tiktoken), an unassigned code point.
TRICKY = list("'sStTrReEvVmMlLdDſ \t\r\n\x0b\x0c\u00a0\u3000.,!?-_\"()[]{}#$%&*+/:;<=>@\\^`|~"
              "09٣५๓²½Ⅻ\u0301\u0300\u0e31\u093fabcxyzéßДЖяΩ中文字한국어ไทยกขअआ\u180e\U000e0100\U0010fffd")


def python_count(texts, pat):
    return train._count_python(texts, pat)


def python_table(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(train, "_native", None)
        return train.extend(*args, **kwargs)


def test_the_extension_is_built():
    assert train._native is not None, "qtok._native was not built: pip install needs a C compiler"


def test_class_table_is_tiktokens_classes():
    table = class_table()
    for escape, bit in CLASS_BITS.items():
        members = tiktoken_class(escape)
        assert {cp for cp in range(0x110000) if table[cp] & bit} == members, escape


@pytest.mark.parametrize("pat", PATTERNS, ids=["qwen", "cl100k", "qwen3.5"])
def test_counts_equal_on_real_text(pat, multilingual):
    texts = list(multilingual.values())
    assert train.count_pieces(texts, pat) == python_count(texts, pat)


@given(st.lists(st.one_of(st.text(), st.text(alphabet=TRICKY, max_size=80)), max_size=6),
       st.sampled_from(PATTERNS))
def test_counts_equal_on_generated_text(texts, pat):
    assert train.count_pieces(texts, pat) == python_count(texts, pat)


def test_counts_every_class_in_context():
    # The C splitter reads a character through its class byte (proven above on every code point)
    # and a few ASCII characters by value. So: 40 code points of every class combination there is,
    # all of ASCII and TRICKY, each in the contexts the pattern's alternatives look at (alone,
    # after a space, doubled, before a newline, after an apostrophe, between letters, before a
    # digit), and every ordered pair of one of each.
    table = class_table()
    by_class: dict[int, list[int]] = {}
    for cp in range(0x110000):
        if not 0xD800 <= cp <= 0xDFFF:
            by_class.setdefault(table[cp], []).append(cp)
    reps = sorted({cp for members in by_class.values() for cp in members[:: max(1, len(members) // 40)]}
                  | set(range(128)) | {ord(c) for c in TRICKY})
    one_each = [chr(members[len(members) // 2]) for members in by_class.values()] + TRICKY
    texts = ["".join(f"{c} {c}{c}\n'{c}a{c}b1{c}  " for c in map(chr, reps)),
             "".join(a + b for a in one_each for b in one_each)]
    for pat in PATTERNS:
        assert train.count_pieces(texts, pat) == python_count(texts, pat)


def test_lone_surrogates_and_non_str():
    texts = ["abc \ud800def", "plain text"]
    assert train.count_pieces(texts) == python_count(texts, QWEN_PATTERN)
    with pytest.raises(TypeError, match="texts must be str, got bytes"):
        train.count_pieces([b"abc"])


def test_a_stream_of_texts_in_batches(monkeypatch, multilingual):
    monkeypatch.setattr(train, "_BATCH_CHARS", 1000)  # many batches, merged
    texts = list(multilingual.values())
    assert train.count_pieces(iter(texts)) == python_count(texts, QWEN_PATTERN)


def test_learned_tables_equal_on_real_text(monkeypatch, multilingual):
    texts = [multilingual[lang] for lang in ("th", "ko", "vi", "ru", "zh", "ar")]
    assert train.extend("cl100k_base", texts, 400) == python_table(monkeypatch, "cl100k_base", texts, 400)
    assert (train.extend("cl100k_base", texts, 100, drop=is_multi_digit)
            == python_table(monkeypatch, "cl100k_base", texts, 100, drop=is_multi_digit))


def test_long_pieces_and_tokens_bpe_cannot_reach(monkeypatch):
    # A 5,000-letter piece takes the O(n log n) BPE; "abc" is a base token that bytes cannot
    # merge into (no "ab", no "bc"), so the pair (ab, c) is refused and never offered again; a
    # piece that is a token whole is that token; a lone surrogate is encoded by the engine.
    base = BYTES | {b"abc": 256, b"xy": 257}
    texts = ["abc abc abc abcd abcd " + "xyxyxyz" * 700 + " \ud800ab \ud800ab"]
    for n in (1, 3, 10):
        assert train.extend(base, texts, n) == python_table(monkeypatch, base, texts, n)
    assert b"abc" not in {t for t, r in train.extend(base, texts, 10).items() if r > 257}


@given(st.lists(st.text(alphabet="aabbc \n'sé中", max_size=40), min_size=1, max_size=8),
       st.integers(1, 30))
def test_learned_tables_equal_on_generated_text(texts, n):
    if not any(t for t in texts):
        return
    with pytest.MonkeyPatch.context() as m:
        native = train.extend(BYTES, texts, n)
        m.setattr(train, "_native", None)
        assert native == train.extend(BYTES, texts, n)


def python_parity(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(train, "_native", None)
        return parity.extend_parity(*args, **kwargs)


@pytest.mark.parametrize("global_merges", [0, 40], ids=["parity", "hybrid:40"])
def test_parity_tables_equal_on_real_text(monkeypatch, multilingual, global_merges):
    # Training and development halves of each language, as the experiment splits them.
    train_texts = {lang: [t[: len(t) // 2]] for lang, t in multilingual.items()}
    dev_texts = {lang: [t[len(t) // 2 :]] for lang, t in multilingual.items()}
    kw = dict(global_merges=global_merges, drop=is_multi_digit)
    assert (parity.extend_parity("cl100k_base", train_texts, dev_texts, 200, **kw)
            == python_parity(monkeypatch, "cl100k_base", train_texts, dev_texts, 200, **kw))


@given(st.dictionaries(st.sampled_from("abcd"), st.text(alphabet="aabbc \n'sé中", max_size=40), min_size=1,
                       max_size=4),
       st.integers(1, 20), st.integers(0, 5))
def test_parity_tables_equal_on_generated_text(texts, n, global_merges):
    if not any(texts.values()):
        return  # an empty corpus is refused (test_parity)
    train_texts = {lang: [t] for lang, t in texts.items()}
    dev_texts = {lang: [t[::-1] + "ab"] for lang, t in texts.items()}  # parallel-ish, never empty
    with pytest.MonkeyPatch.context() as m:
        native = parity.extend_parity(BYTES, train_texts, dev_texts, n, global_merges=global_merges)
        m.setattr(train, "_native", None)
        assert native == parity.extend_parity(BYTES, train_texts, dev_texts, n, global_merges=global_merges)


def test_tables_of_several_threads_merge_to_the_same_counts(monkeypatch, multilingual):
    # One table a core, merged at the end: three "cores" here whatever the machine has.
    monkeypatch.setattr(train.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    texts = [t[i : i + 500] for t in multilingual.values() for i in range(0, len(t), 500)]
    assert train.count_pieces(texts) == python_count(texts, QWEN_PATTERN)
    assert train.extend("cl100k_base", texts, 50) == python_table(monkeypatch, "cl100k_base", texts, 50)


def test_a_megabyte_without_a_space(monkeypatch):
    # One piece of a megabyte: counted in one pass, encoded by the O(n log n) BPE, merged; and on
    # a smaller one of the same kind, the same table as the Python path.
    big = ["กขค" * 300_000 + "x" * 100_000]
    assert len(train.extend("cl100k_base", big, 3)) == 100_256 + 3
    small = ["กขค" * 3_000 + "x" * 1_000, "ab" * 5_000]
    assert train.extend("cl100k_base", small, 5) == python_table(monkeypatch, "cl100k_base", small, 5)
