"""Real-world pre-tokenization patterns (cl100k_base = Llama-3's, o200k_base, GPT-2, Qwen3.5's,
and users' variants with capturing groups or POSIX classes) give tiktoken's ids on every engine,
or are refused on load in one line (tests/qtok/test_validation.py)."""

import json

import pytest
import regex
import tiktoken

from qtok import get_tokenizer
from qtok.encodings import CL100K_PATTERN, cl100k_base
from qtok.load import dump_ranks
from qtok.train import count_pieces, extend
from qtok.unicode import _class_escapes, _differences, _walk, portable_pattern, tiktoken_class

ENGINES = ("fast", "tiktoken", "reference")
O200K = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+""",
])
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# (Qwen's and Qwen3.5's are swept on every engine in test_unicode.py and test_family.py.)
PATTERNS = {"cl100k_base (= Llama-3)": CL100K_PATTERN, "o200k_base": O200K, "gpt2": GPT2}
# Users' spellings: capturing groups (tiktoken takes whole matches), POSIX classes (ASCII-only
# in tiktoken's Rust regex; Unicode in Python's regex and in PCRE2).
GROUPED = GPT2.replace(r"\s+(?!\S)", r"(\s+(?!\S))")
TWO_GROUPS = GROUPED.replace("'s|'t|'re|'ve|'m|'ll|'d", "('s|'t|'re|'ve|'m|'ll|'d)")
POSIX = r"[[:alpha:]]+|[[:digit:]]|[^[:alpha:][:digit:]\s]+|\s+"
SAMPLES = ["Hello   world, it's 42!", "x\u088f'd", "a   \u180e", "\u180e's", "héllo WORLD Straße",
           "ÉCOLE naïve 12345 ½", "Привет мир", "你好，世界", "नमस्ते", "  \n\n x \t"]


@pytest.fixture(scope="module")
def ranks():
    return cl100k_base().mergeable_ranks


def _file(tmp_path, ranks, pattern, name="mine"):
    """A rank file (cl100k_base's ranks) whose sidecar names the pattern."""
    path = tmp_path / f"{name}.tiktoken"
    path.write_bytes(dump_ranks(ranks))
    (tmp_path / f"{name}.tiktoken.json").write_text(json.dumps({"pat_str": pattern}))
    return str(path)


@pytest.mark.parametrize("pattern", [GROUPED, TWO_GROUPS, POSIX, O200K, GPT2], ids=["group", "two-groups", "posix", "o200k", "gpt2"])
def test_every_engine_gives_tiktokens_ids_and_explains_the_text(tmp_path, ranks, pattern):
    oracle = tiktoken.Encoding("oracle", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    path = _file(tmp_path, ranks, pattern)
    for engine in ENGINES:
        tok = get_tokenizer(path, engine=engine)
        for text in SAMPLES:
            want = oracle.encode_ordinary(text)
            assert tok.encode(text) == want, (engine, text)
            pieces = tok.explain(text)
            assert "".join(p.text for p in pieces) == text
            assert [i for p in pieces for i in p.ids] == want


def test_groups_count_whole_pieces_in_training():
    # With a group findall returned the groups: the trainer once learned "(0 new)" tokens.
    texts = ["Hello   world, it's 42!  again   and again"] * 3
    assert count_pieces(texts, TWO_GROUPS) == count_pieces(texts, GPT2)
    base = {bytes([i]): i for i in range(256)}
    assert extend(base, texts, 5, pat_str=TWO_GROUPS) == extend(base, texts, 5, pat_str=GPT2)


@pytest.mark.parametrize("pattern", [O200K, POSIX, r"\d+|\w+|\W"], ids=["o200k", "posix", "d-w"])
def test_the_reference_classes_are_tiktokens_on_every_code_point(pattern):
    # Each class the pattern uses, as the reference engine rewrites it, matches exactly the code
    # points tiktoken's class does (o200k's \p{Lu} once differed on 5,711 sampled code points).
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    classes = {text for kind, text in _walk(pattern) if kind in ("class", "negated")}
    assert classes
    for escape in classes:
        ours = set(map(ord, regex.findall(portable_pattern(escape), every)))
        assert ours == tiktoken_class(escape), escape
    if "[:" in pattern:  # POSIX classes are ASCII to tiktoken
        assert regex.findall(portable_pattern("[[:alpha:]]+"), "héllo") == ["h", "llo"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PATTERNS))
def test_real_world_patterns_on_every_code_point(tmp_path, ranks, name):
    """The fast engine on every code point (U+180E once split differently: PCRE2's \\s); the
    reference engine, whose classes are proven above on every code point, on each code point
    whose class the two Unicode versions dispute, in three contexts."""
    pattern = PATTERNS[name]
    oracle = tiktoken.Encoding("oracle", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    path = _file(tmp_path, ranks, pattern)
    code_points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    disputed = sorted({chr(c) for esc in _class_escapes(pattern) for side in _differences(esc) for c in side})
    assert len(disputed) > 1000  # regex's Unicode is newer than tiktoken's
    for engine, contexts, chars in (("fast", ("a   {}'s x{}y",), code_points),
                                    ("reference", ("a   {}'s x{}y", "{}{} 1{}", "\n{}\t{}A"), disputed)):
        tok = get_tokenizer(path, engine=engine)
        for context in contexts:
            text = "\n".join(context.format(c, c, c) for c in chars)
            if tok.encode(text) != oracle.encode_ordinary(text):
                bad = next(c for c in chars
                           if tok.encode(context.format(c, c, c)) != oracle.encode_ordinary(context.format(c, c, c)))
                pytest.fail(f"{engine}: U+{ord(bad):04X} in {context!r}")
