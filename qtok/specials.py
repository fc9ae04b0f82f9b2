"""Special-token text inside a text: finding it and cutting the text at it, for every engine and
for the policy above them (``core.Tokenizer``'s ``disallowed_special`` check)."""

from __future__ import annotations

import functools

import regex


@functools.lru_cache(maxsize=64)
def specials_regex(tokens: frozenset[str]) -> regex.Pattern:
    """An alternation of special-token texts, longest first so a prefix never wins."""
    return regex.compile("|".join(regex.escape(s) for s in sorted(tokens, key=len, reverse=True)))


def split_specials(text: str, allowed: frozenset[str]):
    """Yield ``(segment, is_special)``: the text cut at each allowed special-token text.

    >>> list(split_specials("a<|endoftext|>b", frozenset({"<|endoftext|>"})))
    [('a', False), ('<|endoftext|>', True), ('b', False)]
    """
    if not allowed:
        yield text, False
        return
    start = 0
    for m in specials_regex(allowed).finditer(text):
        if m.start() > start:
            yield text[start : m.start()], False
        yield m.group(), True
        start = m.end()
    if start < len(text):
        yield text[start:], False
