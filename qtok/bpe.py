"""Byte-level BPE on one piece: the merge rule every engine implements, in plain Python.

Start from the piece's bytes and repeatedly merge the adjacent pair whose concatenation has the
lowest rank, the leftmost on ties, until no pair is a token. Done naively (rescan all pairs after
each merge) it is quadratic in the piece length, and a megabyte without a space is a single
piece; so the merges are driven by a heap over a linked list of parts, O(n log n). The reference
engine runs it, the Hugging Face export uses it to recover merges from ranks.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


def bpe_merge(
    piece: bytes,
    ranks: dict[bytes, int],
    on_merge: Callable[[int, int, int], None] | None = None,
) -> list[int]:
    """The token ids of one piece, by lowest-rank-first merging.

    ``on_merge(start, end, rank)`` is called after each merge (used by ``merge_steps``).

    >>> ranks = {b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"abc": 4}
    >>> bpe_merge(b"abcab", ranks)
    [4, 3]
    """
    n = len(piece)
    # Parts are identified by their start offset: part i is piece[i:nxt[i]]. Dead parts were
    # merged into their left neighbour.
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = [(r, i) for i in range(n - 1) if (r := ranks.get(piece[i : i + 2])) is not None]
    heapq.heapify(heap)
    while heap:
        rank, i = heapq.heappop(heap)
        # Stale entries: the left part was merged away, or the pair's bytes have changed since
        # it was pushed (ranks are unique per byte string, so equal rank means same pair).
        if not alive[i] or (j := nxt[i]) >= n or ranks.get(piece[i : nxt[j]]) != rank:
            continue
        alive[j] = False
        nxt[i] = end = nxt[j]
        if end < n:
            prv[end] = i
        if on_merge is not None:
            on_merge(i, end, rank)
        # The merged part forms new pairs with both neighbours.
        if (p := prv[i]) >= 0 and (r := ranks.get(piece[p:end])) is not None:
            heapq.heappush(heap, (r, p))
        if end < n and (r := ranks.get(piece[i : nxt[end]])) is not None:
            heapq.heappush(heap, (r, i))
    out, i = [], 0
    while i < n:
        out.append(ranks[piece[i : nxt[i]]])
        i = nxt[i]
    return out


class _Below:
    """``ranks`` restricted to ranks below ``limit``, with the two methods ``bpe_merge`` uses."""

    def __init__(self, ranks: dict[bytes, int], limit: int):
        self.ranks, self.limit = ranks, limit

    def get(self, key: bytes, default=None):
        r = self.ranks.get(key)
        return r if r is not None and r < self.limit else default

    def __getitem__(self, key: bytes) -> int:
        r = self.get(key)
        if r is None:
            raise KeyError(key)
        return r


def merges_from_ranks(ranks: dict[bytes, int], irregular: list[bytes] | None = None) -> list[tuple[bytes, bytes]]:
    """The merges that make each multi-byte token, in rank order: what a BPE with a merge list
    (Hugging Face ``tokenizers``, ``fastokens``' JSON form) needs to give tiktoken's ids. The
    irregular tokens (below) are appended to ``irregular`` when a list is given: one pass finds both.

    Usually one merge a token: the two parts BPE reaches with only lower ranks. Some vocabularies
    (Qwen3.5's: 232 of 248,044) have tokens that lower ranks cannot build in two parts (人力资源
    is 人 + 力 + 资源 below its rank). tiktoken still makes such a token whenever two adjacent
    parts join into it, at its rank; so every split of it into two tokens is listed, at its
    place. ``ignore_merges`` in the export makes a whole piece that is a token one token, as
    tiktoken does.

    >>> merges_from_ranks({b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"abc": 4})
    [(b'a', b'b'), (b'ab', b'c')]
    >>> merges_from_ranks({b"a": 0, b"b": 1, b"c": 2, b"abc": 3, b"ab": 4, b"bc": 5})
    [(b'a', b'bc'), (b'ab', b'c'), (b'a', b'b'), (b'b', b'c')]
    """
    by_rank = {r: t for t, r in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = merge_parts(token, rank, ranks)
        if len(parts) == 2:
            merges.append((by_rank[parts[0]], by_rank[parts[1]]))
        else:
            if irregular is not None:
                irregular.append(token)
            merges.extend((token[:i], token[i:]) for i in range(1, len(token))
                          if token[:i] in ranks and token[i:] in ranks)
    return merges


def irregular_tokens(ranks: dict[bytes, int]) -> list[bytes]:
    """The multi-byte tokens that lower ranks cannot build in two parts, in rank order (232 of
    Qwen3.5's 248,044; none in a table BPE training wrote).

    >>> irregular_tokens({b"a": 0, b"b": 1, b"c": 2, b"abc": 3, b"ab": 4, b"bc": 5})
    [b'abc']
    """
    found: list[bytes] = []
    merges_from_ranks(ranks, found)
    return found


def merge_parts(token: bytes, rank: int, ranks: dict[bytes, int]) -> list[int]:
    """The ranks of the parts BPE reaches on ``token`` with only tokens below ``rank``: two for
    every token a merge can make (what tiktoken's and every other BPE's tables are).

    >>> merge_parts(b"abc", 4, {b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"abc": 4})
    [3, 2]
    """
    return bpe_merge(token, _Below(ranks, rank))
