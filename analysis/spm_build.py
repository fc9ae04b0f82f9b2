"""A SentencePiece model built from a Hugging Face ``tokenizer.json`` of a Unigram tokenizer.

Why: XLM-R's vocabulary is vendored as a ``tokenizer.json`` (its original ``sentencepiece.bpe.model``
is not redistributable here), and HF ``tokenizers`` runs it slower than anything else in the
study. The same pieces, scores and normalization table (the ``precompiled_charsmap``) written as a
SentencePiece ``ModelProto`` run in ``sentencepiece``'s C++ several times faster (figures in
benchmarks/README.md, "The study"). The flags are those of the original XLM-R model: a dummy
prefix, whitespace escaped to U+2581, and extra whitespace removed (``remove_extra_whitespaces``).
The two routes differ in two ways: trailing whitespace, which SentencePiece drops and HF keeps as
a "▁" token, and ties between segmentations of equal score, which they break differently (same
count, other ids); on NTREX-128 the counts agree for all but a few languages, by a fraction of a
percent there (benchmarks/README.md).

The protobuf is written by hand (a few fields of ``sentencepiece_model.proto``), so no protobuf
package is needed.
"""

from __future__ import annotations

import base64
import json
import struct

# sentencepiece_model.proto: ModelProto.pieces = 1, trainer_spec = 2, normalizer_spec = 3;
# SentencePiece.piece = 1, score = 2, type = 3 (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4);
# TrainerSpec.model_type = 3 (UNIGRAM 1), unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43;
# NormalizerSpec.name = 1, precompiled_charsmap = 2, add_dummy_prefix = 3,
# remove_extra_whitespaces = 4, escape_whitespaces = 5.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED = 1, 2, 3, 4


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes(number: int, data: bytes) -> bytes:
    return _field(number, 2) + _varint(len(data)) + data


def _int(number: int, value: int) -> bytes:
    return _field(number, 0) + _varint(value)


def _float(number: int, value: float) -> bytes:
    return _field(number, 5) + struct.pack("<f", value)


def model_from_tokenizer_json(data: bytes) -> bytes:
    """The ``ModelProto`` bytes of a Unigram ``tokenizer.json`` with a Precompiled normalizer."""
    spec = json.loads(data)
    model = spec.get("model", {})
    if model.get("type") != "Unigram":
        raise ValueError("only a Unigram tokenizer.json can become a SentencePiece model")
    normalizers = spec.get("normalizer") or {}
    normalizers = normalizers.get("normalizers", [normalizers])
    charsmaps = [n["precompiled_charsmap"] for n in normalizers if n.get("type") == "Precompiled"]
    if len(charsmaps) != 1:
        raise ValueError("the tokenizer.json has no single Precompiled normalizer")
    specials = {t["content"]: t for t in spec.get("added_tokens", [])}
    ids = {}
    pieces = bytearray()
    for i, (piece, score) in enumerate(model["vocab"]):
        if i == model.get("unk_id"):
            kind = UNKNOWN
        elif piece in specials and piece.startswith("<") and piece != "<mask>":
            kind = CONTROL
        elif piece in specials:
            kind = USER_DEFINED
        else:
            kind = NORMAL
        ids[piece] = i
        pieces += _bytes(1, _bytes(1, piece.encode("utf-8")) + _float(2, score) + _int(3, kind))
    trainer = (_int(3, 1) + _int(40, model.get("unk_id", 0)) + _int(41, ids.get("<s>", -1))
               + _int(42, ids.get("</s>", -1)) + _int(43, ids.get("<pad>", -1)))
    normalizer = (_bytes(1, b"from_tokenizer_json") + _bytes(2, base64.b64decode(charsmaps[0]))
                  + _int(3, 1) + _int(4, 1) + _int(5, 1))
    return bytes(pieces) + _bytes(2, trainer) + _bytes(3, normalizer)
