"""qtok train: extension tokens learned on top of a base vocabulary."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qtok import get_tokenizer
from qtok.encodings import cl100k_base, is_multi_digit
from qtok.load import DataFileError
from qtok.train import extend, write_extension

BYTES = {bytes([i]): i for i in range(256)}


def new_tokens(ranks, n_base):
    return [t for t, r in sorted(ranks.items(), key=lambda kv: kv[1]) if r >= n_base]


def test_textbook_example_from_bytes():
    # Wikipedia's example: aa -> Z, ab -> Y, ZY -> X, so aaabdaaabac -> XdXac.
    ranks = extend(BYTES, ["aaabdaaabac"], 3)
    assert new_tokens(ranks, 256) == [b"aa", b"ab", b"aaab"]
    tok = get_tokenizer_for(ranks)
    assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]


def get_tokenizer_for(ranks, tmp=None):
    from qtok.core import Tokenizer
    from qtok.encodings import QWEN_PATTERN, EncodingSpec

    return Tokenizer(EncodingSpec("t", QWEN_PATTERN, ranks, {"<|endoftext|>": len(ranks)}))


@pytest.fixture(scope="module")
def trained(multilingual):
    texts = [multilingual[lang] for lang in ("th", "ko", "vi", "ru")]
    return texts, extend("cl100k_base", texts, 300)


def test_base_ranks_unchanged_and_new_tokens_are_merges(trained):
    _, ranks = trained
    base = cl100k_base().mergeable_ranks
    assert all(ranks[t] == r for t, r in base.items())
    assert len(ranks) == len(base) + 300
    for token in new_tokens(ranks, len(base)):
        r = ranks[token]
        assert any(ranks.get(token[:i], r) < r and ranks.get(token[i:], r) < r for i in range(1, len(token))), token


def test_round_trip_both_engines_and_better_compression(trained, tmp_path):
    texts, ranks = trained
    path = tmp_path / "ext.tiktoken"
    write_extension(path, ranks, base="cl100k_base", n_new_requested=300)
    fast, ref = get_tokenizer(str(path)), get_tokenizer(str(path), engine="reference")
    base = get_tokenizer("cl100k_base")
    for text in texts:
        ids = fast.encode(text)
        assert ref.encode(text) == ids
        assert fast.decode(ids) == text == ref.decode(ids)
        assert len(ids) < len(base.encode(text))
    assert fast.eot_token == len(ranks)


def test_drop_renumbers_like_qwen():
    ranks = extend("cl100k_base", ["ฆฆฆ ฆฆฆ ฆฆฆ 123"], 1, drop=is_multi_digit)
    assert not any(is_multi_digit(t) for t in ranks)
    assert sorted(ranks.values()) == list(range(len(ranks))) and len(ranks) == 99_156 + 1


def test_deterministic(tmp_path, multilingual):
    for name in ("a", "b"):
        write_extension(tmp_path / f"{name}.tiktoken", extend("cl100k_base", [multilingual["ko"]], 50),
                        base="cl100k_base", n_new_requested=50)
    assert (tmp_path / "a.tiktoken").read_bytes() == (tmp_path / "b.tiktoken").read_bytes()


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="n_new must be a positive int"):
        extend(BYTES, ["abc"], 0)
    with pytest.raises(ValueError, match="corpus is empty"):
        extend(BYTES, [""], 5)
    with pytest.raises(ValueError, match="the base vocabulary: 255 of the 256 single bytes are not tokens"):
        extend({b"a": 0}, ["a"], 1)
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("this is not a rank file\n")
    with pytest.raises(DataFileError, match="line 1"):
        extend(str(bad), ["abc"], 1)


_UDHR = Path(__file__).resolve().parents[2] / "analysis" / "data" / "udhr"
# Characters of the training texts, so that generated strings reach the learned tokens.
_ALPHABET = sorted(set("".join((_UDHR / f"{lang}.txt").read_text(encoding="utf-8") for lang in ("th", "ko", "vi", "ru"))))


@given(st.one_of(st.text(), st.text(alphabet=_ALPHABET, max_size=200)))
def test_engines_agree_on_a_trained_table(trained_tokenizers, s):
    fast, tik, ref = trained_tokenizers
    assert ref.encode(s) == fast.encode(s) == tik.encode(s)


@pytest.fixture(scope="module")
def trained_tokenizers(trained):
    from qtok.core import Tokenizer
    from qtok.encodings import QWEN_PATTERN, EncodingSpec

    spec = EncodingSpec("trained", QWEN_PATTERN, trained[1], {"<|endoftext|>": len(trained[1])})
    return tuple(Tokenizer(spec, engine=e) for e in ("fast", "tiktoken", "reference"))


def test_tie_rule_is_the_smallest_left_right_tuple():
    # (a, bc) = (97, 256) and (b, d) = (98, 100) both occur twice; the tuple rule picks (97, 256)
    # although 256 is newer than 98 and 100: the docstring says so.
    base = BYTES | {b"bc": 256}
    ranks = extend(base, ["abc\nbd\nabc\nbd"], 1)
    assert new_tokens(ranks, 257) == [b"abc"]
    ranks = extend(base, ["abc\nbd\nabc\nbd\nbd"], 1)  # with a clear winner the count decides
    assert new_tokens(ranks, 257) == [b"bd"]
