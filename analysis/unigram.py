"""SentencePiece's Unigram encoder in C (``_unigram.c``), for the SentencePiece models the study
counts (XLM-R): sentencepiece's ids, with no Python list per text and without the GIL.

``fast_encoder(data, proto, fallback)`` gives the C encoder (``flat(texts) -> (ids, offsets)``,
``spans(text)``) of a model whose features it reproduces, and None for any other (BPE models, byte fallback,
whitespace as a suffix, piece types it does not know, a damaged normalization table) or where the
extension was not built (no C compiler): those stay on sentencepiece. tests/analysis/test_unigram.py
proves the ids and spans equal to sentencepiece's (>= 0.2.3) on the embedded corpus and its words,
on generated text and on models trained in the test; benchmarks/study.py checks all of NTREX-128.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import numpy as np

try:
    from . import _unigram
except ImportError:  # built without a C compiler: sentencepiece answers
    _unigram = None

UNIGRAM = 1  # TrainerSpec.model_type
# A batch of at least this many characters is encoded on all cores. Below it the calling thread
# encodes it alone, with its own cache of words (the other threads' caches are cold: a language's
# word list split over them took 2x longer), and threads would cost more than they save.
PARALLEL_CHARS = 1 << 22
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="qtok-unigram")
    return _POOL


def _parts(texts: list[str]) -> list[list[str]]:
    """The batch cut into one part per core, by characters, or [texts] when it is small."""
    n = os.cpu_count() or 1
    total = sum(map(len, texts))
    if n < 2 or total < PARALLEL_CHARS or len(texts) < 2:
        return [texts]
    parts, start, acc = [], 0, 0
    for i, t in enumerate(texts):
        acc += len(t)
        if acc >= total * (len(parts) + 1) / n and len(parts) < n - 1:
            parts.append(texts[start:i + 1])
            start = i + 1
    parts.append(texts[start:])
    return [p for p in parts if p]


def proto_spans(sp, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """(ids, each token's (begin, end) in the text's UTF-8 bytes) from sentencepiece's pieces."""
    pieces = sp.encode(text, return_type="proto").pieces
    return [p.id for p in pieces], [(p.begin, p.end) for p in pieces]


class FastEncoder:
    """A model in the C encoder: ``flat`` (the study's bulk path) and ``spans`` (report.html's)."""

    def __init__(self, model, fallback: Callable[[], object]):
        self.model, self.fallback = model, fallback
        # Each thread's cache of the words it has searched (_unigram.cache: one thread at a
        # time); it goes with the thread.
        self._local = threading.local()

    def _cache(self):
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = _unigram.cache(self.model)
        return cache

    def flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(every text's ids end to end, int64; len(texts) + 1 offsets). A large batch is cut
        into one part per core, encoded in threads (the C side releases the GIL)."""
        parts = _parts(list(texts))
        done = list(_pool().map(self._encode, parts)) if len(parts) > 1 else [self._encode(parts[0])]
        counts = np.concatenate([counts for _, counts in done])
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return np.concatenate([ids for ids, _ in done]), offsets

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(the ids end to end, each text's count), both int64."""
        try:
            ids, counts = _unigram.encode(self.model, texts, self._cache())
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8: sentencepiece answers
            encoded = self.fallback().encode(texts)
            return (np.fromiter(chain.from_iterable(encoded), dtype=np.int64),
                    np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        return np.frombuffer(ids, dtype=np.int32).astype(np.int64), np.frombuffer(counts, dtype=np.int64)

    def unknown(self) -> int:
        """The id of the model's unknown piece, its only unknown id (the C encoder takes no
        model with byte pieces)."""
        return _unigram.unknown(self.model)

    def spans(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """(ids, each token's (begin, end) in the text's UTF-8 bytes), as sentencepiece's pieces
        give them."""
        try:
            ids, spans = _unigram.spans(self.model, text)
        except UnicodeEncodeError:
            return proto_spans(self.fallback(), text)
        pairs = np.frombuffer(spans, dtype=np.int64).reshape(-1, 2).tolist()
        return np.frombuffer(ids, dtype=np.int32).tolist(), [tuple(p) for p in pairs]


def fast_encoder(data: bytes, proto, fallback: Callable[[], object]) -> FastEncoder | None:
    """The C encoder of a model (its bytes, and the parsed ``ModelProto`` for its settings), or
    None when it does not reproduce the model. ``fallback()`` gives sentencepiece's processor,
    which answers text with a lone surrogate (no UTF-8 for the C side to read)."""
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    if (_unigram is None or trainer.model_type != UNIGRAM or trainer.byte_fallback
            or trainer.treat_whitespace_as_suffix):
        return None
    flags = (int(norm.add_dummy_prefix) | int(norm.remove_extra_whitespaces) << 1
             | int(norm.escape_whitespaces) << 2)
    try:
        model = _unigram.model(data, norm.precompiled_charsmap, flags)
    except ValueError:  # pieces or a charsmap it does not take: sentencepiece says what it makes of them
        return None
    return FastEncoder(model, fallback)
