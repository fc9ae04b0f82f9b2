"""Make a pre-tokenization pattern mean, under Python's ``regex``, what it means under tiktoken.

Why: tiktoken matches ``pat_str`` with Rust's regex crate, whose Unicode tables are an older
Unicode version than the ``regex`` package's. The two disagree on whether thousands of recently
assigned code points are letters or numbers (measured with regex 2026.5.9 against tiktoken 0.14:
4,644 code points are ``\\p{L}`` for ``regex`` only, 13 are ``\\p{N}``), and each disagreement
splits a text into different pieces, hence different ids. So the reference engine never uses
the ``regex`` package's own tables for these classes: ``\\p{L}``, ``\\p{N}``, ``\\p{M}`` (Qwen3.5's
pattern), ``\\s`` and ``\\S`` are
corrected to the code points listed in ``data/unicode_classes.json``, which
``data/derive.py unicode`` probed from tiktoken. The test suite re-probes the installed tiktoken,
so an upgrade that moves its tables fails loudly instead of silently.
"""

from __future__ import annotations

import functools
import unicodedata

import regex

from .load import load_data_json

try:  # built by setup.py wherever a C compiler is
    from . import _native
except ImportError:
    _native = None

# Class escapes whose tiktoken tables are vendored (probed by derive.py); any other class a
# pattern uses (\p{Lu}, \d, \w...) is probed from the installed tiktoken once and cached.
_VENDORED = {r"\p{L}": "L", r"\p{N}": "N", r"\p{M}": "M", r"\s": "White_Space"}
# The negated escapes, as the positive one they complement.
_NEGATED = {r"\S": r"\s", r"\D": r"\d", r"\W": r"\w"}
_CLASS_LETTERS = "sSdDwW"

# POSIX classes inside brackets are ASCII-only in tiktoken's Rust regex (the `regex` package and
# PCRE2 make them Unicode: [[:alpha:]] would take é), so they are rewritten to these ranges.
_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\x00-\x7f", "blank": "\t ",
    "cntrl": "\x00-\x1f\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\t\n\x0b\x0c\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_POSIX_RE = regex.compile(r"\[:(\^?)([a-z]+):\]")


def _ranges_body(code_points, dialect: str = "regex") -> str:
    """The inside of a character class listing code points, e.g. ``\U00000041-\U0000005a``
    (``\\x{41}-\\x{5a}`` for PCRE2)."""
    out, run = [], None
    for cp in sorted(code_points):
        if run and run[1] == cp - 1:
            run[1] = cp
        else:
            run = [cp, cp]
            out.append(run)
    esc = (lambda c: f"\\U{c:08x}") if dialect == "regex" else (lambda c: f"\\x{{{c:x}}}")
    return "".join(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}" for lo, hi in out)


def _posix_members(name: str) -> frozenset[int]:
    body = regex.compile(f"[{_POSIX[name]}]")
    return frozenset(c for c in range(128) if body.match(chr(c)))


def _every() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


@functools.lru_cache(maxsize=None)
def tiktoken_class(escape: str) -> frozenset[int]:
    r"""The code points tiktoken's Rust regex puts in a class escape (``\p{Lu}``, ``\s``, ``\d``):
    the vendored table, else a probe of the installed tiktoken, kept in the user cache."""
    if escape in _VENDORED:
        return frozenset(cp for lo, hi in load_data_json("unicode_classes.json")[_VENDORED[escape]]
                         for cp in range(lo, hi + 1))
    from .engine.tiktoken import probe_class  # the one module that imports tiktoken

    return probe_class(escape)


# The bits of class_table(): one byte per code point.
CLASS_BITS = {r"\p{L}": 1, r"\p{N}": 2, r"\s": 4, r"\p{M}": 8}


@functools.lru_cache(maxsize=1)
def class_table() -> bytes:
    r"""tiktoken's ``\p{L}``, ``\p{N}``, ``\s`` and ``\p{M}`` as one byte per code point
    (``CLASS_BITS``): what the trainer's C piece counter (``qtok._native``) classifies by."""
    table = bytearray(0x110000)
    for escape, bit in CLASS_BITS.items():
        for lo, hi in load_data_json("unicode_classes.json")[_VENDORED[escape]]:
            table[lo : hi + 1] = bytes(b | bit for b in table[lo : hi + 1])
    return bytes(table)


@functools.lru_cache(maxsize=None)
def _differences(escape: str) -> tuple[frozenset[int], frozenset[int]]:
    """(in ``regex``'s class but not tiktoken's, in tiktoken's but not ``regex``'s)."""
    wanted = tiktoken_class(escape)
    native = set(map(ord, regex.findall(escape, _every())))
    return frozenset(native - wanted), frozenset(wanted - native)


def _class_escapes(pat_str: str) -> set[str]:
    r"""The positive class escapes a pattern uses (``\S`` counts as ``\s``)."""
    return {esc for kind, esc in _walk(pat_str) if kind == "class"}


def first_disputed(pat_str: str = r"\p{L}\p{N}\s") -> int:
    """The lowest code point that the two Unicode versions classify differently in a class the
    pattern uses (U+0558 with regex 2026.11 and tiktoken 0.14).

    A text whose every character is below it splits the same under ``regex``'s own tables, so
    the reference engine may use the plain pattern, about 1.7x faster than the corrected one.
    A pattern with a POSIX class has no plain form (``regex`` reads it as Unicode).
    """
    if _POSIX_RE.search(pat_str):
        return 0
    cps = [min(side) for esc in _class_escapes(pat_str) for side in _differences(esc) if side]
    return min(cps, default=0x110000)


def _walk(pat_str: str):
    r"""The pattern as ``(kind, text)`` parts: ``("class", positive escape)`` with
    ``("negated", positive escape)`` for ``\P{..}``/``\S``/``\D``/``\W``, ``("posix", text)``
    for ``[:name:]`` inside brackets, ``("text", text)`` for everything else (other escapes whole,
    so ``\\s``, an escaped backslash and an s, stays text)."""
    i, depth, n = 0, 0, len(pat_str)
    while i < n:
        c = pat_str[i]
        if c == "\\" and i + 1 < n:
            nxt = pat_str[i + 1]
            braced = pat_str.startswith("{", i + 2)
            end = pat_str.find("}", i) + 1 if braced else i + 3
            if nxt in "pP" and end > i + 2 and end <= n:  # (a malformed one is left to the compilers)
                name = pat_str[i + 2:end].strip("{}")
                yield ("class" if nxt == "p" else "negated"), f"\\p{{{name}}}"
                i = end
            elif nxt in _CLASS_LETTERS:
                esc = "\\" + nxt.lower()
                yield ("class" if nxt.islower() else "negated"), esc
                i += 2
            else:
                yield "text", pat_str[i:i + 2]
                i += 2
            continue
        if depth and (m := _POSIX_RE.match(pat_str, i)):
            yield "posix", m.group()
            i = m.end()
            continue
        if c == "[":
            depth += 1
            yield "text", c
            i += 1
            if depth == 1:  # a ']' right after '[' or '[^' is a literal, not the end
                if pat_str.startswith("^", i):
                    yield "text", "^"
                    i += 1
                if pat_str.startswith("]", i):
                    yield "text", "\\]"
                    i += 1
            continue
        if c == "]" and depth:
            depth -= 1
        yield "text", c
        i += 1


@functools.lru_cache(maxsize=None)
def _corrected_set(escape: str) -> str:
    """A V1 set equal to tiktoken's class: ``regex``'s own property, minus and plus the differences.

    Keeping the native property and patching only the differences keeps matching within ~1.7x of
    the plain pattern (a class of hundreds of explicit ranges is ~10x slower in ``regex``).
    """
    removed, added = _differences(escape)
    body = escape
    if removed:
        body = f"[{body}--[{_ranges_body(removed)}]]"
    if added:
        body = f"[{body}[{_ranges_body(added)}]]"
    return body if body.startswith("[") else f"[{body}]"


def _posix_set(text: str, dialect: str) -> str:
    """A POSIX class as tiktoken means it (ASCII), as a nested set the dialect accepts."""
    negate, name = _POSIX_RE.match(text).groups()
    if name not in _POSIX:
        return text  # unknown: left for the engines to refuse, and the check to report
    members = _posix_members(name)
    if negate:
        members = frozenset(range(0x110000)) - members - frozenset(range(0xD800, 0xE000))
    return _ranges_body(members, dialect) if dialect == "pcre2" else f"[{_ranges_body(members)}]"


def portable_pattern(pat_str: str) -> str:
    r"""Rewrite every Unicode class escape (``\p{..}``, ``\P{..}``, ``\s``, ``\d``, ``\w`` and
    their negations) into tiktoken's code-point sets, and POSIX classes into its ASCII ranges.

    The result uses ``regex``'s VERSION1 syntax (nested sets and set difference), with full case
    folding turned back off so that ``(?i:...)`` folds simply, as Rust's regex does. A rewritten
    escape inside a class becomes a nested set, so ``[^\s\p{L}]`` is still one class.
    """
    out: list[str] = ["(?V1)(?-f)"]
    for kind, text in _walk(pat_str):
        if kind == "class":
            out.append(_corrected_set(text))
        elif kind == "negated":
            out.append(f"[^{_corrected_set(text)}]")
        elif kind == "posix":
            out.append(_posix_set(text, "regex"))
        else:
            out.append(text)
    return "".join(out)


def pcre2_pattern(pat_str: str) -> str:
    r"""The pattern for fastokens, whose PCRE2 (Unicode mode) differs from tiktoken's Rust regex
    in two places: ``\s`` takes U+180E (MONGOLIAN VOWEL SEPARATOR, whitespace before Unicode
    6.3), and POSIX classes are Unicode. ``\p{White_Space}`` and explicit ASCII ranges mean the
    same to both regex engines fastokens carries (PCRE2 and fancy-regex, tiktoken's own)."""
    out: list[str] = []
    for kind, text in _walk(pat_str):
        if kind in ("class", "negated") and text == r"\s":
            out.append(r"\p{White_Space}" if kind == "class" else r"\P{White_Space}")
        elif kind == "class":
            out.append(text)
        elif kind == "negated":
            out.append("\\P" + text[2:] if text.startswith("\\p") else text.upper())
        elif kind == "posix":
            out.append(_posix_set(text, "pcre2"))
        else:
            out.append(text)
    return "".join(out)


@functools.lru_cache(maxsize=16)
def compile_portable(pat_str: str) -> regex.Pattern:
    """``portable_pattern(pat_str)``, compiled once per process and shared."""
    return regex.compile(portable_pattern(pat_str))


def piece_finder(pattern: regex.Pattern):
    r"""``text -> list of pieces``: the pattern's whole matches, as tiktoken takes them.
    ``findall`` is the fast way, but a pattern with capturing groups makes it return the groups
    (``(\s+(?!\S))`` would lose every other piece), so such a pattern uses ``finditer``.

    >>> piece_finder(regex.compile("\\w+|(\\s+)"))("Hello  world")
    ['Hello', '  ', 'world']
    """
    if not pattern.groups:
        return pattern.findall
    finditer = pattern.finditer
    return lambda text: [m.group() for m in finditer(text)]


# Runs of non-starters (canonical combining class > 0) at least this long go the bounded way:
# CPython orders a run by insertion sort, quadratic in its length ("a" + 64,000 marks of two
# classes took 6.2 s; 1 MB would take minutes). Below it the quadratic cost is negligible.
_LONG_RUN = 32
# A cheap screen (one regex search in C) before the exact table is built (~0.3 s): every
# character whose decomposition begins with a non-starter in Python's tables is a mark (or one
# of two halfwidth sound marks) in regex's newer ones (checked on every code point by the tests).
_MARK_RUN = regex.compile(r"[\p{M}\uff9e\uff9f]{%d,}" % _LONG_RUN)


@functools.lru_cache(maxsize=None)
def _non_starters() -> tuple[regex.Pattern, regex.Pattern]:
    """(a run of at least ``_LONG_RUN`` characters whose decomposition begins with a non-starter,
    a run of two or more non-starters) for Python's Unicode tables, built on first need (~0.3 s).
    U+0F73 has class 0 yet decomposes into two marks, so a run of it is such a run too."""
    marks, leading = [], []
    for cp in range(0x110000):
        c = chr(cp)
        if unicodedata.combining(c):
            marks.append(cp)
            leading.append(cp)
        elif unicodedata.decomposition(c) and unicodedata.combining(unicodedata.normalize("NFKD", c)[0]):
            leading.append(cp)
    return (regex.compile(f"[{_ranges_body(leading)}]{{{_LONG_RUN},}}"),
            regex.compile(f"[{_ranges_body(marks)}]{{2,}}"))


# Forms whose quick check a character table answers (stable_table): the composing ones.
_STABLE_FORMS = ("NFC", "NFKC")


@functools.lru_cache(maxsize=None)
def stable_table(form: str) -> bytes:
    """One byte per BMP character: its combining class + 1 where its quick check for ``form``
    (NFC or NFKC) is Yes, else 0. Yes: ``form`` leaves the character as it is (else it is No)
    and it composes with no character before it (else Maybe: the second characters of the
    primary composites, the decompositions of two that NFC composes again, and Hangul's vowel
    and trailing jamo, which compose by rule). A text of Yes characters whose marks are in
    canonical order is in ``form`` (UAX #15's quick check, Maybe taken for No). Built from
    Python's tables, ~35 ms once per process."""
    if form not in _STABLE_FORMS:
        raise ValueError(f"stable_table answers {', '.join(_STABLE_FORMS)}, not {form!r}")
    pairs = [(c, d.split()) for c, d in enumerate(map(unicodedata.decomposition, map(chr, range(0x30000))))
             if d and d[0] != "<" and " " in d]
    second = {int(b, 16) for c, (a, b) in pairs  # primary composites: the pairs NFC composes
              if unicodedata.normalize("NFC", chr(int(a, 16)) + chr(int(b, 16))) == chr(c)}
    second.update(range(0x1161, 0x1176), range(0x11A8, 0x11C3))
    return bytes(0 if c in second or not unicodedata.is_normalized(form, ch) else 1 + unicodedata.combining(ch)
                 for c, ch in ((c, chr(c)) for c in range(0x10000)))


def surely_normalized(form: str, texts: list[str]) -> bool:
    """True when every character of the texts has a quick check of Yes for ``form`` and each
    text's marks are in canonical order (``stable_table``): then each text is in ``form``.
    False says nothing: ask ``unicodedata.is_normalized``. In C, one byte read a character;
    False for other forms or without qtok._native.

    >>> surely_normalized("NFC", ["café", "plain"]), surely_normalized("NFC", ["cafe\u0301"])
    (True, False)
    """
    return form in _STABLE_FORMS and _native is not None and _native.stable(texts, stable_table(form))


def normalize(form: str, text: str) -> str:
    """``unicodedata.normalize(form, text)``, in O(n log n) whatever the text: a long run of
    combining marks is decomposed, put in canonical order by a stable sort on the combining
    class (which is what canonical ordering is), and only then composed, which CPython does in
    linear time on ordered input. Equal to ``unicodedata.normalize`` on every text (tested).

    >>> normalize("NFC", "e\u0301"), len(normalize("NFC", "a" + "\u0301" * 50_000 + "\u0316" * 50_000))
    ('é', 100000)
    """
    if text.isascii() or unicodedata.is_normalized(form, text):
        return text
    if not _MARK_RUN.search(text):
        return unicodedata.normalize(form, text)
    long_run, runs = _non_starters()
    if not long_run.search(text):
        return unicodedata.normalize(form, text)
    decompose = "NFKD" if form in ("NFKC", "NFKD") else "NFD"
    # The long runs one character at a time (each character's decomposition is ordered), the
    # rest as it is; then every run of non-starters of the whole is ordered, across the seams.
    spans = [0]
    for m in long_run.finditer(text):
        spans += [m.start(), m.end()]
    spans.append(len(text))
    pieces = []
    for i, (a, b) in enumerate(zip(spans, spans[1:])):
        chunk = text[a:b]
        pieces.append("".join(unicodedata.normalize(decompose, c) for c in chunk) if i % 2
                      else unicodedata.normalize(decompose, chunk))
    decomposed = runs.sub(lambda m: "".join(sorted(m.group(), key=unicodedata.combining)), "".join(pieces))
    return decomposed if form == decompose else unicodedata.normalize(form, decomposed)


@functools.lru_cache(maxsize=None)
def _hf_starters() -> tuple[frozenset[str], regex.Pattern]:
    chars = [chr(cp) for lo, hi in load_data_json("unicode_classes.json")["HF_NFC_starters"]
             for cp in range(lo, hi + 1)]
    return frozenset(chars), regex.compile("([" + _ranges_body(map(ord, chars)) + "])")


def nfc_as_hf(text: str) -> str:
    """NFC as Hugging Face ``tokenizers`` computes it (the Qwen2+ family's ``normalizer: NFC``).

    Its Unicode tables are older than Python's: 98 combining marks added since (listed in
    ``data/unicode_classes.json``, probed by ``derive.py unicode``) are starters to it, so marks
    are never reordered or composed across them. Cutting the text at them and normalizing the
    rest with Python's NFC gives exactly its result (the test suite checks every code point).

    >>> nfc_as_hf("a\u1df6b e\u0301\u1df6"), unicodedata.normalize("NFC", "e\u1df6\u0301")
    ('a\u1df6b é\u1df6', 'é\u1df6')
    >>> nfc_as_hf("e\u1df6\u0301")   # U+1DF6 is a starter to HF: U+0301 is not moved before it
    'e\u1df6\u0301'
    """
    # Text Python already finds NFC is NFC to Hugging Face too (its extra starters only block
    # reorderings and compositions, which such text has none left to make): the common case
    # costs one check in C (~480 MB/s).
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    starters, pattern = _hf_starters()
    if starters.isdisjoint(text):
        return normalize("NFC", text)
    # split() with a group: odd parts are the starters themselves, kept as they are.
    return "".join(p if i % 2 else normalize("NFC", p) for i, p in enumerate(pattern.split(text)))
