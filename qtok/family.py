"""The Qwen family: which tokenizer each generation uses, and the names that reach it.

Qwen1.5, 2, 2.5 and 3 keep Qwen-1's 151,643 BPE ranks and its pattern; what changes is the table
of added tokens after the ranks (3, 22, 26 tokens) and the chat template. Qwen3.5/3.6 have a new
vocabulary (248,044 ranks, ``\\p{M}`` in the letter classes). Each distinct tokenizer is one
``Member``; Hugging Face model ids are aliases of the member their model uses, so
``get_tokenizer("Qwen/Qwen3-8B")`` works offline.

``special`` follows each official ``tokenizer.json``: added tokens marked ``special: false``
(``<tool_call>``, the FIM tokens, ``<think>``...) are still matched in text by Hugging Face, but
``decode(..., skip_special_tokens=True)`` keeps them.

>>> resolve("Qwen/Qwen2.5-7B-Instruct"), resolve("qwen3"), resolve("Qwen/Qwen3.6-27B")
('qwen2.5', 'qwen3', 'qwen3.5')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

# Qwen2.5's added tokens after the first three; all special (Qwen2-VL's vision tokens).
_VISION = ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
           "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
# Matched in text but not special (kept by skip_special_tokens), from Qwen2.5 on.
_TOOLS_FIM = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
              "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
_QWEN3_MORE = ("<tool_response>", "</tool_response>", "<think>", "</think>")
# Qwen3.5/3.6's tail after <think></think>: audio and speech tokens, all special.
_AUDIO = ("<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
          "<tts_text_bos_single>", "<|audio_pad|>")


@dataclass(frozen=True)
class Member:
    """One distinct tokenizer of the family."""

    name: str
    models: str  # which models use it, for list_encodings()
    added: tuple[str, ...]  # added tokens in id order, from the first id after the ranks
    not_special: frozenset[str]  # added tokens that skip_special_tokens keeps
    chat_template: str  # the vendored data file with its official chat template
    eos_token: str  # what the chat models stop at (tokenizer_config's eos_token)
    pad_token: str
    ranks: str  # "qwen" (Qwen-1's ranks) or "qwen3.5"

    @property
    def stop_tokens(self) -> tuple[str, ...]:
        """What generation stops at: the chat EOS and the document end."""
        return tuple(dict.fromkeys((self.eos_token, ENDOFTEXT)))


MEMBERS = {
    m.name: m for m in (
        Member("qwen2", "Qwen1.5, Qwen2 (and Qwen2-Math, CodeQwen1.5)",
               (ENDOFTEXT, IM_START, IM_END), frozenset(), "chat_qwen2.jinja",
               IM_END, ENDOFTEXT, "qwen"),
        Member("qwen2.5", "Qwen2.5, Qwen2.5-Coder, Qwen2.5-Math, Qwen2.5-VL",
               (ENDOFTEXT, IM_START, IM_END, *_VISION, *_TOOLS_FIM), frozenset(_TOOLS_FIM),
               "chat_qwen2.5.jinja", IM_END, ENDOFTEXT, "qwen"),
        Member("qwen3", "Qwen3 (dense and MoE, 2504 and 2507 releases)",
               (ENDOFTEXT, IM_START, IM_END, *_VISION, *_TOOLS_FIM, *_QWEN3_MORE),
               frozenset(_TOOLS_FIM + _QWEN3_MORE), "chat_qwen3.jinja", IM_END, ENDOFTEXT, "qwen"),
        Member("qwen3.5", "Qwen3.5, Qwen3.6",
               (ENDOFTEXT, IM_START, IM_END, *_VISION, *_TOOLS_FIM, *_QWEN3_MORE, *_AUDIO),
               frozenset(_TOOLS_FIM + _QWEN3_MORE), "chat_qwen3.5.jinja", IM_END, ENDOFTEXT,
               "qwen3.5"),
    )
}

# Model-id prefixes (after "Qwen/", lower-cased) -> member, most specific first. Models whose
# tokenizer adds tokens of its own (Qwen2-VL's 14, the audio and omni models') are not aliased:
# no member gives their ids exactly.
_MODEL_PREFIXES = (
    ("qwen3.6", "qwen3.5"), ("qwen3.5", "qwen3.5"), ("qwen3", "qwen3"),
    ("qwen2.5", "qwen2.5"), ("qwen2", "qwen2"), ("qwen1.5", "qwen2"), ("codeqwen1.5", "qwen2"),
)
_OWN_TOKENS = re.compile(r"qwen2-vl|.*-(omni|audio)|qwen3-vl|qwen3-asr|qwen3-tts")
_BARE_MODEL = re.compile(r"(code)?qwen\d+(\.\d+)?(-[a-z0-9_.]+)*(?<!\.tiktoken)(?<!\.json)(?<!\.model)")
_QWEN1 = re.compile(r"qwen-(1_8b|7b|14b|72b)(-chat)?(-int4|-int8)?")


def resolve(name: str) -> str | None:
    """The encoding name that ``name`` (an encoding or a Hugging Face model id) stands for, or
    None. Qwen-1 model ids (``Qwen/Qwen-7B-Chat``) give ``qwen``."""
    key = name.lower()
    if key in MEMBERS or key == "qwen":
        return key
    model = key.split("/", 1)[1] if key.startswith("qwen/") else key
    if _QWEN1.fullmatch(model):
        return "qwen"
    # A model name without "Qwen/" (Qwen3-8B, qwen3.6) is one too; a file name never is.
    bare = key == model and _BARE_MODEL.fullmatch(model) is not None
    if not (key.startswith("qwen/") or bare) or _OWN_TOKENS.match(model):
        return None
    for prefix, member in _MODEL_PREFIXES:
        if model.startswith(prefix):
            return member
    return None
