"""The reference engine: byte-level BPE in plain Python, small enough to read in one sitting.

Encoding a text is three steps:
  1. split it into pieces with the pre-tokenization pattern (``regex``, corrected to tiktoken's
     Unicode tables, see unicode.py);
  2. a piece that is itself a token is that token (the common case: one dict lookup);
  3. otherwise start from the piece's bytes and repeatedly merge the adjacent pair whose
     concatenation has the lowest rank, the leftmost on ties, until no pair is a token.

Step 3 is what tiktoken does (``qtok.bpe.bpe_merge``, O(n log n) in the piece's length). Results
for short pieces are cached.
"""

from __future__ import annotations

from itertools import chain

import regex

from ..bpe import bpe_merge
from ..encodings import EncodingSpec
from ..specials import split_specials
from ..unicode import compile_portable, first_disputed, piece_finder

# Pieces up to this many characters are cached; longer ones are rare and would bloat the cache.
_CACHEABLE = 64
_CACHE_LIMIT = 1 << 20


class ReferenceEngine:
    """Pure-Python engine (see ``engine.Engine`` for the interface)."""

    @staticmethod
    def backend() -> str:
        return "qtok pure Python"

    def __init__(self, spec: EncodingSpec):
        self.spec = spec
        self._ranks = spec.mergeable_ranks
        self._split = piece_finder(compile_portable(spec.pat_str))
        # The plain pattern is faster and splits identically while no character reaches the
        # first code point whose class differs between the two Unicode versions (unicode.py).
        self._plain_split = piece_finder(regex.compile(spec.pat_str))
        first = first_disputed(spec.pat_str)
        self._beyond_plain = regex.compile(f"[^\\x00-\\U{first - 1:08x}]" if first else r"(?s).")
        self._decoder = {rank: token for token, rank in self._ranks.items()}
        self._decoder.update((i, s.encode("utf-8")) for s, i in spec.special_tokens.items())
        self._cache: dict[str, list[int]] = {}

    def encode_piece(self, piece: str) -> list[int]:
        """The ids of one pre-tokenized piece, uncached."""
        data = piece.encode("utf-8")
        rank = self._ranks.get(data)
        if rank is not None:
            return [rank]
        return bpe_merge(data, self._ranks)

    def encode_ordinary(self, text: str) -> list[int]:
        pieces = self.pieces(text)
        cache = self._cache
        # One C-level pass of cache lookups; only the misses go through Python.
        found = list(map(cache.get, pieces))
        if None in found:
            for i, toks in enumerate(found):
                if toks is None:
                    piece = pieces[i]
                    toks = cache.get(piece)  # filled by an earlier miss of this same call?
                    if toks is not None:
                        found[i] = toks
                        continue
                    toks = found[i] = self.encode_piece(piece)
                    if len(piece) <= _CACHEABLE:
                        if len(cache) >= _CACHE_LIMIT:
                            cache.clear()
                        cache[piece] = toks
        return list(chain.from_iterable(found))

    def encode(self, text: str, allowed_special: frozenset[str]) -> list[int]:
        """Ordinary encoding, except that the texts in ``allowed_special`` become their ids."""
        ids: list[int] = []
        for segment, is_special in split_specials(text, allowed_special):
            if is_special:
                ids.append(self.spec.special_tokens[segment])
            else:
                ids += self.encode_ordinary(segment)
        return ids

    def encode_batch(self, texts: list[str], allowed_special: frozenset[str],
                     num_threads: int) -> list[list[int]]:
        # Pure Python holds the GIL: threads would only add contention (measured slower), so the
        # texts are encoded one after another whatever num_threads says.
        return [self.encode(t, allowed_special) for t in texts]

    def pieces(self, text: str) -> list[str]:
        """The pre-tokenized pieces of a text, exactly as tiktoken splits it."""
        if not self._beyond_plain.search(text):  # a fast scan that stops at the first hit
            return self._plain_split(text)
        return self._split(text)

    def decode_bytes(self, ids) -> bytes:
        decoder = self._decoder
        return b"".join([decoder[i] for i in ids])

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self._decoder[token]

    def merge_steps(self, piece: str) -> list[list[bytes]]:
        """Each state of a piece's parts, from single bytes to the final tokens.

        >>> from qtok import get_tokenizer
        >>> get_tokenizer(engine="reference").engine.merge_steps(" hello")[-1]
        [b' hello']
        """
        data = piece.encode("utf-8")
        bounds = list(range(len(data) + 1))
        states = [[data[i : i + 1] for i in range(len(data))]]

        def record(start: int, end: int, rank: int) -> None:
            bounds[:] = [b for b in bounds if not start < b < end]
            states.append([data[a:b] for a, b in zip(bounds, bounds[1:])])

        bpe_merge(data, self._ranks, on_merge=record)
        return states
