"""Every engine splits text exactly as tiktoken's Rust regex does, on every code point."""

import pytest
import regex
import tiktoken
from hypothesis import given
from hypothesis import strategies as st

from qtok.load import load_data_json

CONTEXTS = ["{}", "a{}b", " {}x", "1{}2", "'{}", "{}{}", " {} "]


def test_vendored_classes_match_installed_tiktoken():
    # If a tiktoken upgrade moves its Unicode tables, this fails and says to re-run derive.py.
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    table = load_data_json("unicode_classes.json")
    byte_ranks = {bytes([i]): i for i in range(256)}
    for name, pattern in [("L", r"\p{L}"), ("N", r"\p{N}"), ("M", r"\p{M}"), ("White_Space", r"\s")]:
        enc = tiktoken.Encoding(f"probe-{name}", pat_str=pattern, mergeable_ranks=byte_ranks,
                                special_tokens={})
        got = {ord(c) for c in enc.decode(enc.encode_ordinary(every))}
        want = {cp for lo, hi in table[name] for cp in range(lo, hi + 1)}
        assert got == want, f"re-run: python qtok/data/derive.py unicode ({name} differs)"


def test_nfc_as_hf_is_tokenizers_nfc_on_every_code_point():
    # The Qwen2+ family's NFC is Hugging Face's (older Unicode tables than Python's): a new
    # tokenizers with new tables fails here and says to re-run derive.py.
    import unicodedata

    from tokenizers.normalizers import NFC

    from qtok.unicode import nfc_as_hf

    hf = NFC()
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    differs = 0
    for context in ("{c}", "a{c}\u0301", "a\u0301{c}", "e{c}\u0316", "\u0338{c}", "{c}{c}\u0301"):
        # One call per context: a newline is a starter that composes with nothing, so the lines
        # normalize independently.
        text = "\n".join(context.format(c=c) for c in every)
        assert nfc_as_hf(text) == hf.normalize_str(text), f"re-run: python qtok/data/derive.py unicode ({context!r})"
        differs += unicodedata.normalize("NFC", text) != text
    assert differs  # the contexts do exercise NFC


def test_the_reference_engines_classes_are_tiktokens_on_every_code_point():
    """Qwen's pattern's classes as the reference engine rewrites them match exactly the code
    points of tiktoken's (the vendored tables are checked against tiktoken above): so the
    reference engine can only split differently where the two tables dispute a code point,
    which the sweep below covers in every context."""
    import regex

    from qtok.encodings import QWEN_PATTERN
    from qtok.unicode import _class_escapes, portable_pattern, tiktoken_class

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for escape in _class_escapes(QWEN_PATTERN):
        assert set(map(ord, regex.findall(portable_pattern(escape), every))) == tiktoken_class(escape), escape


@pytest.mark.slow
@pytest.mark.parametrize("context", CONTEXTS)
def test_every_code_point_splits_like_tiktoken(qwen_fast, qwen_tiktoken, qwen_ref, context):
    """fast on every code point; the reference engine (pure Python, 4x the time) on every code
    point whose class regex's and tiktoken's Unicode tables dispute (its classes are proven on
    every code point above)."""
    from qtok.encodings import QWEN_PATTERN
    from qtok.unicode import _class_escapes, _differences

    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    disputed = sorted({c for esc in _class_escapes(QWEN_PATTERN) for side in _differences(esc) for c in side})
    assert len(disputed) > 4000
    for tok, cps in ((qwen_fast, code_points), (qwen_ref, disputed)):
        chunk = 16384
        for start in range(0, len(cps), chunk):
            text = "\n".join(context.format(chr(c), chr(c)) for c in cps[start : start + chunk])
            if tok.encode(text) != qwen_tiktoken.encode(text):
                for c in cps[start : start + chunk]:  # find the culprit, for a readable failure
                    s = context.format(chr(c), chr(c))
                    assert tok.encode(s) == qwen_tiktoken.encode(s), f"{tok.engine_name}: U+{c:04X} in {context!r}"
                pytest.fail(f"chunk at U+{cps[start]:04X} differs only in context")


def test_known_disputed_code_points(qwen_fast, qwen_tiktoken, qwen_ref):
    # Letters for the regex package's newer Unicode, not for tiktoken's (and vice versa).
    for cp in (0x088F, 0x0C5C, 0x10940, 0x1E5D0, 0x2FFFD):
        for context in CONTEXTS:
            s = context.format(chr(cp), chr(cp))
            assert qwen_ref.encode(s) == qwen_fast.encode(s) == qwen_tiktoken.encode(s), hex(cp)


MARK_TEXTS = st.text(st.sampled_from(
    [chr(c) for c in range(0x300, 0x370)] + list("\u0f73\u0344\u0958é\u1100\u1161\u11a8a \u05b0\u0591\u1df6\ufb1d\u2126")),
    min_size=30, max_size=300)


@given(text=MARK_TEXTS, form=st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_bounded_normalize_is_unicodedatas(text, form):
    import unicodedata

    from qtok.unicode import normalize

    assert normalize(form, text) == unicodedata.normalize(form, text)


def test_long_runs_of_marks_never_reach_the_quadratic_ordering(monkeypatch):
    """CPython orders a run of combining marks by insertion sort: 64,000 marks of two classes
    took 6.2 s under compat="hf" (1 MB: minutes). Every normalizing path must order long runs
    itself first; here unicodedata refuses to see a long run out of canonical order."""
    import unicodedata

    import qtok
    from qtok import unicode as qu

    real = unicodedata.normalize

    def strict(form, text):
        runs = qu._non_starters()[1].findall(text)
        assert all(len(r) < 1000 or list(r) == sorted(r, key=unicodedata.combining) for r in runs), \
            "a long run of marks reached unicodedata.normalize unordered"
        return real(form, text)

    monkeypatch.setattr(qu.unicodedata, "normalize", strict)
    text = "a" + "\u0301" * 32000 + "\u0316" * 32000
    want = "\u00e1" + "\u0316" * 32000 + "\u0301" * 31999  # á, then the marks in class order
    assert qu.normalize("NFC", text) == want
    for name in ("qwen", "qwen3", "qwen3.5"):
        tok = qtok.get_tokenizer(name, compat="hf")
        assert tok.decode(tok.encode(text)) == want
    assert qtok.get_tokenizer("qwen").decode(qtok.encode_chat([{"role": "user", "content": text}])).count("\u0316") == 32000


def test_the_mark_run_screen_lets_every_non_starter_through():
    # normalize() skips its exact table when this screen finds no long run: it must match every
    # character whose decomposition begins with a non-starter in Python's tables.
    import unicodedata

    from qtok import unicode as qu

    screen = regex.compile(qu._MARK_RUN.pattern.rsplit("{", 1)[0])
    leading = [chr(c) for c in range(0x110000) if unicodedata.combining(chr(c)) or (
        unicodedata.decomposition(chr(c)) and unicodedata.combining(unicodedata.normalize("NFKD", chr(c))[0]))]
    assert len(leading) > 900 and all(screen.match(c) for c in leading)


# Texts of characters that compose with what precedes them (marks, Hangul jamo, Indic vowel
# signs that are starters), their partners, the characters NFKC changes, and marks that compose
# with nothing but must stay in canonical order (Thai, Hebrew, a virama).
COMPOSING = st.text(st.sampled_from(
    list("aeAE\u1100\u1161\u11a8\uac00\uac01\u0915\u093c\u0b47\u0b3e\u0bc6\u0bbe\u0dd9\u0dcf\u1025\u102e"
         "\u0301\u0308\u0338=<\u00c5\u212b\ufb01\u2460\uff48\u00a0\u3000\u0958\u0344\u1b05\u1b35"
         "\u0e01\u0e38\u0e48\u05d0\u0591\u05b0\u05b7\u094d")),
    max_size=12)


@given(text=COMPOSING, form=st.sampled_from(["NFC", "NFKC"]))
def test_surely_normalized_is_never_wrong(text, form):
    import unicodedata

    from qtok.unicode import surely_normalized

    if surely_normalized(form, [text, "plain"]):
        assert unicodedata.is_normalized(form, text)


def test_no_two_characters_that_compose_pass_the_stable_table(multilingual):
    """Every canonical decomposition into two characters (what NFC composes), Hangul's by rule
    included: the pair is never taken for normalized by the table when it is not; and the table
    answers for real text (the embedded UDHR in 18 languages, in NFC)."""
    import unicodedata

    from qtok.unicode import stable_table, surely_normalized

    pairs = [(chr(c), d.split()) for c, d in ((c, unicodedata.decomposition(chr(c))) for c in range(0x110000))
             if d and d[0] != "<" and len(d.split()) == 2]
    texts = ["".join(chr(int(x, 16)) for x in parts) for _, parts in pairs]
    texts += ["\u1100\u1161", "\uac00\u11a8", "\u1112\u1161\u11ab"]
    assert len(texts) > 900
    for form in ("NFC", "NFKC"):
        for t in texts:
            assert unicodedata.is_normalized(form, t) or not surely_normalized(form, [t]), (form, t)
        table = stable_table(form)
        assert len(table) == 0x10000 and table[ord("a")] and not table[0x0301] and not table[0x1161]
    texts = [unicodedata.normalize("NFC", t) for t in multilingual.values()]
    assert len(texts) == 18 and all(surely_normalized("NFC", [t]) for t in texts)
