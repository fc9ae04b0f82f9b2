"""Counting tokens without making them: for each text, how many tokens; for the whole batch, how
often each token occurs and how many characters a token ends inside. That is all a corpus study
asks of a tokenizer, and ``qtok._native.tally`` answers it in C for byte-level BPE tables with a
pattern of Qwen's family (``NATIVE_PATTERNS``), with tiktoken's ids (tests/qtok/test_tally.py
proves it against tiktoken).

Why not the fast engine: fastokens takes 1-3 s to build a table (it derives merges and an
automaton from the ranks), which is most of a study's time on NTREX-128; this table builds in
~0.05-0.15 s and counts as fast, since each distinct piece is encoded once and then looked up
(the next piece's cache slot fetched while one is counted; a new piece's merges read the rank of
two tokens joined from one slot of a table of every token's splits, and only a piece a filter of
the tokens' hashes lets through is looked up whole). A table that extends another, as Qwen's
extends cl100k_base, is counted with it in one pass (``Tally.joint``): a new piece's merges,
most of a tally's time, are run once for both.

>>> import numpy as np, qtok
>>> tok = qtok.get_tokenizer("qwen")
>>> tally = Tally.of(tok)
>>> freq = np.zeros(tok.n_vocab, dtype=np.int64)
>>> counts, split = tally(["hello world", "hello"], freq)
>>> counts.tolist(), split, int(freq[tok.encode("hello")[0]])
([2, 1], 0, 2)
"""

from __future__ import annotations

import threading

from .encodings import CL100K_PATTERN, QWEN3_5_PATTERN, QWEN_PATTERN
from .unicode import CLASS_BITS, class_table

try:  # built by setup.py wherever a C compiler is
    from . import _native
except ImportError:
    _native = None

# The patterns qtok._native splits (it hand-codes this family, cl100k_base's): the classes a
# letter run takes, and the most digits a piece holds. Any other pattern is split by `regex`.
_LETTERS, _MARKS = CLASS_BITS[r"\p{L}"], CLASS_BITS[r"\p{M}"]
NATIVE_PATTERNS = {QWEN_PATTERN: (_LETTERS, 1), CL100K_PATTERN: (_LETTERS, 3),
                   QWEN3_5_PATTERN: (_LETTERS | _MARKS, 1)}


class Tally:
    """``tally(texts, freq=None) -> (tokens of each text, characters split)`` for one table.

    Safe to share between threads: each thread keeps its own cache of encoded pieces (bounded
    in C), and the C loop runs without the GIL."""

    def __init__(self, mergeable_ranks: dict[bytes, int], pat_str: str):
        if _native is None or pat_str not in NATIVE_PATTERNS:
            raise ValueError("Tally counts with qtok's C extension and a pattern of Qwen's family "
                             "(NATIVE_PATTERNS); use Tally.of(tok), which says None otherwise")
        letters, digits = NATIVE_PATTERNS[pat_str]
        self._encoder = _native.encoder(mergeable_ranks, class_table(), letters, digits)
        self._lengths = _native.encoder_lengths(self._encoder)
        self.n_vocab = len(self._lengths) // 4  # 1 + the largest rank
        self._local = threading.local()
        self._joints: dict[int, tuple[Tally, Joint | None]] = {}

    def token_lengths(self):
        """Each id's byte length as an int64 numpy array, ``n_vocab`` long."""
        import numpy as np

        return np.frombuffer(self._lengths, dtype=np.uint32).astype(np.int64)

    @staticmethod
    def can_count(tok) -> bool:
        """Whether a tally can count the table of a ``qtok.Tokenizer`` (or an ``EncodingSpec``):
        not without the C extension, for another pattern, or for a tokenizer that normalizes its
        text first."""
        return _native is not None and tok.pat_str in NATIVE_PATTERNS and not getattr(tok, "_normalize", False)

    @classmethod
    def of(cls, tok) -> Tally | None:
        """The tally of a ``qtok.Tokenizer``'s (or an ``EncodingSpec``'s) table, or None where it
        cannot count it."""
        return cls(tok.mergeable_ranks, tok.pat_str) if cls.can_count(tok) else None

    def joint(self, base: Tally) -> Joint | None:
        """Both tables counted in one pass (``Joint``) where this one extends ``base`` as Qwen's
        extends cl100k_base, else None: its first ranks are ``base``'s tokens in ``base``'s order,
        the rest its own, what it drops of ``base`` are numerals, and the patterns differ at most
        in the numerals a piece holds (``qtok._native.nesting`` says why that is enough). Checked
        once per pair (~5 ms)."""
        held = self._joints.get(id(base))
        if held is None or held[0] is not base:
            nesting = _native.nesting(self._encoder, base._encoder)
            held = self._joints[id(base)] = (base, None if nesting is None else Joint(self, base, nesting))
        return held[1]

    def encode(self, text: str) -> list[int]:
        """``encode_ordinary(text)``'s ids, from the same pieces the counts come from."""
        from array import array

        from .core import _surrogate_safe

        return array("i", _surrogate_safe(lambda t: _native.tally_ids(self._encoder, self._cache(), t), text)).tolist()

    def _cache(self):
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = _native.pieces(self._encoder)
        return cache

    def words(self, words: list[str]):
        """The tokens of each word (no whitespace in it) after a space, ``self([" " + w for w in
        words])[0]``, counted from one line of the words: a call per word costs more than the
        word. The line's pieces are checked to start at its spaces; should one not, the words
        are counted one by one."""
        import numpy as np

        counts = np.empty(len(words), dtype=np.int64)
        if not words:
            return counts
        line = " " + " ".join(words)
        try:
            if _native.tally_words(self._encoder, self._cache(), line, counts):
                return counts
        except UnicodeEncodeError:
            pass
        return self([" " + w for w in words])[0]

    def __call__(self, texts: list[str], freq=None):
        """(each text's number of tokens as an int64 array, the characters inside which a token
        ends); ``freq`` (int64, ``n_vocab`` long) gets each token's occurrences added. Special
        tokens' texts are counted as text, as ``encode_ordinary`` does; a lone surrogate counts
        as U+FFFD, as the engines encode it."""
        import numpy as np

        from .core import _surrogate_safe

        texts = texts if isinstance(texts, list) else list(texts)
        counts = np.empty(len(texts), dtype=np.int64)
        cache = self._cache()
        # A lone surrogate is refused before anything is counted, so the retry counts once.
        split = _surrogate_safe(lambda ts: _native.tally(self._encoder, cache, ts, counts, freq), texts)
        return counts, split


class Joint:
    """A table and one it extends (``Tally.joint``), counted together: a piece new to the cache is
    merged once for both, where two tallies merge it twice (a new piece's merges are most of a
    tally's time). The same counts as the two tallies, which tests/qtok/test_tally.py proves.
    Safe to share between threads, as a Tally is.

    >>> import numpy as np, qtok
    >>> qwen, cl100k = (Tally.of(qtok.get_tokenizer(n)) for n in ("qwen", "cl100k_base"))
    >>> both = qwen.joint(cl100k)
    >>> counts, split, base_counts, base_split = both(["in 2024", "hello"])
    >>> counts.tolist(), base_counts.tolist()  # Qwen takes a digit a token, cl100k_base up to 3
    ([6, 1], [4, 1])
    >>> cl100k.joint(qwen) is None
    True
    """

    def __init__(self, tally: Tally, base: Tally, nesting):
        self.tally, self.base = tally, base
        self._nesting = nesting
        self._local = threading.local()

    def _cache(self):
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = _native.joint_pieces(self._nesting)
        return cache

    def __call__(self, texts: list[str], freq=None, base_freq=None):
        """(tokens of each text, characters split, the same two for ``base``): ``Tally.__call__``
        of both tables; ``freq`` and ``base_freq`` get each table's occurrences added."""
        import numpy as np

        from .core import _surrogate_safe

        texts = texts if isinstance(texts, list) else list(texts)
        counts, base_counts = np.empty(len(texts), dtype=np.int64), np.empty(len(texts), dtype=np.int64)
        cache = self._cache()
        split, base_split = _surrogate_safe(
            lambda ts: _native.tally2(self._nesting, cache, ts, counts, freq, base_counts, base_freq), texts)
        return counts, split, base_counts, base_split

    def words(self, words: list[str]):
        """``Tally.words`` of both tables: (tokens of each word after a space, the same for ``base``)."""
        import numpy as np

        counts, base_counts = np.empty(len(words), dtype=np.int64), np.empty(len(words), dtype=np.int64)
        if not words:
            return counts, base_counts
        try:
            if _native.tally2_words(self._nesting, self._cache(), " " + " ".join(words), counts, base_counts):
                return counts, base_counts
        except UnicodeEncodeError:
            pass
        counts, _, base_counts, _ = self([" " + w for w in words])
        return counts, base_counts
