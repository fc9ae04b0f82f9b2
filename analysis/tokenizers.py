"""Tokenizer adapters: one small interface (a name, counts for many texts, metadata).

Counts never include added special tokens (no BOS/EOS/CLS), so every tokenizer is charged only
for the text itself.
"""

from __future__ import annotations

import lzma
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qtok.load import sha256_bytes, sha256_file

from .corpora import DATA

XLMR_JSON = DATA / "xlmr-tokenizer.json.xz"
XLMR_JSON_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"  # decompressed
XLMR_SPM_SHA256 = "cfc8146abe2a0488e9e2a0c56de7952f7c11ab059eca145a0a727afce0db2865"  # sentencepiece.bpe.model


class TokenizerError(ValueError):
    """A tokenizer that cannot be loaded: the message says what to give instead."""


@dataclass
class Adapter:
    name: str
    count: Callable[[list[str]], list[int]] = field(repr=False)  # tokens of each text
    meta: dict = field(default_factory=dict)


def qtok_adapter(name: str, label: str | None = None) -> Adapter:
    import qtok
    from qtok.load import DATA_FILES

    tok = qtok.get_tokenizer(name)
    meta = {"kind": "qtok", "qtok": qtok.__version__, "encoding": name}
    if name in ("qwen", "cl100k_base"):
        meta["data_sha256"] = DATA_FILES
    else:
        meta["sha256"] = sha256_file(name)
    return Adapter(label or (name if name in ("qwen", "cl100k_base") else Path(name).stem),
                   lambda texts: [len(ids) for ids in tok.encode_batch(texts, num_threads=4)], meta)


def hf_json_adapter(data: bytes, name: str, source: str) -> Adapter:
    import tokenizers

    try:
        tok = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
    except Exception as e:  # tokenizers raises its own Exception type for bad JSON
        raise TokenizerError(f"{source} is not a Hugging Face tokenizer.json: {e}") from None
    meta = {"kind": "tokenizers", "tokenizers": tokenizers.__version__, "file": source,
            "sha256": sha256_bytes(data)}
    return Adapter(name, lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)], meta)


def xlmr() -> Adapter:
    """XLM-R from the vendored tokenizer.json (xz), hash-checked after decompression."""
    data = lzma.decompress(XLMR_JSON.read_bytes())
    actual = sha256_bytes(data)
    if actual != XLMR_JSON_SHA256:
        raise TokenizerError(f"{XLMR_JSON} failed its hash check: expected sha256 {XLMR_JSON_SHA256} "
                             f"(decompressed), got {actual}; restore it (git checkout analysis/data)")
    return hf_json_adapter(data, "xlm-r", "analysis/data/xlmr-tokenizer.json.xz")


def sentencepiece_adapter(path: Path, name: str | None = None) -> Adapter:
    import sentencepiece as spm

    data = path.read_bytes()
    try:
        sp = spm.SentencePieceProcessor(model_proto=data)
    except Exception as e:  # RuntimeError from the C++ parser
        raise TokenizerError(f"{path} is not a SentencePiece model: {e}") from None
    digest = sha256_bytes(data)
    if name is None:
        name = "xlm-r" if digest == XLMR_SPM_SHA256 else path.stem
    meta = {"kind": "sentencepiece", "sentencepiece": spm.__version__, "file": str(path),
            "sha256": digest, "is_original_xlmr": digest == XLMR_SPM_SHA256}
    # encode() adds no BOS/EOS unless asked.
    return Adapter(name, lambda texts: [len(ids) for ids in sp.encode(texts)], meta)


KNOWN = ["qwen", "cl100k_base", "xlm-r"]


def get_adapter(spec: str) -> Adapter:
    """``qwen``, ``cl100k_base``, ``xlm-r``, or a file (``*.tiktoken``, ``*.model``,
    ``tokenizer.json``), optionally named: ``NAME=PATH``."""
    # NAME=PATH splits at the first "=": a name has none, a path may ("runs/lr=3e-4/x.tiktoken").
    if spec in KNOWN or "=" not in spec or Path(spec).is_file():
        label, path_str = None, spec
    else:
        label, _, path_str = spec.partition("=")
    if path_str in ("qwen", "cl100k_base"):
        return qtok_adapter(path_str, label)
    if path_str == "xlm-r":
        return xlmr()
    path = Path(path_str)
    if not path.is_file():
        raise TokenizerError(f"unknown tokenizer {spec!r}: use one of {', '.join(KNOWN)} or a "
                             "*.tiktoken, SentencePiece *.model or tokenizer.json file")
    if path.suffix == ".tiktoken":
        return qtok_adapter(str(path), label or path.stem)
    if path.suffix == ".model":
        return sentencepiece_adapter(path, label)
    if path.suffix == ".json":
        return hf_json_adapter(path.read_bytes(), label or path.stem, str(path))
    if path.name.endswith(".json.xz"):
        return hf_json_adapter(lzma.decompress(path.read_bytes()), label or path.stem, str(path))
    raise TokenizerError(f"cannot tell what kind of tokenizer {path} is: name it *.tiktoken, "
                         "*.model (SentencePiece) or *.json (tokenizer.json)")
