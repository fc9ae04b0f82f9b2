"""Where each token's text lies in a string, and cutting a text to a token budget.

A token's span is in characters (Python ``str`` indices). A token that begins or ends inside a
character (byte-level BPE splits multi-byte characters) gets the span of that whole character,
so consecutive tokens that share a character share its span.
"""

from __future__ import annotations


# UTF-8 continuation bytes (10xxxxxx): deleting them from a token leaves one byte per character
# that starts in it, counted at C speed.
_CONTINUATION = bytes(range(0x80, 0xC0))


def char_spans(token_bytes) -> list[tuple[int, int]]:
    """The character span of each token, from the tokens' bytes alone (they concatenate to the
    UTF-8 text): one pass, no table per byte, so 10 MB of text costs the spans and little more.

    >>> char_spans([b"a\\xe5", b"\\x85\\x83"])
    [(0, 2), (1, 2)]
    """
    spans = []
    chars = 0  # characters started so far
    for tok in token_bytes:
        # A token that begins with a continuation byte begins inside the previous character.
        start = chars - 1 if tok and tok[0] & 0xC0 == 0x80 else chars
        chars += len(tok.translate(None, _CONTINUATION))
        spans.append((start, chars if tok else start))
    return spans


def byte_to_char(text_bytes: bytes) -> list[int]:
    """The character index at each byte offset of a UTF-8 text, plus one entry for the end
    (offsets inside a character map to the character).

    >>> byte_to_char("a元b".encode())
    [0, 1, 1, 1, 2, 3]
    """
    out, c = [], -1
    for b in text_bytes:
        if b & 0xC0 != 0x80:
            c += 1
        out.append(c)
    out.append(c + 1)
    return out


def shares(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """Each token's share of ``text`` for display: consecutive tokens that share a character
    (``char_spans``) give it to the first; text no token claims joins the last. The shares
    concatenate back to ``text``.

    >>> shares("a元", [(0, 2), (1, 2)])
    ['a元', '']
    """
    out, pos = [], 0
    for _, end in spans:
        out.append(text[pos:end] if end > pos else "")
        pos = max(pos, end)
    if out and pos < len(text):
        out[-1] += text[pos:]
    return out
