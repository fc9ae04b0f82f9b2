"""Parity-aware extension: each new merge chosen for the language the vocabulary serves worst.

Parity-aware BPE (Foroutan, Meister, Paul, Niklaus, Ahmadi, Bosselut, Sennrich 2025, "Parity-aware
Byte Pair Encoding: Improving Cross-lingual Fairness in Tokenization", arXiv 2508.04796; their
reference code is MIT) learns a vocabulary from scratch so that a parallel development set costs
each language about the same number of tokens. At every step it measures each language's length
on the development set under the merges so far, takes the language whose text is longest (the
worst compressed: the texts say the same thing), and adds the pair most frequent in *that*
language's training text. A hybrid takes the first M merges by global frequency (classical BPE),
then switches.

Adapted here to *extending* a base vocabulary, as Qwen extended cl100k_base: the training and
development pieces are encoded with the base first (its merges are all applied before any new
one, the rule tiktoken's BPE follows), and the parity steps run on those ids. As in the paper, a
step's cost is the pieces it changes, not the corpus: pair counts per language and the
development lengths are updated only where the merged pair occurs. Ties are broken as in
``train.extend_counts``: the smallest ``(left id, right id)``. When the worst language has no
pair left that occurs twice, the next worst gives the merge.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from .encodings import QWEN_PATTERN
from .engine.check import check_pattern
from . import train as _train
from .train import _learn_native, _progress, count_pieces, encode_pieces, merge_word, new_token, prepare_base

OBJECTIVES = ("frequency", "parity", "hybrid")


def parse_objective(text: str) -> tuple[str, int]:
    """``frequency``, ``parity`` or ``hybrid:M`` (the first M merges by frequency) as
    ``(objective, global_merges)``.

    >>> parse_objective("hybrid:100"), parse_objective("parity")
    (('hybrid', 100), ('parity', 0))
    """
    name, _, m = text.partition(":")
    if name not in OBJECTIVES or (name == "hybrid") != bool(m) or (m and not m.isdigit()):
        raise ValueError(f"objective must be frequency, parity or hybrid:M (M merges by frequency "
                         f"first, e.g. hybrid:1000), got {text!r}")
    return name, int(m or 0)


def extend_parity(base, train: dict[str, Iterable[str]], dev: dict[str, Iterable[str]], n_new: int,
                  pat_str: str = QWEN_PATTERN, drop=None, global_merges: int = 0,
                  progress: bool | None = None) -> dict[bytes, int]:
    """A new rank table: the base's tokens (minus ``drop``ped ones) and up to ``n_new`` learned
    tokens, each for the language whose ``dev`` text (parallel across languages) is longest in
    tokens at that step, from that language's ``train`` texts. ``global_merges`` first merges by
    frequency over all training text (the hybrid).

    >>> base = {bytes([i]): i for i in range(256)}
    >>> train = {"a": ["aa aa aa aa aa"], "b": ["bc bc"]}
    >>> dev = {"a": ["aa"], "b": ["bc bc"]}
    >>> [t for t, r in sorted(extend_parity(base, train, dev, 1).items(), key=lambda kv: kv[1])][256:]
    [b'bc']
    """
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new <= 0:
        raise ValueError(f"n_new must be a positive int, got {n_new!r}")
    check_pattern(pat_str, "the pattern")
    missing = sorted(set(train) - set(dev))
    if missing:
        raise ValueError(f"no development text for {', '.join(missing)}: parity compares every "
                         "training language on the parallel development set")
    ranks, ordered = prepare_base(base, drop)
    train_counts = {lang: count_pieces(texts, pat_str) for lang, texts in train.items()}
    dev_counts = {lang: count_pieces(texts, pat_str) for lang, texts in dev.items()}
    if not any(train_counts.values()):
        raise ValueError("the training corpus is empty: give at least one non-empty text")
    return learn_parity(ranks, ordered, train_counts, dev_counts, n_new, pat_str,
                        global_merges=global_merges, progress=progress)


class _Words:
    """Pieces as ids, each with its occurrences per language, and what merging needs: pair
    counts per language and over all, and for each pair the words it occurs in."""

    def __init__(self, encoded: dict[str, list[int]], counts: dict[str, Counter], langs: list[str]):
        self.words: list[list[int]] = []
        self.weights: list[dict[int, int]] = []
        weight: dict[str, dict[int, int]] = {}
        for l, lang in enumerate(langs):
            for piece, c in counts.get(lang, {}).items():
                weight.setdefault(piece, {})[l] = c
        self.lengths = [0] * len(langs)  # tokens of each language
        self.by_lang = [Counter() for _ in langs]
        self.total: Counter = Counter()
        self.where: dict[tuple[int, int], set[int]] = {}
        for piece in sorted(weight):  # sorted: the result does not depend on dict order
            ids, wt = encoded[piece], weight[piece]
            for l, c in wt.items():
                self.lengths[l] += len(ids) * c
            if len(ids) < 2:
                continue
            w = len(self.words)
            self.words.append(ids)
            self.weights.append(wt)
            self._count(ids, wt, w, +1)

    def _count(self, ids, wt, w, sign) -> set:
        pairs = set(zip(ids, ids[1:]))
        for pair in zip(ids, ids[1:]):
            for l, c in wt.items():
                self.by_lang[l][pair] += sign * c
                self.total[pair] += sign * c
        for pair in pairs:
            self.where.setdefault(pair, set()).add(w)
        return pairs

    def merge(self, pair: tuple[int, int], new_id: int) -> set[tuple[int, int]]:
        """Merge ``pair`` everywhere; returns the pairs whose counts changed."""
        changed: set[tuple[int, int]] = set()
        for w in self.where.pop(pair, ()):
            ids, wt = self.words[w], self.weights[w]
            changed |= self._count(ids, wt, w, -1)
            out = merge_word(ids, pair, new_id)
            for l, c in wt.items():
                self.lengths[l] -= (len(ids) - len(out)) * c
            self.words[w] = out
            changed |= self._count(out, wt, w, +1)
        return changed

    def forget(self, pair: tuple[int, int]) -> None:
        self.total.pop(pair, None)
        for counts in self.by_lang:
            counts.pop(pair, None)


def learn_parity(ranks: dict[bytes, int], ordered: list[bytes], train_counts: dict[str, Counter],
                 dev_counts: dict[str, Counter], n_new: int, pat_str: str = QWEN_PATTERN, *,
                 global_merges: int = 0, progress: bool | None = None) -> dict[bytes, int]:
    """``extend_parity`` from piece counts per language (``train.count_pieces`` of each)."""
    ranks = dict(ranks)
    langs = sorted(set(train_counts) | set(dev_counts))
    pieces = sorted(set().union(*train_counts.values(), *dev_counts.values()))
    if _train._native is not None:  # the same loop in C
        index = {p: i for i, p in enumerate(pieces)}
        return _learn_native(ranks, ordered, pat_str, pieces, _columns(train_counts, langs, index), n_new,
                             progress, dev=_columns(dev_counts, langs, index), n_langs=len(langs),
                             global_merges=global_merges)
    encoded = dict(zip(pieces, encode_pieces(ranks, pieces, pat_str)))
    train = _Words(encoded, train_counts, langs)
    dev = _Words(encoded, dev_counts, langs)
    dev_langs = [l for l, lang in enumerate(langs) if dev_counts.get(lang)]
    heaps = [[(-c, p) for p, c in counts.items()] for counts in train.by_lang]
    total_heap = [(-c, p) for p, c in train.total.items()]
    for h in (*heaps, total_heap):
        heapq.heapify(h)

    token_bytes = list(ordered)
    bar = _progress(n_new, progress)
    learned = 0
    while learned < n_new:
        if learned < global_merges:
            pair = _best(total_heap, train.total)
        else:  # the language worst served on the development set, else the next worst
            pair = None
            for l in sorted(dev_langs, key=lambda l: (-dev.lengths[l], l)):
                if (pair := _best(heaps[l], train.by_lang[l])) is not None:
                    break
        if pair is None:
            break
        new_id = new_token(token_bytes, ranks, pair)
        if new_id is None:
            train.forget(pair)
            continue
        learned += 1
        bar.update(1)
        for p in train.merge(pair, new_id):
            for l, counts in enumerate(train.by_lang):
                if counts.get(p, 0) > 0:
                    heapq.heappush(heaps[l], (-counts[p], p))
            if train.total.get(p, 0) > 0:
                heapq.heappush(total_heap, (-train.total[p], p))
        dev.merge(pair, new_id)
    bar.close()
    return ranks


def _columns(counts: dict[str, Counter], langs: list[str], index: dict[str, int]) -> tuple[list, list, list]:
    """Piece counts per language as ``(piece index, language index, count)`` columns, grouped by
    piece: what ``qtok._native.learn`` reads."""
    rows: dict[int, list[tuple[int, int]]] = {}
    for l, lang in enumerate(langs):
        for piece, c in counts.get(lang, {}).items():
            rows.setdefault(index[piece], []).append((l, c))
    cols: tuple[list, list, list] = ([], [], [])
    for i, entries in rows.items():
        for l, c in entries:
            cols[0].append(i)
            cols[1].append(l)
            cols[2].append(c)
    return cols


def _best(heap: list, counts: Counter) -> tuple[int, int] | None:
    """The most frequent pair (smallest on ties) that occurs at least twice, or None; stale heap
    entries (counts changed since they were pushed) are dropped on the way."""
    while heap:
        negc, pair = heap[0]
        if counts.get(pair, 0) != -negc:
            heapq.heappop(heap)
            continue
        return pair if -negc >= 2 else None
    return None
