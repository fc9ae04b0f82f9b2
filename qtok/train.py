"""Learn extension tokens on top of a base vocabulary, the way Qwen extended cl100k_base.

Byte-level BPE continued from a base: the corpus is split into pieces with the pattern, each
unique piece is encoded once with the base, and then the most frequent adjacent pair of tokens
(counted over all pieces, weighted by how often each piece occurs) is merged into a new token,
again and again. New tokens get ranks after the base's, so the encoder applies every base merge
first and the new ones in the order they were learned: the merge rule tiktoken's BPE follows.

Ties are broken deterministically: among pairs of equal count, the smallest (left id, right id)
wins, compared as a tuple: the left ids first, the right ids only when the left ones are equal
(so (97, 256) beats (98, 99)). Pair counts are updated incrementally
(only the pieces that contain the merged pair are touched) and candidates sit in a heap with
lazy deletion, so a merge costs time proportional to the pieces it changes, not to the corpus.

Counting the pieces of Qwen's patterns and the whole learning loop run in C where ``qtok._native``
was built (``setup.py``; any machine with a C compiler), with the same table as the Python loops
below (``tests/qtok/test_native.py``); 30 MB learn 5,000 tokens in 2.6 s on one core (rustbpe: 7.9 s).

>>> base = {bytes([i]): i for i in range(256)}
>>> ranks = extend(base, ["aaabdaaabac"], 3)
>>> [t for t, r in sorted(ranks.items(), key=lambda kv: kv[1])][256:]
[b'aa', b'ab', b'aaab']
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from .blocks import BLOCK_BYTES, number, plan_file, read_docs, read_text
from .core import Tokenizer
from .encodings import ENDOFTEXT, QWEN_PATTERN, EncodingSpec, get_spec, is_multi_digit
from .files import atomic_write
from .engine.check import check_pattern
from .load import check_table, dump_ranks, sha256_bytes
from .progress import Status
from .runner import run
from .tally import NATIVE_PATTERNS
from .unicode import class_table, compile_portable, piece_finder

try:  # the trainer's two hot loops in C, built by setup.py wherever a C compiler is
    from . import _native
except ImportError:  # no compiler at install: the pure-Python loops, which learn the same table
    _native = None

# Texts are handed to the C counter in batches of about this many characters: what a batch holds
# (the list, the UTF-8 of its non-ASCII texts) stays small however long the stream of texts.
_BATCH_CHARS = 8 << 20


def _base_ranks(base) -> tuple[str, dict[bytes, int]]:
    if isinstance(base, dict):
        return "custom", base
    if isinstance(base, EncodingSpec):
        return base.name, base.mergeable_ranks
    spec = get_spec(base)
    return spec.name, spec.mergeable_ranks


def extend(
    base,
    texts: Iterable[str],
    n_new: int,
    pat_str: str = QWEN_PATTERN,
    drop: Callable[[bytes], bool] | None = None,
    progress: bool | None = None,
) -> dict[bytes, int]:
    """A new rank table: the base's tokens (minus ``drop``ped ones, renumbered in order) followed
    by up to ``n_new`` learned tokens. ``base`` is a rank dict, an ``EncodingSpec``, an encoding
    name or a ``.tiktoken`` path. Fewer than ``n_new`` tokens are learned only when no pair
    occurs twice any more.
    """
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new <= 0:
        raise ValueError(f"n_new must be a positive int, got {n_new!r}")
    ranks, ordered = prepare_base(base, drop)

    # 1. Unique pieces and their frequencies: memory is proportional to the distinct pieces.
    check_pattern(pat_str, "the pattern")
    if _native is not None and pat_str in NATIVE_PATTERNS:
        if isinstance(texts, str):
            texts = [texts]
        table, slow = _count_table(texts, pat_str)
        if not slow and _native.table_size(table):  # counted and learned in C, no piece in Python
            return _learn_native(ranks, ordered, pat_str, table, (None, None, None), n_new, progress)
        piece_counts = _table_counts(table, slow, pat_str)
    else:
        piece_counts = count_pieces(texts, pat_str)
    if not piece_counts:
        raise ValueError("the corpus is empty: give at least one non-empty text")
    return extend_counts(ranks, ordered, piece_counts, n_new, pat_str, progress)


def count_pieces(texts: Iterable[str], pat_str: str = QWEN_PATTERN) -> Counter[str]:
    """How often each pre-tokenization piece occurs in ``texts``: all that merging needs from a
    corpus, and what ``qtok.runner`` counts per block, in parallel, for large ones. Qwen's
    patterns are split in C (``qtok._native``, on every core this process may use), any other
    with ``regex``; both give the same table."""
    return _count(texts, pat_str)


def _count(texts: Iterable[str], pat_str: str, threads: int | None = None) -> Counter[str]:
    if isinstance(texts, str):
        texts = [texts]
    if _native is None or pat_str not in NATIVE_PATTERNS:
        return _count_python(texts, pat_str)
    return _table_counts(*_count_table(texts, pat_str, threads), pat_str)


def _table_counts(table, slow: list[str], pat_str: str) -> Counter[str]:
    """A C table's counts as a ``Counter``, with those of the texts it left to ``regex``."""
    counts = _native.table_items(table, Counter())
    if slow:
        counts.update(_count_python(slow, pat_str))
    return counts


def _count_python(texts: Iterable[str], pat_str: str) -> Counter[str]:
    find_pieces = piece_finder(compile_portable(pat_str))
    piece_counts: Counter[str] = Counter()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}")
        piece_counts.update(find_pieces(text))
    return piece_counts


def _count_table(texts: Iterable[str], pat_str: str, threads: int | None = None):
    """``texts`` counted in C into a ``qtok._native`` table (pieces never become Python objects),
    in batches of ``_BATCH_CHARS`` characters, each split across the cores this process may use
    (the C scan releases the GIL; a table a core, merged at the end), or across ``threads``.
    Returns the table and the texts with a lone surrogate (no UTF-8), left to the ``regex`` way."""
    letters, digits = NATIVE_PATTERNS[pat_str]
    classes = class_table()
    cores = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    tables = [_native.table() for _ in range(cores)]
    slow: list[str] = []

    def count(i: int, part: list[str]) -> None:
        slow.extend(_native.count_into(tables[i], part, classes, letters, digits))

    with ThreadPoolExecutor(cores) as pool:
        def flush(batch: list[str]) -> None:
            if cores == 1 or len(batch) < 2 * cores:
                count(0, batch)
            else:
                list(pool.map(count, range(cores), [batch[i::cores] for i in range(cores)]))

        batch: list[str] = []
        size = 0
        for text in texts:
            batch.append(text)
            size += len(text) if isinstance(text, str) else 0
            if size >= _BATCH_CHARS:
                flush(batch)
                batch, size = [], 0
        flush(batch)
    for more in tables[1:]:
        _native.table_merge(tables[0], more)
    return tables[0], slow


def prepare_base(base, drop: Callable[[bytes], bool] | None = None) -> tuple[dict[bytes, int], list[bytes]]:
    """The base's ranks minus ``drop``ped tokens, renumbered in order, and its tokens by rank."""
    _, base_ranks = _base_ranks(base)
    check_table(base_ranks, {}, "the base vocabulary")  # the checks every rank file gets
    ordered = [t for t, _ in sorted(base_ranks.items(), key=lambda kv: kv[1])]
    if drop is not None:
        ordered = [t for t in ordered if not drop(t)]
        kept = set(ordered)
        if any(bytes([b]) not in kept for b in range(256)):
            raise ValueError("drop removed a single-byte token; the result could not encode all bytes")
    return {t: i for i, t in enumerate(ordered)}, ordered


def extend_counts(ranks: dict[bytes, int], ordered: list[bytes], piece_counts: dict[str, int],
                  n_new: int, pat_str: str = QWEN_PATTERN, progress: bool | None = None) -> dict[bytes, int]:
    """``extend`` from a table of piece counts (``count_pieces``, or counts merged from many
    blocks) and a prepared base (``prepare_base``). The result does not depend on the order of
    ``piece_counts``: pieces are taken in sorted order, and ties between pairs are broken by id."""
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new <= 0:
        raise ValueError(f"n_new must be a positive int, got {n_new!r}")
    ranks = dict(ranks)
    if _native is not None:
        return _learn_native(ranks, ordered, pat_str, list(piece_counts),
                             (None, None, list(piece_counts.values())), n_new, progress)
    pieces = sorted(piece_counts)
    # 2. Encode each unique piece once with the (possibly pruned) base.
    words: list[list[int]] = []
    freqs: list[int] = []
    encoded = encode_pieces(ranks, pieces, pat_str)
    for ids, freq in zip(encoded, (piece_counts[p] for p in pieces)):
        if len(ids) > 1:  # a single-token piece has no pair to merge
            words.append(ids)
            freqs.append(freq)
    del pieces

    # 3. Pair statistics: counts and, for each pair, the words it occurs in.
    counts: Counter[tuple[int, int]] = Counter()
    where: dict[tuple[int, int], set[int]] = {}
    for w, (ids, freq) in enumerate(zip(words, freqs)):
        for pair in zip(ids, ids[1:]):
            counts[pair] += freq
            where.setdefault(pair, set()).add(w)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)

    token_bytes = list(ordered)
    bar = _progress(n_new, progress)
    learned = 0
    while learned < n_new and heap:
        negc, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -negc:
            continue  # stale entry: the count changed since it was pushed
        if -negc < 2:
            break  # merging a pair seen once compresses nothing worth a token
        new_id = new_token(token_bytes, ranks, pair)
        if new_id is None:
            del counts[pair]
            continue
        learned += 1
        bar.update(1)
        changed: set[tuple[int, int]] = set()
        for w in where.pop(pair):
            ids, freq = words[w], freqs[w]
            for p in zip(ids, ids[1:]):
                counts[p] -= freq
                changed.add(p)
            words[w] = out = merge_word(ids, pair, new_id)
            for p in zip(out, out[1:]):
                counts[p] += freq
                changed.add(p)
                where.setdefault(p, set()).add(w)
        for p in changed:
            c = counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                counts.pop(p, None)
    bar.close()
    return ranks


def _learn_native(ranks: dict[bytes, int], ordered: list[bytes], pat_str: str, pieces: list[str], train,
                  n_new: int, progress: bool | None, dev=None, n_langs: int = 0,
                  global_merges: int = 0) -> dict[bytes, int]:
    """The learning loop in C (``qtok._native.learn``), for ``extend_counts`` and
    ``parity.learn_parity``: the same encoding of each piece with the base (BPE of its bytes,
    tiktoken's rule), the same pair counts, choice and tie-break as their Python loops.

    ``train`` (and ``dev``, for parity) are ``(piece index, language, count)`` columns, grouped
    by piece (``None`` for the indices: one count a piece, in order; for the languages: one
    language); without ``dev`` every merge is the most frequent pair. Pieces with a lone surrogate
    (no UTF-8) are encoded here, by the engine. ``ranks`` gets the learned tokens."""
    token_bytes = list(ordered)
    base_tok = None
    bar = _progress(n_new, progress)

    def encode_slow(piece: str) -> list[int]:
        nonlocal base_tok
        base_tok = base_tok or Tokenizer(EncodingSpec("base", pat_str, dict(ranks), {}))
        return base_tok.encode_ordinary(piece)

    def accept(left: int, right: int) -> int | None:
        new_id = new_token(token_bytes, ranks, (left, right))
        if new_id is not None:
            bar.update(1)
        return new_id

    # ranks itself: learn() copies it into C before the first accept() adds to it.
    _native.learn(pieces, train, dev, n_langs, ranks, n_new, global_merges, accept, encode_slow)
    bar.close()
    return ranks


def new_token(token_bytes: list[bytes], ranks: dict[bytes, int], pair: tuple[int, int]) -> int | None:
    """Append the concatenation of ``pair``'s tokens as the next rank and return its id; None
    when it is a token already (the base has it, but its BPE did not reach it here): a duplicate
    rank is impossible."""
    merged = token_bytes[pair[0]] + token_bytes[pair[1]]
    if merged in ranks:
        return None
    ranks[merged] = new_id = len(token_bytes)
    token_bytes.append(merged)
    return new_id


def merge_word(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """``ids`` with every occurrence of ``pair``, left to right, replaced by ``new_id``.

    >>> merge_word([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    """
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def encode_pieces(ranks: dict[bytes, int], pieces: list[str], pat_str: str) -> list[list[int]]:
    """Each piece's ids under the base ranks, each piece alone as ``encode`` would split it: one
    batch call into the engine."""
    base_tok = Tokenizer(EncodingSpec("base", pat_str, ranks, {}))
    # One thread: pieces are tiny, and a thread pool's cost per text is larger than their BPE's
    # (565,190 pieces: 2.0 s on one thread, 14.5 s on two).
    return base_tok.encode_batch(pieces, allowed_special=(), num_threads=1)


def _progress(total: int, enabled: bool | None):
    return Status().bar(total=total, desc="learning tokens", unit="tok", show=enabled)


class PieceCounter:
    """The picklable factory of a block's piece counts (``qtok.runner.run``): a text block is
    one text (its cut points split no piece), a JSON Lines or Parquet block one text a row."""

    def __init__(self, pat_str: str = QWEN_PATTERN):
        self.pat_str = pat_str

    def __call__(self):
        return partial(_count_block, pat_str=self.pat_str)


def _count_block(block, pat_str: str) -> Counter[str]:
    texts = [read_text(block)] if block.kind == "text" else read_docs(block)
    return _count(texts, pat_str, threads=1)  # the runner gives each worker a core of its own


def count_corpus_pieces(files: list[Path], pat_str: str = QWEN_PATTERN, *, backend: str = "local",
                        jobs: int | None = None, address: str | None = None, min_count: int = 1,
                        block_bytes: int | None = None, progress: bool | None = None,
                        errors: str = "strict") -> tuple[dict[str, int], dict]:
    """Piece counts of corpus files, counted in blocks on all cores (``local``) or on Ray, merged,
    then pruned below ``min_count``; the same table whichever backend counted. Also returns what
    the sidecar records about the counting."""
    if min_count < 1:
        raise ValueError(f"--min-count must be at least 1, got {min_count}")
    check_pattern(pat_str, "the pattern")
    block_bytes = block_bytes or BLOCK_BYTES
    blocks = number(b for f in files if f.stat().st_size
                    for b in plan_file(f, "", None, block_bytes=block_bytes, errors=errors))
    counts: Counter[str] = Counter()
    for _, part in run(PieceCounter(pat_str), blocks, backend=backend, jobs=jobs, address=address,
                       progress=progress, desc="counting pieces"):
        counts.update(part)
    if not counts:
        raise ValueError("the corpus is empty: give at least one non-empty text")
    distinct, occurrences = len(counts), sum(counts.values())
    if min_count > 1:
        counts = Counter({p: c for p, c in counts.items() if c >= min_count})
        if not counts:
            raise ValueError(f"no piece occurs {min_count} times; lower --min-count")
    record = {"blocks": len(blocks), "block_bytes": block_bytes, "distinct_pieces": distinct,
              "occurrences": occurrences, "min_count": min_count, "pieces_kept": len(counts),
              "occurrences_kept": sum(counts.values())}
    return counts, record


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus every file under named directories (sorted: reproducible)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"corpus path {str(p)!r} does not exist")
    if not files:
        raise ValueError("the corpus has no files")
    return files


def language_files(paths: Iterable[str | Path]) -> dict[str, list[Path]]:
    """A corpus by language, for the parity objective: ``LANG.txt`` files (the language is the
    name before the first dot) or ``LANG/`` directories of files.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "de.txt").write_text("x"); (d / "fr.txt").write_text("y")
    1
    1
    >>> sorted(language_files([d]))
    ['de', 'fr']
    """
    out: dict[str, list[Path]] = {}
    for p in map(Path, paths):
        entries = sorted(p.iterdir()) if p.is_dir() else [p]
        for entry in entries:
            if not entry.exists():
                raise ValueError(f"corpus path {str(entry)!r} does not exist")
            lang = entry.name.split(".")[0]
            out.setdefault(lang, []).extend(corpus_files([entry]))
    if not out:
        raise ValueError("the corpus has no files")
    return out


def write_extension(path: str | Path, ranks: dict[bytes, int], *, base, n_new_requested: int,
                    pat_str: str = QWEN_PATTERN, drop_multi_digit: bool = False,
                    corpus=None, name: str | None = None, counts: dict | None = None) -> dict:
    """Write ``path`` (tiktoken format) and its sidecar ``path.json``, the one record of how an
    extension was made that every reader (``get_tokenizer``, ``analysis.vocab``) relies on: base
    name and hash, pattern, sizes, corpus, specials. Both are written atomically, ranks first, so
    a killed run leaves the old pair or a new rank file whose hash the old sidecar does not match.
    Returns the sidecar's dict.
    """
    path = Path(path)
    base_name, base_ranks = _base_ranks(base)
    n_kept = sum(1 for t in base_ranks if not (drop_multi_digit and is_multi_digit(t)))
    data = dump_ranks(ranks)
    meta = {
        "name": name or path.stem,
        "base": base_name,
        "base_sha256": sha256_bytes(dump_ranks(base_ranks)),
        "pat_str": pat_str,
        "drop_multi_digit": drop_multi_digit,
        "n_new_requested": n_new_requested,
        "n_new": len(ranks) - n_kept,
        "n_ranks": len(ranks),
        "corpus": corpus,
        "sha256": sha256_bytes(data),
        "special_tokens": {ENDOFTEXT: len(ranks)},
    }
    if counts is not None:  # the piece-count table merging started from, and its pruning
        meta["counts"] = counts
    atomic_write(path, data)
    atomic_write(path.with_name(path.name + ".json"), json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta
