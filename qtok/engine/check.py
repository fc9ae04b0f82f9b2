"""A user's pre-tokenization pattern, proven to mean the same to every engine before any uses it.

Each engine reads the pattern with its own regex library: tiktoken with Rust's fancy-regex,
fastokens with PCRE2 (or fancy-regex where PCRE2 cannot compile it), the reference engine with
Python's ``regex``, each through the rewrites in ``qtok.unicode``. They differ in syntax (``\\X``
and ``(?V1)`` are ``regex``'s alone) and could differ in meaning where a rewrite misses a case, and
a pattern that splits one text differently on two engines gives different ids. So a pattern
that is not one of qtok's own (those are swept on every code point by the tests) is checked
once: ``load.check_pattern`` (it compiles, covers every probe text, never matches nothing), then
tiktoken must compile it, and the three engines must give the same ids on the probe texts, on
every code point whose Unicode class the libraries' tables dispute, and (fast against tiktoken)
on every code point in two contexts. The verdict is kept in the user cache per pattern and
library versions (the first check takes 2-5 s); a failure is one line naming the text.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

from ..encodings import OWN_PATTERNS, EncodingSpec, cl100k_base
from ..files import read_cached
from ..load import PATTERN_PROBES, DataFileError, check_pattern as check_pieces, sha256_bytes
from ..unicode import _class_escapes, _differences

# Code points whose class has changed across Unicode versions or differs between regex libraries
# (U+180E: whitespace to PCRE2's \s and to Unicode before 6.3), and letters with marks, which the
# POSIX classes and \w read differently.
_TRICKY = "\u180e\u0085\u00a0\u200b\u2028\u3000\ufeff\u088f\u0c5c\U0001e5d0\u00e9\u0301\u00df\u0130\u1f88\u00bd\u0660"
_CONTEXTS = ("{}", "a{}b", " {}", "{}'s", "1{}", "a   {}", "{}{}")


def _versions() -> str:
    out = []
    for package in ("tiktoken", "fastokens", "regex"):
        try:
            out.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            out.append(f"{package} -")
    return ", ".join(out)


def check_pattern(pat_str: str, source: str) -> None:
    """Refuse, in one line naming ``source``, a pattern some engine cannot read or reads
    differently from tiktoken (see the module's docstring). qtok's own patterns pass at once."""
    if pat_str in OWN_PATTERNS:
        return
    check_pieces(pat_str, source)
    key = sha256_bytes(f"pattern-check|1|{_versions()}|{pat_str}".encode())
    read_cached(key, ".pattern-ok", lambda: _check(pat_str, source) or b"agrees\n")


def _probe_texts(pat_str: str) -> list[str]:
    chars = set(_TRICKY)
    for escape in _class_escapes(pat_str):
        for side in _differences(escape):
            chars.update(map(chr, side))
    ordered = sorted(chars)
    # One text per context, the characters on lines of their own: a few calls, not thousands.
    return list(PATTERN_PROBES) + ["\n".join(c.format(x, x) for x in ordered) for c in _CONTEXTS]


@functools.lru_cache(maxsize=1)
def _sweep_texts() -> tuple[str, ...]:
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    return tuple("\n".join(c.format(x, x) for x in every) for c in ("a{}b", " {}'s"))


def _check(pat_str: str, source: str) -> None:
    from . import EngineUnavailable, engine_class
    from .tiktoken import compile_error

    if (why := compile_error(pat_str)) is not None:
        raise DataFileError(f"{source}: tiktoken's regex (Rust) cannot compile the pattern ({why}); "
                            "qtok needs a pattern every engine reads: drop what only Python's regex "
                            r"knows (\X, (?V1), set operations such as [\p{L}--\p{Lu}])")
    # cl100k_base's ranks: rich enough that pieces split differently give different ids.
    base = cl100k_base()
    spec = EncodingSpec("pattern-check", pat_str, base.mergeable_ranks, {}, cache_key=base.cache_key)
    engines = {}
    for name in ("tiktoken", "reference", "fast"):
        try:
            engines[name] = engine_class(name)(spec)
        except EngineUnavailable:
            continue  # not on this platform: nothing to disagree with
        except Exception as e:  # noqa: BLE001 - any failure to read the pattern is the answer
            raise DataFileError(f"{source}: engine {name!r} cannot use the pattern "
                                f"({' '.join(str(e).split())[:160]})") from None
    oracle = engines.pop("tiktoken")
    texts = {name: _probe_texts(pat_str) for name in engines}
    if "fast" in texts:
        texts["fast"] += list(_sweep_texts())
    for name, engine in engines.items():
        for text in texts[name]:
            if engine.encode_ordinary(text) != oracle.encode_ordinary(text):
                raise DataFileError(f"{source}: engine {name!r} splits {_culprit(engine, oracle, text)!r} "
                                    "differently from tiktoken under this pattern; qtok cannot give "
                                    "the same ids on every engine with it (simplify the pattern, or "
                                    "report it)")


def _culprit(engine, oracle, text: str) -> str:
    """The shortest line of ``text`` the two engines disagree on (the whole text otherwise)."""
    for line in text.split("\n"):
        if engine.encode_ordinary(line) != oracle.encode_ordinary(line):
            return line[:40]
    return text[:40]
