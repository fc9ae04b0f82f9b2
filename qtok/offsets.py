"""Where each token's text lies in a string, and cutting a text to a token budget.

A token's span is in characters (Python ``str`` indices). A token that begins or ends inside a
character (byte-level BPE splits multi-byte characters) gets the span of that whole character,
so consecutive tokens that share a character share its span.
"""

from __future__ import annotations


def char_spans(text_bytes: bytes, token_bytes: list[bytes]) -> list[tuple[int, int]]:
    """The character span of each token, given the UTF-8 text and the tokens' bytes.

    >>> char_spans("a元".encode(), [b"a\\xe5", b"\\x85\\x83"])
    [(0, 2), (1, 2)]
    """
    # Character index of each byte offset: a continuation byte (10xxxxxx) belongs to the
    # character that started before it.
    starts = [i for i, b in enumerate(text_bytes) if b & 0xC0 != 0x80]
    char_of = [0] * (len(text_bytes) + 1)
    c = -1
    for i, b in enumerate(text_bytes):
        if b & 0xC0 != 0x80:
            c += 1
        char_of[i] = c
    char_of[len(text_bytes)] = len(starts)
    spans, pos = [], 0
    for tok in token_bytes:
        end = pos + len(tok)
        if tok:
            spans.append((char_of[pos], char_of[end - 1] + 1))
        else:
            spans.append((char_of[pos], char_of[pos]))
        pos = end
    return spans


def longest_fitting_prefix(text: str, max_tokens: int, count) -> str:
    """The longest prefix ``p`` of ``text`` (cut between characters) with ``count(p) <=
    max_tokens``, found by bisection that keeps ``count(lo) <= max < count(hi)``; so the prefix
    fits and one more character would not."""
    if count(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid
    return text[:lo]
