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

from collections.abc import Mapping, Sequence

from .encodings import IM_END, IM_START
from .unicode import normalize

# Qwen-Chat's default system message (make_context's system="You are a helpful assistant.").
DEFAULT_SYSTEM = "You are a helpful assistant."


def encode_chat(tokenizer, messages: Sequence[Mapping[str, str]], *,
                add_generation_prompt: bool = True, max_window_size: int | None = None) -> list[int]:
    """The ids Qwen-Chat builds for ``messages`` (dicts with ``role`` and ``content``).

    ``tokenizer`` must have ``<|im_start|>`` and ``<|im_end|>`` (Qwen's does). ``max_window_size``
    applies make_context's history truncation (Qwen-Chat passes 6144): for ``[system,] (user,
    assistant)*, user`` conversations, the oldest (user, assistant) pairs are dropped once keeping
    them would reach the window. ``qtok.encode_chat(messages)`` uses Qwen's tokenizer.

    >>> import qtok
    >>> ids = encode_chat(qtok.get_tokenizer("qwen"), [{"role": "user", "content": "hi"}])
    >>> ids[0], ids[-1]
    (151644, 198)
    """
    specials = tokenizer.special_tokens
    if IM_START not in specials or IM_END not in specials:
        raise ValueError(f"encoding {tokenizer.name!r} has no ChatML tokens; use 'qwen'")
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(
            "messages must be a list of {'role': ..., 'content': ...} dicts, got "
            f"{type(messages).__name__}"
        )

    def plain(text: str) -> list[int]:
        return tokenizer.encode_ordinary(normalize("NFC", text))

    im_start, im_end, nl = [specials[IM_START]], [specials[IM_END]], plain("\n")
    turns, roles = [], []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not {"role", "content"} <= message.keys():
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {message!r}")
        role, content = message["role"], message["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError(f"message {i}: role and content must be str")
        turns.append(im_start + plain(role) + nl + plain(content) + im_end)
        roles.append(role)
    if max_window_size is not None:
        if isinstance(max_window_size, bool) or not isinstance(max_window_size, int) or max_window_size <= 0:
            raise ValueError(f"max_window_size must be a positive int, got {max_window_size!r}")
        turns = _truncate_history(turns, roles, nl, max_window_size)
    ids: list[int] = []
    for i, turn in enumerate(turns):
        ids += (nl if i else []) + turn
    if add_generation_prompt:
        ids += (nl if ids else []) + im_start + plain("assistant") + nl
    return ids


def _truncate_history(turns: list[list[int]], roles: list[str], nl: list[int], window: int) -> list[list[int]]:
    """make_context's rule: walk the (user, assistant) pairs from the newest, keeping each while
    system + the pair + the pairs kept so far stay under the window; stop at the first that doesn't."""
    system = turns[:1] if roles[:1] == ["system"] else []
    body_roles = roles[len(system):]
    pairs_ok = body_roles[-1:] == ["user"] and all(
        body_roles[i : i + 2] == ["user", "assistant"] for i in range(0, len(body_roles) - 1, 2))
    if not pairs_ok:
        raise ValueError("max_window_size follows Qwen's make_context, which takes messages "
                         "[system,] (user, assistant)*, user")
    body = turns[len(system):]
    n_system = len(system[0]) if system else 0
    kept: list[list[int]] = []
    kept_len = 0
    for q, r in reversed(list(zip(body[:-1:2], body[1:-1:2]))):
        size = len(nl) + len(q) + len(nl) + len(r)
        if n_system + size + kept_len >= window:
            break
        kept = [q, r] + kept
        kept_len += size
    return system + kept + body[-1:]
