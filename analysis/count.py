"""Counting a corpus for the study: every language's blocks (``qtok.blocks``) counted by every
tokenizer, on all cores or on Ray (``qtok.runner``), merged in block order into per-language
rows, tokens per document (what the bootstrap resamples) and token frequencies.

A sample or a cap (``--sample``, ``--max-docs``, ``--max-bytes``) is chosen here from a census of
document sizes and travels with each block as a ``Selection``: which of its documents to count.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice

import numpy as np

from qtok.blocks import BLOCK_BYTES, Block, number, read_docs
from qtok.runner import run, stopping
from qtok.tally import Joint, Tally
from qtok.unicode import surely_normalized

from .corpora import Corpus, normalize
from .metrics import (
    NAN,
    average_rank,
    renyi_efficiency,
    vocab_utilization,
    without_spaces,
)
from .scripts import dominant_script
from .tokenizers import LONG_DOC, Adapter, load_adapters, split_long

try:  # built by setup.py wherever a C compiler is
    from qtok import _native
except ImportError:  # the words are counted in Python, with the same numbers
    _native = None

# Documents tokenized at a time: a tokenizer's ids stay a few megabytes however large the block
# (whose normalized text is held while each tokenizer counts it in turn).
BATCH = 256
# Per block, the first documents up to this many characters (the last one cut there) are also
# tokenized in NFD, against NFC: the normalization-robustness ratio, at a few percent of an 8 MB
# block's counting.
NFD_SAMPLE_CHARS = 64_000
# Blocks are counted in groups of about a worker's share of the bytes divided by this (count_blocks).
GROUPS_PER_WORKER = 8
# Corpora at least this large are counted in worker processes (each builds its own tokenizers, ~2 s);
# smaller ones in threads of this process, where that start-up would cost more than it saves.
PROCESS_BYTES = 64 << 20




@dataclass
class Selection(Block):
    """A block with the documents a sample or a cap chose: their indices in the block."""

    select: list[int] | None = field(default=None, repr=False)


def selected(block: Block) -> Iterator[str]:
    """``read_docs`` restricted to the block's ``select`` (all documents of a plain block)."""
    docs = read_docs(block)
    select = getattr(block, "select", None)
    if select is None:
        yield from docs
        return
    want = iter(select)
    nxt = next(want, None)
    for i, doc in enumerate(docs):
        if nxt is None:
            return
        if i == nxt:
            yield doc
            nxt = next(want, None)


@dataclass
class Counted:
    """What counting a corpus gives the study."""

    rows: dict[str, list[dict]]  # lang -> one row per tokenizer (the long table's columns)
    doc_tokens: dict[tuple[str, str], list[int]]  # (tokenizer, lang) -> tokens of each document
    how: dict  # backend, pool, workers, blocks, sample: recorded in the results' metadata
    first_docs: dict[str, str]  # lang -> the start (<= 1,000 characters) of its first document
    # (tokenizer, lang) -> (ids used, their counts), sorted by id: the vocabulary overlap.
    used_tokens: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    # lang -> documents in the corpus before a --sample drew from it: a sample of a corpus that
    # is not parallel is not parallel, however many documents each language's sample has.
    population: dict[str, int] = field(default_factory=dict)
    # ("words" | "chars", lang) -> each document's whitespace words or characters, in the order
    # of doc_tokens: what costs and context fits are per, resampled with the tokens.
    doc_units: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def count_block(block: Block, adapters: list[Adapter], form: str | None) -> dict:
    """Everything the study needs from one block, in a form that adds up across blocks: text
    statistics, each tokenizer's tokens per document and token frequencies, and its continued
    words (numerator and denominator), plus the first characters for the script guess."""
    return count_blocks([block], adapters, form)[0]


def count_blocks(blocks: list[Block], adapters: list[Adapter], form: str | None) -> list[dict]:
    """``count_block`` of each block, the blocks read first and then counted by one tokenizer
    after another: a tokenizer's tables stay in the core's caches through all of them (taken a
    small block at a time in turn, the byte-level tables and XLM-R's trie evicted each other, and
    each tokenizer took 1.3-1.4x as long as alone)."""
    read = [_Read(block, form) for block in blocks]
    for unit in joint_units(adapters):
        for r in read:
            r.count(*unit)
    return [r.result() for r in read]


def joint_units(adapters: list[Adapter]) -> list[tuple[Adapter, ...]]:
    """The adapters as they are counted: a tally beside one whose table it extends (Qwen's and
    cl100k_base's) as a pair, ``(extension, base)``, counted in one pass (``qtok.tally.Joint``:
    a piece new to the cache is merged once for both, ~0.5x the time of the two); the others
    alone, ``(adapter,)``."""
    units: list[tuple[Adapter, ...]] = []
    taken: set[int] = set()
    for a in adapters:
        if id(a) in taken:
            continue
        pair = next(((x, y) for b in adapters if b is not a and id(b) not in taken
                     for x, y in ((a, b), (b, a)) if _joint(x, y) is not None), None)
        units.append(pair or (a,))
        taken.update(id(x) for x in units[-1])
    return units


def _joint(a: Adapter, base: Adapter) -> Joint | None:
    """``a``'s tally joined with ``base``'s, where both count with a tally and words after a
    space (``Adapter.word_counts``) and ``a``'s table extends ``base``'s."""
    if not (isinstance(a.tally, Tally) and isinstance(base.tally, Tally) and a.word_prefix == base.word_prefix == " "):
        return None
    return a.tally.joint(base.tally)


class _Read:
    """A block read and normalized, with what does not depend on a tokenizer: statistics,
    words, the samples; ``count(adapter)`` adds a tokenizer's counts, ``result()`` gives
    ``count_block``'s dict."""

    def __init__(self, block: Block, form: str | None):
        lang = self.lang = block.group
        stats = self.stats = {"n_docs": 0, "n_bytes": 0, "n_chars": 0, "n_words": 0}
        words = None  # _Words, once the block's script says whether its distinct words are kept
        sample: list[str] = []
        self.sample = sample
        sampled = 0
        nfd_docs: list[str] = []
        nfd_chars, nfd_whole = 0, 0  # characters sampled, and how many documents whole
        spaced = None  # decided by the script of the block's first documents, not by its file name
        doc_words: list[np.ndarray] = []  # each document's words and characters: what costs are per
        doc_chars: list[np.ndarray] = []
        batches: list[list[str]] = []  # the block, normalized: each tokenizer counts it
        self.batches = batches
        docs = selected(block)
        while True:
            if stopping():
                raise KeyboardInterrupt
            batch = normalized(list(islice(docs, BATCH)), form)
            if not batch:
                break
            if spaced is None:
                spaced = not lang.startswith("code") and not without_spaces(
                    lang, dominant_script(_head(batch, 4000)))
                words = _Words(keep=spaced)
            for doc in batch:
                if nfd_chars >= NFD_SAMPLE_CHARS and sampled >= 1000:
                    break
                if nfd_chars < NFD_SAMPLE_CHARS:  # cut to the budget: a huge document costs no more
                    nfd_docs.append(doc[:NFD_SAMPLE_CHARS - nfd_chars])
                    nfd_chars += len(nfd_docs[-1])
                    nfd_whole += len(nfd_docs[-1]) == len(doc)
                if sampled < 1000:
                    sample.append(doc[:1000])
                    sampled += len(sample[-1])
            n_words, n_bytes = words.add(batch)
            n_chars = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
            stats["n_docs"] += len(batch)
            stats["n_bytes"] += n_bytes
            stats["n_chars"] += int(n_chars.sum())
            stats["n_words"] += int(n_words.sum())
            doc_words.append(n_words)
            doc_chars.append(n_chars)
            batches.append(batch)
        self.units = {unit: np.concatenate(v) if v else np.zeros(0, dtype=np.int64)
                      for unit, v in (("words", doc_words), ("chars", doc_chars))}
        self.unique, self.counts = words.distinct() if words is not None else ([], np.zeros(0, dtype=np.int64))
        # The sample in NFD, counted by each tokenizer; in NFC its whole documents are counted
        # with the block when NFC is the study's form (the default), so only the rest is counted
        # again. Those whole documents that NFD leaves as they are (no character decomposes: 47%
        # of NTREX-128's sample) are the same text, so their NFD count is that count too.
        nfd_sample = [normalize(d, "NFD") for d in nfd_docs]
        self.reused = nfd_whole if form == "NFC" else 0
        self.nfc_rest = [normalize(d, "NFC") for d in nfd_docs[self.reused:]]
        self.same = np.array([j < self.reused and nfd_sample[j] == nfd_docs[j] for j in range(len(nfd_docs))],
                             dtype=bool)
        self.nfd_changed = [d for d, unchanged in zip(nfd_sample, self.same) if not unchanged]
        # Each batch's UTF-8, made once for the tokenizers that give ids to split characters with.
        self.utf8: list[_Utf8 | None] = [None] * len(batches)
        self.freq, self.continued, self.split, self.nfd, self.lengths = {}, {}, {}, {}, {}

    def count(self, a: Adapter, base: Adapter | None = None) -> None:
        """A tokenizer's counts of the block: tokens per document, token frequencies, split
        characters, continued words and the NFD sample. With ``base`` (``joint_units``), those
        of ``a`` and of the table it extends, from one pass (``qtok.tally.Joint``)."""
        if base is not None:
            joint = _joint(a, base)
            freqs = [self._freq(x) for x in (a, base)]
            per = [joint(batch, *freqs) for batch in self._batches()]
            words = joint.words(self.unique) if self.unique else (None, None)
            nfd = joint(self.nfd_changed) if self.nfd_changed else None
            nfc = joint(self.nfc_rest) if self.nfc_rest else None
            for k, x in enumerate((a, base)):
                self._close(x, [p[2 * k] for p in per], sum(p[2 * k + 1] for p in per), words[k],
                            nfd and nfd[2 * k], nfc and nfc[2 * k])
            return
        f = self._freq(a)
        split = 0 if a.token_lengths is not None else None
        lengths = []
        for k, batch in enumerate(self._batches()):
            if a.tally is not None:  # counts, frequencies and split characters straight from C
                counts, inside = a.tally(batch, f)
                lengths.append(counts)
                if split is not None:
                    split += inside
                continue
            flat, counts = _flat_cut(a, batch, self.lang)
            lengths.append(counts.astype(np.int64))
            if a.token_lengths is not None:
                if self.utf8[k] is None:
                    self.utf8[k] = _Utf8("".join(batch))
                split = _split_chars(flat, a.token_lengths, self.utf8[k], split)
            if flat.size:
                if flat.max() >= len(f):  # a vocabulary larger than declared
                    f = self.freq[a.name] = np.pad(f, (0, int(flat.max()) + 1 - len(f)))
                f += np.bincount(flat, minlength=len(f))
        self._close(a, lengths, split, a.word_counts(self.unique) if self.unique else None,
                    a.counts(self.nfd_changed) if self.nfd_changed else None,
                    a.counts(self.nfc_rest) if self.nfc_rest else None)

    def _freq(self, a: Adapter) -> np.ndarray:
        f = self.freq[a.name] = np.zeros(max(a.vocab_size, 1), dtype=np.int64)
        return f

    def _batches(self):
        for batch in self.batches:
            if stopping():
                raise KeyboardInterrupt
            yield batch

    def _close(self, a: Adapter, lengths: list[np.ndarray], split: int | None, word_tokens: np.ndarray | None,
               nfd_changed: np.ndarray | None, nfc_rest: np.ndarray | None) -> None:
        """A tokenizer's counts kept: each batch's tokens per document, the split characters,
        each distinct word's tokens and those of the NFD sample's changed documents and of its
        NFC rest (None where there are none)."""
        if a.token_lengths is not None:
            self.split[a.name] = split
        self.continued[a.name] = ((int(self.counts[word_tokens >= 2].sum()), int(self.counts.sum()))
                                  if word_tokens is not None else (0, 0))
        mine = self.lengths[a.name] = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        r, same = self.reused, self.same[:self.reused]
        self.nfd[a.name] = (int(mine[:r][same].sum()) + (int(nfd_changed.sum()) if nfd_changed is not None else 0),
                            int(mine[:r].sum()) + (int(nfc_rest.sum()) if nfc_rest is not None else 0))

    def result(self) -> dict:
        self.utf8 = None
        return {"stats": self.stats, "sample": self.sample, "freq": self.freq, "continued": self.continued,
                "split": self.split, "nfd": self.nfd, "lengths": self.lengths, "units": self.units}


def _head(docs: list[str], n: int) -> str:
    """The first ``n`` characters of the documents joined (without joining them all)."""
    head, size = [], 0
    for doc in docs:
        if size >= n:
            break
        head.append(doc)
        size += len(doc)
    return "".join(head)[:n]


def normalized(docs: list[str], form: str | None) -> list[str]:
    """Each document in ``form`` (``corpora.normalize``); a batch already in it, as most of a
    clean corpus is, is checked once: by a table of characters in C (``surely_normalized``: 89%
    of NTREX-128's batches, 7x faster), else whole by unicodedata (a newline is a starter that
    nothing composes with, so the documents joined by it are in a form exactly when each is).

    >>> normalized(["cafe\u0301", "plain"], "NFC")
    ['café', 'plain']
    """
    if form and docs and (surely_normalized(form, docs) or unicodedata.is_normalized(form, "\n".join(docs))):
        return docs
    return [normalize(doc, form) for doc in docs]


class _Words:
    """A block's whitespace words (``str.split()``): how many each document has, its UTF-8 bytes
    and, when ``keep`` (languages written with spaces), how often each distinct word occurs. In C
    where qtok._native is built (``words_into``: a Counter updated from Python costs ~0.2 us a
    word, most of the study's own Python time), else in Python; the same numbers either way
    (tests/analysis/test_count.py)."""

    def __init__(self, keep: bool):
        self.keep = keep
        self.table = _native.table() if _native is not None and keep else None
        self.counter: Counter[str] = Counter()

    def add(self, batch: list[str]) -> tuple[np.ndarray, int]:
        """(each document's words, the batch's UTF-8 bytes), its words kept."""
        if _native is not None:
            counts = np.empty(len(batch), dtype=np.int64)
            return counts, _native.words_into(self.table, batch, counts)
        counts, n_bytes = np.zeros(len(batch), dtype=np.int64), 0
        for j, doc in enumerate(batch):
            n_bytes += len(doc.encode("utf-8"))
            for piece in split_long(doc, LONG_DOC):  # cut at spaces: the same words, fewer at a time
                split = piece.split()
                counts[j] += len(split)
                if self.keep:
                    self.counter.update(split)
        return counts, n_bytes

    def distinct(self) -> tuple[list[str], np.ndarray]:
        """The distinct words kept, in the order first seen, and how often each occurs."""
        if self.table is not None:
            counts = np.empty(_native.table_size(self.table), dtype=np.int64)
            return _native.table_list(self.table, counts), counts
        return list(self.counter), np.fromiter(self.counter.values(), dtype=np.int64, count=len(self.counter))


class _Utf8:
    """A batch's text as UTF-8 bytes, with which bytes continue a character: shared by every
    tokenizer."""

    def __init__(self, text: str):
        self.data = np.frombuffer(text.encode("utf-8"), np.uint8)
        self.continuation = (self.data & 0xC0) == 0x80  # the 2nd..4th bytes of a character

    def char_start(self, positions: np.ndarray) -> np.ndarray:
        """The first byte of the character each byte position belongs to (a character has at
        most 3 continuation bytes: 3 steps back over the positions alone, no pass over the text)."""
        start = positions
        for _ in range(3):
            start = start - self.continuation[start]
        return start


def _split_chars(flat, token_lengths, utf8: _Utf8, so_far: int | None) -> int | None:
    """``so_far`` plus the characters of the batch (``utf8``) inside which a token ends:
    characters whose bytes two or more tokens share. None once the tokens do not spell the
    text's bytes (a tokenizer that normalizes on its own)."""
    if so_far is None:
        return None
    ends = np.cumsum(token_lengths[flat])
    if not len(ends) or ends[-1] != len(utf8.data):
        return None if len(utf8.data) else so_far
    inside = ends[:-1][utf8.continuation[ends[:-1]]]
    if not len(inside):
        return so_far
    # The characters of ascending byte positions ascend: the distinct ones are where they change
    # (np.unique would sort them again).
    chars = utf8.char_start(inside)
    return so_far + 1 + int(np.count_nonzero(chars[1:] != chars[:-1]))


def _flat_cut(adapter: Adapter, docs: list[str], lang: str):
    """``adapter.flat`` with long documents counted in pieces (``split_long``: the counts add up
    exactly for tokenizers whose tokens never cross the cuts), so memory stays bounded; a
    document a tokenizer must take whole is refused past ``MAX_WHOLE`` characters."""
    if all(len(d) <= LONG_DOC for d in docs):
        return adapter.flat(docs)
    parts, owner = [], []
    for j, doc in enumerate(docs):
        pieces = split_long(doc, LONG_DOC) if adapter.cut_safe else [doc]
        for piece in pieces:
            if adapter.max_chars is not None and len(piece) > adapter.max_chars:
                raise ValueError(
                    f"a document of {lang!r} has {len(piece):,} characters {adapter.name} must take at "
                    f"once (no space between letters to cut at, or a tokenizer that cannot be cut); "
                    f"the limit is {adapter.max_chars:,}: split the document")
        parts += pieces
        owner += [j] * len(pieces)
    # A few pieces at a time: a tokenizer's intermediate lists stay a few megabytes.
    flats, counts, group, size = [], [], [], 0
    for piece in parts + [None]:
        if piece is None or (group and size + len(piece) > 4 * LONG_DOC):
            f, c = adapter.flat(group)
            flats.append(f)
            counts.append(c)
            group, size = [], 0
        if piece is not None:
            group.append(piece)
            size += len(piece)
    per_piece = np.concatenate(counts)
    per_doc = np.bincount(np.asarray(owner), weights=per_piece, minlength=len(docs))
    return np.concatenate(flats), per_doc.astype(np.int64)


def in_block_order(parts: dict[int, np.ndarray]) -> np.ndarray:
    """Per-document arrays of a language's blocks (block index -> array), joined in block order."""
    return np.concatenate([parts[i] for i in sorted(parts)])


def census_block(block: Block, form: str | None):
    """The UTF-8 size of each (normalized) document of a block: what samples and caps choose by."""
    return np.fromiter((len(normalize(d, form).encode("utf-8")) for d in read_docs(block)), dtype=np.int64)


class StudyCounter:
    """The picklable factory of ``count_block`` (see qtok.runner.run): worker processes and Ray
    actors rebuild the tokenizers from their specs; this process reuses its own."""

    def __init__(self, adapters: list[Adapter], form: str | None):
        self.adapters, self.form = adapters, form
        self.specs = [a.spec for a in adapters] if all(a.spec for a in adapters) else None

    def __getstate__(self):
        if self.specs is None:
            raise ValueError("tokenizers built by hand cannot be sent to worker processes or Ray; "
                             "load them with get_adapter (by name or file), or use --jobs 1")
        return {"specs": self.specs, "form": self.form}

    def __setstate__(self, state):
        self.specs, self.form, self.adapters = state["specs"], state["form"], None

    def __call__(self):
        adapters = self.adapters if self.adapters is not None else load_adapters(self.specs)
        return partial(count_group, adapters=adapters, form=self.form)


@dataclass
class BlockGroup:
    """Consecutive blocks counted as one task (``count_blocks``); ``index`` numbers the groups."""

    index: int
    blocks: list[Block]


def count_group(group: BlockGroup, adapters: list[Adapter], form: str | None) -> list[tuple[int, dict]]:
    """(block index, ``count_block``'s dict) for each block of the group."""
    return list(zip([b.index for b in group.blocks], count_blocks(group.blocks, adapters, form)))


def block_size(block: Block) -> int:
    """A block's bytes in its file (a Parquet block: its row group's number), or its documents'
    characters."""
    return block.stop - block.start if block.kind != "docs" else sum(map(len, block.docs or []))


def group_blocks(blocks: list[Block], sizes: list[int], workers: int) -> list[BlockGroup]:
    """Consecutive blocks in groups of about 1 / ``GROUPS_PER_WORKER`` of a worker's share of the
    bytes (at most BLOCK_BYTES, at least one block): a small corpus's blocks (NTREX-128's
    languages, 400 kB each) are counted several at a time, each tokenizer through all of them; a
    large corpus's blocks stay one a group."""
    target = min(BLOCK_BYTES, sum(sizes) // max(1, GROUPS_PER_WORKER * workers))
    groups: list[BlockGroup] = []
    current: list[Block] = []
    size = 0
    for b, n in zip(blocks, sizes):
        if current and size + n > target:
            groups.append(BlockGroup(len(groups), current))
            current, size = [], 0
        current.append(b)
        size += n
    if current:
        groups.append(BlockGroup(len(groups), current))
    return groups


class CensusCounter:
    def __init__(self, form: str | None):
        self.form = form

    def __call__(self):
        return partial(census_block, form=self.form)


def select_docs(blocks: list[Block], sizes: dict[int, "object"], *, sample: int | None, seed: int,
                max_docs: int | None, max_bytes: int | None) -> list[Block]:
    """Set each block's ``select`` from the census (``sizes``: block index -> document sizes),
    per language: ``sample`` documents drawn without replacement by ``seed`` (the same draw for
    languages with as many documents, so a parallel corpus stays parallel), then the first
    ``max_docs``, then documents while fewer than ``max_bytes`` came before. Blocks left with
    nothing to count are dropped."""
    out = []
    langs = list(dict.fromkeys(b.group for b in blocks))
    for lang in langs:
        mine = [b for b in blocks if b.group == lang and b.index in sizes]
        per = [sizes[b.index] for b in mine]
        all_sizes = np.concatenate(per) if per else np.zeros(0, dtype=np.int64)
        idx = np.arange(len(all_sizes))
        if sample is not None and sample < len(idx):
            idx = np.sort(np.random.default_rng(seed).choice(len(idx), sample, replace=False))
        if max_docs is not None:
            idx = idx[:max_docs]
        if max_bytes is not None:
            before = np.cumsum(all_sizes[idx]) - all_sizes[idx]
            idx = idx[before < max_bytes]
        offset = 0
        for b, s in zip(mine, per):
            local = idx[(idx >= offset) & (idx < offset + len(s))] - offset
            offset += len(s)
            if len(local):
                out.append(Selection(**vars(b), select=local.tolist()))
        if not any(b.group == lang for b in out) and len(all_sizes):
            raise ValueError(f"--max-bytes/--max-docs leave no document of {lang!r}")
    return number(out)


def plan_blocks(corpus: Corpus, normalization: str | None, *, sample: int | None, seed: int,
                max_docs: int | None, max_bytes: int | None, backend: str, jobs: int | None,
                address: str | None, block_bytes: int) -> tuple[list[Block], dict[str, int]]:
    """The corpus cut into blocks, with the documents a sample or a cap selects; and, for a
    sample, each language's documents before it was drawn (its census counts them all)."""
    blocks = number(b for lang in corpus.langs for b in corpus.blocks(lang, block_bytes))
    if sample is None and max_docs is None and max_bytes is None:
        return blocks, {}
    sizes = {}
    if sample is None:
        # First documents only: read blocks in order until every language's cap is reached.
        fn = CensusCounter(normalization)()
        used: dict[str, list[int]] = {}
        for b in blocks:
            docs, nbytes = used.setdefault(b.group, [0, 0])
            if (max_docs is not None and docs >= max_docs) or (max_bytes is not None and nbytes >= max_bytes):
                continue
            sizes[b.index] = fn(b)
            used[b.group] = [docs + len(sizes[b.index]), nbytes + int(sizes[b.index].sum())]
    else:
        for i, s in run(CensusCounter(normalization), blocks, backend=backend, jobs=jobs,
                        address=address, desc="census"):
            sizes[i] = s
    population: dict[str, int] = {}
    if sample is not None:
        for b in blocks:
            population[b.group] = population.get(b.group, 0) + len(sizes.get(b.index, ()))
    return (select_docs(blocks, sizes, sample=sample, seed=seed, max_docs=max_docs, max_bytes=max_bytes),
            population)


def count_corpus(corpus: Corpus, adapters: list[Adapter], normalization: str | None, *,
                 backend: str = "local", jobs: int | None = None, address: str | None = None,
                 sample: int | None = None, seed: int = 0, max_docs: int | None = None,
                 max_bytes: int | None = None, progress: bool | None = None,
                 block_bytes: int = BLOCK_BYTES, pool: str | None = None
                 ) -> Counted:
    """Count every block and merge per language, in block order (see ``Counted``)."""
    blocks, population = plan_blocks(corpus, normalization, sample=sample, seed=seed, max_docs=max_docs,
                         max_bytes=max_bytes, backend=backend, jobs=jobs, address=address,
                         block_bytes=block_bytes)
    sizes = [block_size(b) for b in blocks]
    total = sum(sizes)
    if backend == "ray":
        pool = "ray"
    elif pool is None:
        pool = "process" if total >= PROCESS_BYTES else "thread"
    elif pool not in ("process", "thread"):
        raise ValueError(f"pool must be 'process' or 'thread', got {pool!r}")
    factory = StudyCounter(adapters, normalization)
    names = [a.name for a in adapters]
    merged: dict[str, dict] = {}
    lengths: dict[tuple[str, str], dict[int, object]] = {}  # (tokenizer, lang) -> block -> per document
    units: dict[tuple[str, str], dict[int, object]] = {}  # ("words" | "chars", lang) -> the same
    samples: dict[str, dict[int, list[str]]] = {}
    group = {b.index: b.group for b in blocks}
    waiting = Counter(group.values())  # lang -> its blocks not yet counted
    by_lang, doc_tokens, first_docs, used_tokens, doc_units = {}, {}, {}, {}, {}

    def finish(lang):
        """A language's rows, once its last block is in: done while the other languages are
        still counted (on NTREX-128 this was a 0.7 s tail after the counting)."""
        m = merged[lang]
        if m["stats"]["n_docs"] == 0:
            return
        pieces = [piece for i in sorted(samples[lang]) for piece in samples[lang][i]]
        first_docs[lang] = pieces[0]
        text = ""
        for piece in pieces:
            if len(text) < 1000:
                text += piece
        script = "code" if lang.startswith("code") else dominant_script(text)
        stats = {k: int(m["stats"][k]) for k in ("n_docs", "n_bytes", "n_chars", "n_words")}
        for unit in ("words", "chars"):
            doc_units[unit, lang] = in_block_order(units.pop((unit, lang))).tolist()  # its blocks' arrays freed
        rows = []
        for a in adapters:
            per_doc = in_block_order(lengths.pop((a.name, lang)))
            doc_tokens[a.name, lang] = per_doc.tolist()
            f = m["freq"][a.name]
            ids = np.flatnonzero(f != 0)  # 3x flatnonzero(f): a bool array is scanned a word at a time
            used = f[ids]
            used_tokens[a.name, lang] = (ids, used)
            unk = [i for i in a.unk_ids if i < len(f)]
            num, den = m["continued"][a.name]
            split_chars = m["split"].get(a.name)
            nfd_tokens, nfc_tokens = m["nfd"][a.name]
            rows.append(dict(tokenizer=a.name, lang=lang, **stats, n_tokens=int(per_doc.sum()),
                             n_unk=int(f[unk].sum()) if unk else 0,
                             renyi_efficiency=renyi_efficiency(used, max(a.vocab_size, len(f))),
                             vocab_utilization=vocab_utilization(used, max(a.vocab_size, len(f))),
                             continued_words=num / den if den else NAN, script=script,
                             avg_rank=average_rank(used),
                             split_rate=split_chars / stats["n_chars"] if split_chars is not None and stats["n_chars"] else NAN,
                             nfd_ratio=nfd_tokens / nfc_tokens if nfc_tokens else NAN))
        by_lang[lang] = rows
        m["freq"] = None  # the dense counts: what remains is in used_tokens

    groups = group_blocks(blocks, sizes, jobs or os.cpu_count() or 1)
    for _, parts in run(factory, groups, backend=backend, jobs=jobs, address=address, progress=progress,
                        desc="blocks", threads=pool == "thread"):
        for i, part in parts:
            lang = group[i]
            m = merged.setdefault(lang, {"stats": Counter(), "freq": {}, "continued": {n: [0, 0] for n in names},
                                         "split": {}, "nfd": {n: [0, 0] for n in names}})
            for n, v in part["split"].items():
                m["split"][n] = None if v is None or m["split"].get(n, 0) is None else m["split"].get(n, 0) + v
            for n, (d, c) in part["nfd"].items():
                m["nfd"][n][0] += d
                m["nfd"][n][1] += c
            m["stats"].update(part["stats"])
            samples.setdefault(lang, {})[i] = part["sample"]
            for n in names:
                f, g = m["freq"].get(n), part["freq"][n]
                if f is None:
                    m["freq"][n] = g
                else:
                    if len(g) > len(f):
                        f, g = g, f
                    f[:len(g)] += g
                    m["freq"][n] = f
                m["continued"][n][0] += part["continued"][n][0]
                m["continued"][n][1] += part["continued"][n][1]
                lengths.setdefault((n, lang), {})[i] = part["lengths"][n]
            for unit, v in part["units"].items():
                units.setdefault((unit, lang), {})[i] = v
            waiting[lang] -= 1
            if not waiting[lang]:
                finish(lang)
    for lang in corpus.langs:
        if lang not in by_lang:
            raise ValueError(f"language {lang!r} of corpus {corpus.name!r} has no documents")
    # In the corpus's order of languages, as they were before languages were finished as they came.
    by_lang = {lang: by_lang[lang] for lang in corpus.langs}
    first_docs = {lang: first_docs[lang] for lang in corpus.langs}
    doc_units = {(unit, lang): doc_units[unit, lang] for lang in corpus.langs for unit in ("words", "chars")}
    doc_tokens = {(a.name, lang): doc_tokens[a.name, lang] for lang in corpus.langs for a in adapters}
    used_tokens = {(a.name, lang): used_tokens[a.name, lang] for lang in corpus.langs for a in adapters}
    how = {"backend": backend, "pool": pool, "jobs": jobs or (os.cpu_count() or 1),
           "blocks": len(blocks), "groups": len(groups), "block_bytes": block_bytes,
           "sample": None if sample is None else {"documents": sample, "seed": seed,
                                                  "method": "uniform without replacement"}}
    if address:
        how["address"] = address
    return Counted(by_lang, doc_tokens, how, first_docs, used_tokens, population, doc_units)
