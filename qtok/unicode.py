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

# The escapes we rewrite, and the table each one reads. \S is the complement of \s.
_TABLES = {r"\p{L}": "L", r"\p{N}": "N", r"\p{M}": "M", r"\s": "White_Space", r"\S": "White_Space"}
_NATIVE = {"L": r"\p{L}", "N": r"\p{N}", "M": r"\p{M}", "White_Space": r"\s"}


def _ranges_body(code_points) -> str:
    """The inside of a character class listing code points, e.g. ``\\U00000041-\\U0000005a``."""
    out, run = [], None
    for cp in sorted(code_points):
        if run and run[1] == cp - 1:
            run[1] = cp
        else:
            run = [cp, cp]
            out.append(run)
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in out)


@functools.lru_cache(maxsize=None)
def _differences(table: str) -> tuple[frozenset[int], frozenset[int]]:
    """(in ``regex``'s class but not tiktoken's, in tiktoken's but not ``regex``'s)."""
    wanted = {cp for lo, hi in load_data_json("unicode_classes.json")[table] for cp in range(lo, hi + 1)}
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    native = set(map(ord, regex.findall(_NATIVE[table], every)))
    return frozenset(native - wanted), frozenset(wanted - native)


def first_disputed(pat_str: str = r"\p{L}\p{N}\s") -> int:
    """The lowest code point that the two Unicode versions classify differently in a class the
    pattern uses (U+0558 with regex 2026.11 and tiktoken 0.14).

    A text whose every character is below it splits the same under ``regex``'s own tables, so
    the reference engine may use the plain pattern, about 1.7x faster than the corrected one.
    """
    used = {table for esc, table in _TABLES.items() if esc in pat_str}
    cps = [min(side) for table in _NATIVE if table in used for side in _differences(table) if side]
    return min(cps, default=0x110000)


@functools.lru_cache(maxsize=None)
def _corrected_set(table: str) -> str:
    """A V1 set equal to tiktoken's class: ``regex``'s own property, minus and plus the differences.

    Keeping the native property and patching only the differences keeps matching within ~1.7x of
    the plain pattern (a class of hundreds of explicit ranges is ~10x slower in ``regex``).
    """
    removed, added = _differences(table)
    body = _NATIVE[table]
    if removed:
        body = f"[{body}--[{_ranges_body(removed)}]]"
    if added:
        body = f"[{body}[{_ranges_body(added)}]]"
    return body if body.startswith("[") else f"[{body}]"


def portable_pattern(pat_str: str) -> str:
    """Rewrite ``\\p{L}``, ``\\p{N}``, ``\\s`` and ``\\S`` into tiktoken's code-point sets.

    The result uses ``regex``'s VERSION1 syntax (nested sets and set difference), with full case
    folding turned back off so that ``(?i:...)`` folds simply, as Rust's regex does. A rewritten
    escape inside a class becomes a nested set, so ``[^\\s\\p{L}]`` is still one class.
    """
    out: list[str] = ["(?V1)(?-f)"]
    i = 0
    while i < len(pat_str):
        if pat_str[i] == "\\":
            esc = pat_str[i : i + 5] if pat_str.startswith(r"\p{", i) else pat_str[i : i + 2]
            if esc in _TABLES:
                corrected = _corrected_set(_TABLES[esc])
                out.append(f"[^{corrected}]" if esc == r"\S" else corrected)
            else:
                if esc.startswith(r"\p{"):
                    esc = pat_str[i : pat_str.index("}", i) + 1]
                out.append(esc)
            i += len(esc)
            continue
        out.append(pat_str[i])
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=16)
def compile_portable(pat_str: str) -> regex.Pattern:
    """``portable_pattern(pat_str)``, compiled once per process and shared."""
    return regex.compile(portable_pattern(pat_str))


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
        return unicodedata.normalize("NFC", text)
    # split() with a group: odd parts are the starters themselves, kept as they are.
    return "".join(p if i % 2 else unicodedata.normalize("NFC", p) for i, p in enumerate(pattern.split(text)))
