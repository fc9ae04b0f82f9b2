"""Tokenizer adapters: one small interface (a name, ids for many texts, the vocabulary size, the
ids that mean "unknown", metadata).

Counts never include added special tokens (no BOS/EOS/CLS), so every tokenizer is charged only
for the text itself. ``unk_ids`` are ``<unk>`` and, for SentencePiece models with byte fallback,
the ``<0xNN>`` byte pieces: text the vocabulary has no piece for.
"""

from __future__ import annotations

import difflib
import json
import lzma
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

import qtok
from qtok.encodings import CL100K_PATTERN, QWEN3_5_PATTERN, QWEN_PATTERN, canonical_name
from qtok.engine import default_engine
from qtok.files import atomic_write, cache_dir
from qtok.load import DATA_FILES, sha256_bytes, sha256_file
from qtok.core import named_spec, replace_surrogates
from qtok.offsets import byte_to_char, char_spans
from qtok.tally import Tally

from .corpora import DATA
from .spm_build import model_from_tokenizer_json
from .unigram import fast_encoder, proto_spans

XLMR_JSON = DATA / "xlmr-tokenizer.json.xz"
XLMR_JSON_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"  # decompressed
XLMR_JSON_XZ_SHA256 = "f228f56caf2cde9e918901eb823418089897ddd185b52eec0a0a5d775d045e6d"  # the vendored .xz as stored
XLMR_SPM_SHA256 = "cfc8146abe2a0488e9e2a0c56de7952f7c11ab059eca145a0a727afce0db2865"  # sentencepiece.bpe.model
# The SentencePiece model analysis/spm_build.py makes from the vendored tokenizer.json.
XLMR_SPM_BUILT_SHA256 = "137dc9f0f478b7a901bffd99d26abcb7dcdc8124a33654840bd40a7d42f19cfd"


# Patterns whose pieces never cross a space between two letters (see split_long).
_WHITESPACE_SPLIT_PATTERNS = frozenset({QWEN_PATTERN, CL100K_PATTERN})
# Patterns under which a word (no whitespace) is cut into the same pieces alone (" word") as in
# a line of words (" w1 w2 ..."): only a piece's first character may be a space (the letter
# alternative's optional prefix, the punctuation alternative's " ?"), every later character
# class excludes the space, and no alternative looks past a word's end except the whitespace
# runs, which a word has none of. So each " word" starts a piece of its own, and its pieces are
# found the same whatever follows: Adapter.word_counts may encode a line instead of each word.
_WORD_JOINABLE_PATTERNS = frozenset({QWEN_PATTERN, CL100K_PATTERN, QWEN3_5_PATTERN})
LONG_DOC = 1 << 20  # characters: longer documents are tokenized in pieces of about this size
MAX_WHOLE = 8 << 20  # characters a tokenizer that cannot be cut is asked to take at once
_CUT = re.compile(r"(?<=[^\W\d_]) (?=[^\W\d_])")  # a space between two letters


def split_long(text: str, limit: int = LONG_DOC) -> list[str]:
    """``text`` cut before a space between two letters, about every ``limit`` characters.

    Tokenizers that split text at whitespace before merging (Qwen's and cl100k's patterns:
    a piece is " " + letters; SentencePiece with ``split_by_whitespace``, XLM-R) never put a
    token across such a space, so the counts of the pieces add up to the count of the whole
    (tests/test_adapters.py checks it for each built-in tokenizer): a 50 MB one-line document is
    counted a megabyte at a time.

    >>> split_long("aaa bbb ccc", 2)
    ['aaa', ' bbb', ' ccc']
    """
    if len(text) <= limit:
        return [text]
    out, start = [], 0
    while len(text) - start > limit:
        m = _CUT.search(text, start + limit)
        if m is None:
            break
        out.append(text[start:m.start()])
        start = m.start()
    out.append(text[start:])
    return out


class TokenizerError(ValueError):
    """A tokenizer that cannot be loaded: the message says what to give instead."""

@dataclass
class Adapter:
    name: str
    encode: Callable[[list[str]], list[list[int]]] = field(repr=False)  # ids of each text
    meta: dict = field(default_factory=dict)
    vocab_size: int = 0
    unk_ids: frozenset[int] = frozenset()
    # How a whitespace-separated word is tokenized on its own, as it stands inside a text: byte-level
    # BPE vocabularies carry the space in the token (" word"), SentencePiece adds "▁" itself.
    word_prefix: str = ""
    # Optional bulk path: (all ids as one numpy array, len(texts) + 1 offsets), no Python list
    # per text; the study uses it for counts and token frequencies when an adapter has it.
    encode_flat: Callable | None = field(default=None, repr=False)
    # What get_adapter was given: how a worker process or a Ray actor builds the same adapter.
    spec: str | None = None
    # Whether split_long's cuts leave the counts unchanged (whitespace pre-tokenization);
    # otherwise a document is tokenized whole, and refused past MAX_WHOLE characters.
    cut_safe: bool = False
    # Byte-level BPE engines that take any length in bounded memory need no MAX_WHOLE.
    max_chars: int | None = MAX_WHOLE
    # The byte length of each id, for tokenizers whose ids spell the text's own bytes (qtok's):
    # where a token ends inside a character (the character split rate). None: not byte-level.
    token_lengths: np.ndarray | None = field(default=None, repr=False)
    # (ids, each token's character span) of one text: what report.html colours.
    spans: Callable[[str], tuple[list[int], list[tuple[int, int]]]] | None = field(default=None, repr=False)
    # Whether a word's tokens alone are its tokens in a line of words (_WORD_JOINABLE_PATTERNS;
    # needs token_lengths and the " " word prefix): word_counts then encodes lines, not words.
    words_joinable: bool = False
    # Counting without ids (qtok.tally.Tally, for qtok's byte-level tables of Qwen's pattern
    # family): tally(texts, freq) -> (tokens of each text, characters a token ends inside),
    # freq (int64, vocab_size long) getting each token's occurrences. The study's bulk path.
    tally: Callable | None = field(default=None, repr=False)

    def count(self, texts: list[str]) -> list[int]:
        """The number of tokens of each text."""
        return self.counts(texts).tolist()

    def counts(self, texts: list[str]) -> np.ndarray:
        """``count`` as an int64 array (no Python int per text)."""
        if self.tally is not None:
            return self.tally(texts)[0]
        if self.encode_flat is not None:
            return np.diff(self.encode_flat(texts)[1]).astype(np.int64)
        encoded = self.encode(texts)
        return np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))

    def word_counts(self, words: list[str]) -> np.ndarray:
        """The tokens of each word (no whitespace in it) on its own, as it stands inside a text
        (``word_prefix`` + word): the continued-words metric's question, asked of every distinct
        word of a language.

        A joinable byte-level tokenizer is given lines of words instead (" w1 w2 ..."; a call per
        word costs more than the word's encoding, 1.5 M words of NTREX-128 took 0.9 s a tokenizer),
        and each word's tokens are those starting inside its bytes. Should a word's first byte not
        start a token, the words are encoded one by one after all (tests/analysis/test_count.py
        checks both ways agree on generated words). A tally counts such a line in C
        (``Tally.words``), each word's pieces looked up among those it has encoded.
        """
        if self.tally is not None and self.word_prefix == " ":
            return self.tally.words(words)
        if not (self.words_joinable and self.word_prefix == " " and self.token_lengths is not None
                and self.encode_flat is not None) or not words:
            return self.counts([self.word_prefix + w for w in words] if self.word_prefix else words)
        # Lines of about LONG_DOC characters: fastokens encodes a list of them in parallel.
        per_line = max(1, len(words) * LONG_DOC // max(1, sum(map(len, words)) + len(words)))
        lines = [" " + " ".join(words[i:i + per_line]) for i in range(0, len(words), per_line)]
        ids, _ = self.flat(lines)
        data = np.frombuffer("".join(lines).encode("utf-8"), np.uint8)
        # A word cannot contain the byte of " " (str.split cut there; UTF-8 never uses 0x20
        # inside a character): the spaces are exactly the words' first bytes.
        word_starts = np.flatnonzero(data == 0x20)
        lengths = self.token_lengths[ids]
        ends = np.cumsum(lengths)
        starts = ends - lengths
        first = np.searchsorted(starts, word_starts)
        if (len(word_starts) != len(words) or not len(ends) or ends[-1] != len(data)
                or first[-1] >= len(starts) or not np.array_equal(starts[first], word_starts)):
            return self.counts([" " + w for w in words])
        return np.diff(np.append(first, len(ids))).astype(np.int64)

    def flat(self, texts: list[str]):
        """(ids as one int64 numpy array, tokens of each text as a numpy array)."""
        if self.encode_flat is not None:
            ids, offsets = self.encode_flat(texts)
            return ids.astype(np.int64), np.diff(offsets)
        encoded = self.encode(texts)
        counts = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        ids = np.fromiter(chain.from_iterable(encoded), dtype=np.int64, count=int(counts.sum()))
        return ids, counts


def qtok_adapter(name: str, label: str | None = None) -> Adapter:
    meta = {"kind": "qtok", "qtok": qtok.__version__, "encoding": name}
    if name in QTOK_NAMES:
        meta["data_sha256"] = DATA_FILES
    else:
        meta["sha256"] = sha256_file(name)
    label = label or (name if name in QTOK_NAMES else Path(name).stem)
    # A table of Qwen's pattern family is counted by a tally (qtok.tally: built in ~0.1 s, where
    # fastokens takes 1-3 s); a vendored one builds its tokenizer only if something asks it for
    # ids in bulk (the audit), a file's is built on the default engine, which checks the file.
    # Any other table on the default engine by name, so the study's bulk counting never runs on
    # its stand-in.
    if name in QTOK_NAMES and Tally.can_count(spec := named_spec(canonical_name(name))):
        return tally_adapter(spec, lambda: qtok.get_tokenizer(name), label, meta)
    tok = qtok.get_tokenizer(name)
    if not Tally.can_count(tok):
        tok = qtok.get_tokenizer(name, engine=default_engine())
    return tokenizer_adapter(tok, label, meta)


def tally_adapter(spec, tokenizer: Callable[[], "qtok.Tokenizer"], name: str, meta: dict) -> Adapter:
    """The adapter of a table a ``Tally`` counts: the study's counts and a sentence's spans come
    from the tally; ``encode`` and ``flat`` from ``tokenizer()``, called once, when first asked."""
    tally = Tally.of(spec)
    lengths = _token_lengths(spec, tally=tally)
    built: list = []

    def tok():
        if not built:
            built.append(tokenizer())
        return built[0]

    def spans(text: str):
        text = replace_surrogates(text)
        ids = tally.encode(text)
        data = text.encode("utf-8")
        ends = np.cumsum(lengths[ids]).tolist()
        return ids, char_spans(data[a:b] for a, b in zip([0] + ends, ends))

    return Adapter(name, lambda texts: tok().encode_batch(texts, num_threads=4),
                   dict(meta, counter=TALLY_NOTE), vocab_size=len(lengths), word_prefix=" ",
                   encode_flat=lambda texts: tok().encode_batch_flat(texts), spans=spans,
                   cut_safe=spec.pat_str in _WHITESPACE_SPLIT_PATTERNS, max_chars=None,
                   token_lengths=lengths, words_joinable=spec.pat_str in _WORD_JOINABLE_PATTERNS,
                   tally=tally)


def tokenizer_adapter(tok, name: str, meta: dict, offset: int = 0) -> Adapter:
    """The adapter of a ``qtok.Tokenizer`` (byte-level BPE on qtok's engines): its ids moved past
    ``offset`` ids it never produces (Tekken's control tokens)."""
    from .peers import shifted

    if offset:
        def flat(texts):
            ids, offsets = tok.encode_batch_flat(texts)
            return shifted(np.asarray(ids, dtype=np.int64), offset), offsets

        def spans(text):
            ids, where = tok.encode_with_offsets(text)
            return shifted([ids], offset)[0], where
    else:
        flat, spans = tok.encode_batch_flat, tok.encode_with_offsets
    tally = None if offset else Tally.of(tok)
    if tally is not None:
        meta = dict(meta, counter=TALLY_NOTE)
    return Adapter(name, lambda texts: shifted(tok.encode_batch(texts, num_threads=4), offset), meta,
                   vocab_size=tok.n_vocab + offset, word_prefix=" ", encode_flat=flat, spans=spans,
                   cut_safe=tok.pat_str in _WHITESPACE_SPLIT_PATTERNS, max_chars=None,
                   token_lengths=_token_lengths(tok, offset, tally),
                   words_joinable=tok.pat_str in _WORD_JOINABLE_PATTERNS, tally=tally)


TALLY_NOTE = "qtok.tally (C): tiktoken's ids counted without making them"


def _token_lengths(tok, offset: int = 0, tally: Tally | None = None) -> np.ndarray:
    """The byte length of each id of a ``qtok.Tokenizer`` or an ``EncodingSpec``, moved past
    ``offset``: the ranks' from its ``tally`` where it has one (no pass over the table, and no
    ``EncodingSpec.n_vocab``, which takes the largest of its ranks), then the added tokens'."""
    if tally is not None:
        lengths = np.zeros(max(tally.n_vocab, max(tok.special_tokens.values(), default=-1) + 1) + offset,
                           dtype=np.int64)
        lengths[offset:offset + tally.n_vocab] = tally.token_lengths()
    else:
        lengths = np.zeros(tok.n_vocab + offset, dtype=np.int64)
        ranks = tok.mergeable_ranks
        at = np.fromiter(ranks.values(), np.int64, len(ranks)) + offset
        lengths[at] = np.fromiter(map(len, ranks), np.int64, len(ranks))
    for text, i in tok.special_tokens.items():
        lengths[i + offset] = len(text.encode("utf-8"))
    return lengths


def hf_json_adapter(data: bytes, name: str, source: str) -> Adapter:
    import tokenizers

    try:
        tok = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
    except Exception as e:  # tokenizers raises its own Exception type for bad JSON
        raise TokenizerError(f"{source} is not a Hugging Face tokenizer.json: {e}") from None
    meta = {"kind": "tokenizers", "tokenizers": tokenizers.__version__, "file": source,
            "sha256": sha256_bytes(data)}
    vocab = tok.get_vocab(with_added_tokens=True)
    # The unknown token is the model's own (WordPiece's "[UNK]", BPE's or Unigram's), not a
    # guessed "<unk>"; byte-fallback pieces count as unknown too.
    model = json.loads(data).get("model") or {}
    unk = {i for piece, i in vocab.items() if _is_byte_piece(piece)}
    if isinstance(model.get("unk_token"), str) and model["unk_token"] in vocab:
        unk.add(vocab[model["unk_token"]])
    if isinstance(model.get("unk_id"), int):  # Unigram names its unknown piece by id
        unk.add(model["unk_id"])
    byte_level = any(piece.startswith("Ġ") for piece in list(vocab)[:5000])
    # encode_batch_fast (tokenizers >= 0.21) skips the offsets nobody here reads: 1.6x faster.
    batch = getattr(tok, "encode_batch_fast", tok.encode_batch)
    def spans(text: str):
        enc = tok.encode(text, add_special_tokens=False)
        return enc.ids, [tuple(o) for o in enc.offsets]

    return Adapter(name, lambda texts: [e.ids for e in batch(texts, add_special_tokens=False)],
                   meta, vocab_size=max(vocab.values()) + 1, unk_ids=frozenset(unk),
                   word_prefix=" " if byte_level else "", spans=spans)


def _is_byte_piece(piece: str) -> bool:
    """SentencePiece's byte-fallback pieces, ``<0x00>`` .. ``<0xFF>``."""
    return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")


def xlmr() -> Adapter:
    """XLM-R from the vendored tokenizer.json (xz), hash-checked after decompression, run by
    ``sentencepiece`` from a model built out of that file (``spm_build``: ~6x faster than HF
    tokenizers on it) and cached in the user cache under a pinned hash."""
    packed = XLMR_JSON.read_bytes()
    if sha256_bytes(packed) != XLMR_JSON_XZ_SHA256:
        raise TokenizerError(f"{XLMR_JSON} failed its hash check: expected sha256 {XLMR_JSON_XZ_SHA256}, "
                             f"got {sha256_bytes(packed)}; restore it (git checkout analysis/data) or reinstall qtok")


    path = cache_dir() / f"xlmr-{XLMR_SPM_BUILT_SHA256}.model"
    model = None
    try:
        if path.is_file():
            model = path.read_bytes()
    except OSError:
        pass
    if model is None or sha256_bytes(model) != XLMR_SPM_BUILT_SHA256:
        data = lzma.decompress(packed)
        if sha256_bytes(data) != XLMR_JSON_SHA256:
            raise TokenizerError(f"{XLMR_JSON} failed its hash check after decompression; restore it "
                                 "(git checkout analysis/data) or reinstall qtok")
        model = model_from_tokenizer_json(data)
        if sha256_bytes(model) != XLMR_SPM_BUILT_SHA256:
            raise TokenizerError("the SentencePiece model built from the XLM-R tokenizer.json does not "
                                 "have its pinned hash; analysis/spm_build.py or the file changed")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, model)
        except OSError:
            pass  # no writable cache: build again next time
    adapter = sentencepiece_adapter(model, "xlm-r")
    adapter.meta.update(file="analysis/data/xlmr-tokenizer.json.xz", sha256=XLMR_JSON_SHA256,
                        engine=f"{adapter.meta['engine']}, model built from the tokenizer.json (analysis/spm_build.py)",
                        model_sha256=XLMR_SPM_BUILT_SHA256)
    return adapter


def xlmr_hf() -> Adapter:
    """XLM-R through HF tokenizers on the vendored tokenizer.json itself (``xlm-r-hf``)."""
    data = lzma.decompress(XLMR_JSON.read_bytes())
    if sha256_bytes(data) != XLMR_JSON_SHA256:
        raise TokenizerError(f"{XLMR_JSON} failed its hash check; restore it (git checkout analysis/data) or reinstall qtok")
    return hf_json_adapter(data, "xlm-r-hf", "analysis/data/xlmr-tokenizer.json.xz")


def sentencepiece_adapter(source, name: str | None = None) -> Adapter:
    """A SentencePiece ``.model`` file (a path) or its bytes. Counted by the C encoder where it
    reproduces the model (``analysis/unigram.py``: sentencepiece's ids without a Python list per
    text, and without the GIL), else by ``sentencepiece``."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "<built model>"
    else:
        path = Path(source)
        data, label = path.read_bytes(), str(path)

    def load():
        try:
            if not data:  # sentencepiece loads b"" as a model that fails later, "not initialized"
                raise RuntimeError("the file is empty")
            return spm.SentencePieceProcessor(model_proto=data)
        except Exception as e:  # RuntimeError from the C++ parser
            raise TokenizerError(f"{label} is not a SentencePiece model: "
                                 f"{str(e).splitlines()[0] if str(e) else e}") from None

    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:  # DecodeError: sentencepiece's own message says it best
        load()
        raise
    fast = fast_encoder(data, proto, lambda: processor()) if data else None
    # sentencepiece itself: built now where it counts (and checks the file), else only for text
    # the C encoder cannot read (a lone surrogate); its load is half a second for XLM-R.
    sp = None if fast else load()

    def processor():
        nonlocal sp
        if sp is None:
            sp = load()
        return sp

    digest = sha256_bytes(data)
    if name is None:
        name = "xlm-r" if digest == XLMR_SPM_SHA256 else Path(label).stem
    meta = {"kind": "sentencepiece", "sentencepiece": spm.__version__, "file": label,
            "sha256": digest, "is_original_xlmr": digest == XLMR_SPM_SHA256,
            "engine": "qtok.analysis._unigram (sentencepiece's algorithm in C)" if fast else "sentencepiece"}
    # UNKNOWN (2) and BYTE (6) pieces: what n_unk counts. The C encoder knows its one unknown
    # piece (a walk over XLM-R's 250,000 pieces here took 0.1 s of its load).
    unk = frozenset([fast.unknown()] if fast else (i for i, p in enumerate(proto.pieces) if p.type in (2, 6)))

    def spans(text: str):
        ids, where = fast.spans(text) if fast else proto_spans(sp, text)
        char_at = byte_to_char(text.encode("utf-8"))
        return ids, [(char_at[b], char_at[e]) for b, e in where]

    def encode(texts: list[str]) -> list[list[int]]:  # encode() adds no BOS/EOS unless asked
        if fast is None:
            return sp.encode(texts)
        ids, offsets = fast.flat(texts)
        return [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))]

    # Pieces never cross whitespace when the model splits by whitespace and collapses it.
    cut_safe = (proto.trainer_spec.split_by_whitespace and proto.normalizer_spec.remove_extra_whitespaces
                and not proto.trainer_spec.treat_whitespace_as_suffix)
    return Adapter(name, encode, meta, vocab_size=len(proto.pieces), encode_flat=fast and fast.flat, unk_ids=unk,
                   spans=spans, cut_safe=bool(cut_safe))


def peer_adapter(name: str, label: str | None = None) -> Adapter:
    """A competing vocabulary by name (``analysis.peers``): o200k_base and tekken through qtok's
    engines (byte-level BPE, ids after tekken's control tokens), deepseek-v4 through tokenizers."""
    from . import peers

    if name == "deepseek-v4":
        adapter = hf_json_adapter(peers.read(name), label or name, f"{peers.FILES[name][1]}: {peers.FILES[name][2]}")
        adapter.meta.update(peers.meta(name))
        return adapter
    tok, offset = peers.tokenizer(name)
    return tokenizer_adapter(tok, label or name, dict(peers.meta(name), engine=f"qtok {tok.engine_name}"), offset)


# qtok's named encodings: Qwen-1, the Qwen2+ family (qwen2, qwen2.5, qwen3, qwen3.5), cl100k_base.
QTOK_NAMES = qtok.list_encodings()
PEER_NAMES = ["o200k_base", "deepseek-v4", "tekken"]  # analysis.peers.PEERS, without importing it
KNOWN = [*QTOK_NAMES, "xlm-r", "xlm-r-hf", *PEER_NAMES]
# What the study (and the playground) compare unless told otherwise.
DEFAULT_TOKENIZERS = "qwen,cl100k_base,xlm-r"


def parse_spec(spec: str) -> tuple[str | None, str]:
    """A tokenizer as the study and the playground name it: ``(label, source)``, where ``source``
    is a known name or a file and ``label`` the name given with ``NAME=PATH`` (else ``None``).
    ``NAME=PATH`` splits at the first "=": a name has none, a path may ("runs/lr=3e-4/x.tiktoken").

    >>> parse_spec("qwen"), parse_spec("mine=runs/a.tiktoken")
    ((None, 'qwen'), ('mine', 'runs/a.tiktoken'))
    """
    if spec in KNOWN or "=" not in spec or Path(spec).is_file():
        return None, spec
    label, _, source = spec.partition("=")
    return label, source


def get_adapter(spec: str) -> Adapter:
    """A qtok encoding (``qwen``, ``qwen3``, ``qwen3.5``, ``cl100k_base``...), ``xlm-r``, or a file
    (``*.tiktoken``, ``*.model``, ``tokenizer.json``), optionally named: ``NAME=PATH``."""
    label, path_str = parse_spec(spec)
    if path_str not in KNOWN and not Path(path_str).is_file():
        # Every name qtok takes, as qtok takes it: a Qwen model id with or without "Qwen/"
        # (Qwen3-8B -> qwen3), qwen3.6 (Qwen3.5's vocabulary); the rows say which encoding.
        canonical = canonical_name(path_str)
        if canonical is not None:
            path_str = canonical
            spec = f"{label}={canonical}" if label else canonical
    adapter = _get_adapter(spec, label, path_str)
    # What a worker process or a Ray actor rebuilds it from: an absolute path (its working
    # directory may differ) and the name this adapter got.
    source = path_str if path_str in KNOWN else str(Path(path_str).resolve())
    adapter.spec = spec if label is None and path_str in KNOWN else f"{adapter.name}={source}"
    return adapter


def _get_adapter(spec: str, label: str | None, path_str: str) -> Adapter:
    if path_str in QTOK_NAMES:
        return qtok_adapter(path_str, label)
    if path_str == "xlm-r":
        return xlmr()
    if path_str == "xlm-r-hf":
        return xlmr_hf()
    if path_str in PEER_NAMES:
        return peer_adapter(path_str, label)
    path = Path(path_str)
    if not path.is_file():
        looks_like_a_file = (label is not None or "/" in path_str or "\\" in path_str
                             or path.suffix in (".tiktoken", ".model", ".json", ".xz"))
        if looks_like_a_file:
            raise TokenizerError(f"file not found: {path_str} (tokenizer {spec!r}); check the path")
        close = difflib.get_close_matches(path_str.lower(), KNOWN, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TokenizerError(f"unknown tokenizer {spec!r}{hint}: use one of {', '.join(KNOWN)}, a Qwen "
                             "model id (Qwen/Qwen3-8B), or a *.tiktoken, SentencePiece *.model or "
                             "tokenizer.json file")
    if path.suffix == ".tiktoken":
        return qtok_adapter(str(path), label or path.stem)
    if path.suffix == ".model":
        return sentencepiece_adapter(path, label)
    if path.suffix == ".json":
        return hf_json_adapter(path.read_bytes(), label or path.stem, str(path))
    if path.name.endswith(".json.xz"):
        try:
            data = lzma.decompress(path.read_bytes())
        except lzma.LZMAError as e:
            raise TokenizerError(f"{path} is not a valid .xz file ({e}); decompress-check it or "
                                 "give the plain tokenizer.json") from None
        return hf_json_adapter(data, label or path.stem, str(path))
    raise TokenizerError(f"cannot tell what kind of tokenizer {path} is: name it *.tiktoken, "
                         "*.model (SentencePiece) or *.json (tokenizer.json)")


def load_adapters(specs: list[str]) -> list[Adapter]:
    """``get_adapter`` for each spec, built in parallel threads: the tokenizers' own builds
    release the GIL (about 2x faster on 2 cores than one after another). A thread each, so the
    longest (XLM-R's trie) starts at once rather than after two others."""
    with ThreadPoolExecutor(max(1, len(specs))) as pool:
        return list(pool.map(get_adapter, specs))
