"""Qwen-Chat's ChatML layout, counted exactly.

Qwen-Chat's ``make_context`` (qwen_generation_utils.py) builds a prompt from segments, not
from one string: each turn is ``<|im_start|>`` + ids(role) + ids("\\n") + ids(content) +
``<|im_end|>``, turns are joined by ids("\\n"), and the prompt ends with the assistant's
opening ``\\n<|im_start|>assistant\\n``. Encoding the segments separately matters: ids("\\n")
and ids(content) are not ids("\\n" + content) when the content starts with spaces or newlines.
Role and content are encoded with special-token text as plain text, so a user message that
contains ``<|im_end|>`` cannot close its turn. Like Qwen's tokenizer, every segment is
NFC-normalized first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

from .encodings import IM_END, IM_START


def encode_chat(tokenizer=None, messages: Sequence[Mapping[str, str]] = (), *,
                add_generation_prompt: bool = True) -> list[int]:
    """The ids Qwen-Chat builds for ``messages`` (dicts with ``role`` and ``content``).

    ``tokenizer`` defaults to Qwen's; it must have ``<|im_start|>`` and ``<|im_end|>``.

    >>> ids = encode_chat(messages=[{"role": "user", "content": "hi"}])
    >>> ids[0], ids[-1]
    (151644, 198)
    """
    if tokenizer is None:
        from .core import get_tokenizer

        tokenizer = get_tokenizer("qwen")
    specials = tokenizer.special_tokens
    if IM_START not in specials or IM_END not in specials:
        raise ValueError(f"encoding {tokenizer.name!r} has no ChatML tokens; use 'qwen'")
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(
            "messages must be a list of {'role': ..., 'content': ...} dicts, got "
            f"{type(messages).__name__}"
        )

    def plain(text: str) -> list[int]:
        return tokenizer.encode_ordinary(unicodedata.normalize("NFC", text))

    im_start, im_end, nl = [specials[IM_START]], [specials[IM_END]], plain("\n")
    ids: list[int] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not {"role", "content"} <= message.keys():
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {message!r}")
        role, content = message["role"], message["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError(f"message {i}: role and content must be str")
        if i:
            ids += nl
        ids += im_start + plain(role) + nl + plain(content) + im_end
    if add_generation_prompt:
        ids += (nl if ids else []) + im_start + plain("assistant") + nl
    return ids
