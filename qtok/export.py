"""Export a qtok vocabulary to the files Hugging Face ``tokenizers`` and ``transformers`` load.

``tokenizer.json`` describes a byte-level BPE: the vocabulary in GPT-2's byte-to-character
alphabet, the merges, the pre-tokenization pattern, the special tokens. tiktoken's rank files
have no merges, so they are recovered: a token's merge is the two parts byte-level BPE reaches
when only lower-ranked tokens may be used (exactly how tiktoken would build it). ``ignore_merges``
makes HF look a whole piece up first, as tiktoken does, so a token that merges cannot reach is
still found.

``tokenizer_config.json`` names the special tokens and ``<|endoftext|>`` as EOS and pad. With
``compat="hf"`` (the official Qwen behaviour, the CLI's default for export) ``tokenizer.json`` has
an NFC normalizer, special-token text is matched as special tokens, and the config carries a
ChatML ``chat_template`` rendering what ``encode_chat`` encodes. With ``compat=None`` (qtok's
safe default) there is no normalizer and the config sets ``split_special_tokens`` so that
``transformers`` encodes special-token text as text (with ``tokenizers`` alone, set
``tokenizer.encode_special_tokens = True``); such an export has no chat template, because
``split_special_tokens`` would also split the template's own ``<|im_start|>``.

``apply_chat_template`` renders one string and tokenizes it whole, where ``encode_chat`` (like
Qwen-Chat's make_context) encodes role, newline and content separately: the two agree unless a
content starts with a newline (``"\n\n"`` is one token in a string, two as segments) or
contains special-token text (a control token in HF's string, plain text in ``encode_chat``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from .bpe import merges_from_ranks
from .family import MEMBERS
from .files import atomic_write, make_dir

# The ChatML layout of encode_chat (Qwen-Chat's make_context), as a Jinja template.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if not loop.first %}{{ '\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{% if messages %}{{ '\\n' }}{% endif %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte: the alphabet of byte-level BPE
    vocabularies in ``tokenizer.json``.

    >>> bytes_to_unicode()[ord(" ")], bytes_to_unicode()[ord("a")]
    ('Ġ', 'a')
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenizer_json(tokenizer) -> dict:
    """The ``tokenizer.json`` of a qtok ``Tokenizer`` (its compat decides the normalizer)."""
    return spec_json(tokenizer.spec, nfc=tokenizer.compat == "hf")


def spec_json(spec, nfc: bool = False, irregular: list[bytes] | None = None) -> dict:
    """The ``tokenizer.json`` of an ``EncodingSpec``, with an NFC normalizer or none (and the
    tokens lower ranks cannot build in two appended to ``irregular``; ``bpe.merges_from_ranks``)."""
    alphabet = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(alphabet[x] for x in b)

    vocab = {text(t): r for t, r in sorted(spec.mergeable_ranks.items(), key=lambda kv: kv[1])}
    merges = [f"{text(a)} {text(b)}" for a, b in merges_from_ranks(spec.mergeable_ranks, irregular)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": s not in spec.not_special}
            for s, i in sorted(spec.special_tokens.items(), key=lambda kv: kv[1])
        ],
        "normalizer": {"type": "NFC"} if nfc else None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": spec.pat_str}, "behavior": "Isolated", "invert": False},
            byte_level,
        ]},
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": True, "vocab": vocab, "merges": merges,
        },
    }


def tokenizer_config(tokenizer) -> dict:
    """``tokenizer_config.json``: special tokens, EOS, the chat template, the compat policy. A
    Qwen2+ family member carries its official chat template and EOS (``<|im_end|>``)."""
    specials = tokenizer.special_tokens
    eos = "<|endoftext|>" if "<|endoftext|>" in specials else None
    member = MEMBERS.get(tokenizer.spec.family)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 32768,
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "pad_token": eos,
        "bos_token": None,
        "unk_token": None,
        "additional_special_tokens": [t for t in sorted(specials, key=specials.get)
                                      if t not in tokenizer.spec.not_special],
        # Safe compat: special-token text in user text is text, as qtok's default.
        "split_special_tokens": tokenizer.compat != "hf",
        "qtok": {"encoding": tokenizer.name, "compat": tokenizer.compat or "safe"},
    }
    if member is not None:
        config["eos_token"], config["pad_token"] = member.eos_token, member.pad_token
        config["model_max_length"] = 32768 if member.name == "qwen2" else 131072  # as the official files
    if tokenizer.compat == "hf" and member is not None:
        config["chat_template"] = tokenizer.chat_template
    elif tokenizer.compat == "hf" and {"<|im_start|>", "<|im_end|>"} <= specials.keys():
        # Only here: with split_special_tokens (the safe export) transformers would split the
        # template's own <|im_start|> into text, silently. Safe exports carry no template.
        config["chat_template"] = CHAT_TEMPLATE
    return config


def export_hf(tokenizer, directory: str | Path) -> dict[str, Path]:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` for ``tokenizer`` into
    ``directory`` (created if missing), each atomically. Returns the paths.

    >>> import tempfile, qtok
    >>> from tokenizers import Tokenizer as HF
    >>> paths = export_hf(qtok.get_tokenizer("qwen", compat="hf"), tempfile.mkdtemp())
    >>> HF.from_file(str(paths["tokenizer.json"])).encode("你好，世界").ids
    [108386, 3837, 99489]
    """
    directory = make_dir(directory)
    paths = {"tokenizer.json": directory / "tokenizer.json",
             "tokenizer_config.json": directory / "tokenizer_config.json"}
    atomic_write(paths["tokenizer.json"], json.dumps(tokenizer_json(tokenizer), ensure_ascii=False))
    atomic_write(paths["tokenizer_config.json"],
                 json.dumps(tokenizer_config(tokenizer), indent=2, ensure_ascii=False) + "\n")
    return paths
