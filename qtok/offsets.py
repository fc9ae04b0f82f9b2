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
