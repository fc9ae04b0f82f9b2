"""The fast engine: ``fastokens`` (Rust), built from qtok's own ranks.

``fastokens`` reads a rank file, so the ranks qtok built are written once to the user cache under
their sha256 (see ``files.cached_file``); Qwen's official file is never read. Its speed depends
on the pattern string being the one it recognises (Qwen's and cl100k's exact spelling, which
``encodings.py`` keeps); any other pattern is still exact, only slower.

Decoding uses a Python table of token bytes: ``fastokens`` decodes to ``str`` and would replace a
character split across tokens, where ``decode_bytes`` must return the bytes.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import version

from ..encodings import OWN_PATTERNS, EncodingSpec
from ..files import cached_derived, find_cached, read_cached
from ..load import DataFileError, dump_ranks, sha256_bytes
from ..specials import split_specials
from ..unicode import pcre2_pattern
from . import EngineUnavailable, decode_with_table

try:
    import fastokens
except ImportError as e:  # no wheel for this platform (Linux aarch64), or not installed
    raise EngineUnavailable(
        "engine 'fast' needs the fastokens package, which is not installed (it has wheels for "
        "Linux x86_64, macOS arm64 and Windows): pip install fastokens, or use engine='tiktoken'"
    ) from e


class FastokensEngine:
    # Building takes ~1 s (fastokens derives its merges from the ranks); as the default engine,
    # tiktoken (proven identical, built in ~0.1 s) answers until then. See core.Tokenizer.
    stand_in = "tiktoken"

    @staticmethod
    def backend() -> str:
        return f"fastokens {getattr(fastokens, '__version__', None) or _version()}"

    def __init__(self, spec: EncodingSpec):
        self.spec = spec
        # Vendored tables are found by their key; any other table is hashed after dumping.
        data = None if spec.cache_key else dump_ranks(spec.mergeable_ranks)
        table_key = spec.cache_key or sha256_bytes(data)
        # qtok's own patterns go as they are (fastokens matches them exactly, swept); any other
        # is rewritten where PCRE2 and tiktoken's regex differ (unicode.pcre2_pattern).
        pattern = spec.pat_str if spec.pat_str in OWN_PATTERNS else pcre2_pattern(spec.pat_str)
        if pattern != spec.pat_str:
            spec = dataclasses.replace(spec, pat_str=pattern)
        # A table whose tiktoken reading fastokens refused once has its tokenizer.json in the
        # cache: build from it straight away (the refusal alone costs 0.5 s on Qwen3.5).
        json_key = sha256_bytes(f"{table_key}|{pattern}|all-special|"
                                f"{sorted(spec.special_tokens.items())}".encode())
        json_path = find_cached(json_key, ".tokenizer.json")
        irregular: list[bytes] = []  # found while writing the merges, if they are written
        if json_path is None:
            path = cached_derived(table_key, ".tiktoken", lambda: data or dump_ranks(spec.mergeable_ranks))
            try:
                self._fk = fastokens.Tokenizer.from_tiktoken(
                    str(path), pattern=pattern, special_tokens=dict(spec.special_tokens))
            except ValueError as e:
                if "did not decompose" not in str(e):
                    raise
                # A vocabulary with tokens lower ranks cannot build in two parts (Qwen3.5's): its
                # tiktoken reading is refused, so build from a tokenizer.json whose merge list
                # gives tiktoken's ids (bpe.merges_from_ranks), kept in the user cache.
                json_path = self._json_path(spec, json_key, irregular)
        if json_path is not None:
            self._fk = fastokens.Tokenizer.from_file(str(json_path))
            if not spec.cache_key:  # qtok's own Qwen3.5 is proven by the tests; a user's is not
                read_cached(json_key, ".irregular-ok",
                            lambda: self._check_irregular(spec, irregular) or b"ok\n")

        table: list[bytes | None] = [None] * spec.n_vocab
        for token, rank in spec.mergeable_ranks.items():
            table[rank] = token
        for text, rank in spec.special_tokens.items():
            table[rank] = text.encode("utf-8")
        self._table = table

    def _check_irregular(self, spec: EncodingSpec, irregular: list[bytes]) -> None:
        """Refuse a table whose irregular tokens the merge list does not reproduce: each such
        token alone, twice, beside the next one and inside words, against tiktoken's ids."""
        from ..bpe import irregular_tokens
        from .tiktoken import TiktokenEngine

        oracle = TiktokenEngine(spec)
        words = [t.decode("utf-8", "ignore") for t in irregular or irregular_tokens(spec.mergeable_ranks)]
        words = [w for w in words if w]
        texts = words + [a + b for a, b in zip(words, words[1:])] + [f"x{w}{w}y {w}." for w in words]
        for text in texts:
            if self._fk.encode_ordinary(text).ids != oracle.encode_ordinary(text):
                raise DataFileError(
                    f"{spec.origin or spec.name}: engine 'fast' cannot reproduce tiktoken's ids on "
                    f"{text[:40]!r} (the table has tokens lower ranks cannot build in two parts); "
                    "use engine='tiktoken' or 'reference', which encode any table by its ranks")

    @staticmethod
    def _json_path(spec: EncodingSpec, key: str, irregular: list[bytes]):
        import json

        from ..export import spec_json  # the writer of Hugging Face's format

        # Every added token marked special: fastokens' split_special_tokens (the plain path of
        # encode_batch and encode_batch_flat) then treats all of them as text, as encode() does.
        # A token the official file marks non-special (Qwen3.5's <tool_call>, <think>) would
        # otherwise still match there. Decoding never asks fastokens, so the flag changes nothing
        # else.
        everything_special = dataclasses.replace(spec, not_special=frozenset())

        def make() -> bytes:
            return json.dumps(spec_json(everything_special, irregular=irregular),
                              ensure_ascii=False).encode("utf-8")

        return cached_derived(key, ".tokenizer.json", make)

    def encode_ordinary(self, text: str) -> list[int]:
        return self._fk.encode_ordinary(text).ids

    def fast_path(self):
        return self._fk.encode_ordinary, "ids"

    def encode(self, text: str, allowed_special: frozenset[str]) -> list[int]:
        if not allowed_special:
            return self._fk.encode_ordinary(text).ids
        if len(allowed_special) == len(self.spec.special_tokens):
            return self._fk.encode(text).ids  # every special token is recognised
        # Some allowed, some not: split on the allowed ones here, the rest stays plain text.
        return self._fk.encode_segments(list(split_specials(text, allowed_special))).ids

    def encode_batch(self, texts: list[str], allowed_special: frozenset[str],
                     num_threads: int) -> list[list[int]]:
        everything = len(allowed_special) == len(self.spec.special_tokens)
        if num_threads <= 1 or len(texts) <= 1 or (allowed_special and not everything):
            return [self.encode(t, allowed_special) for t in texts]
        # One call into Rust, which encodes in parallel on all cores without the GIL.
        # (encode_batch_flat's buffers were slower to turn into lists than .ids, measured.)
        return [e.ids for e in self._fk.encode_batch(texts, split_special_tokens=not everything)]

    def encode_batch_flat(self, texts: list[str], allowed_special: frozenset[str]):
        """All texts' ids in one little-endian uint32 buffer and ``len(texts) + 1`` uint64
        offsets, built in Rust without a Python object per token (``None`` when the special
        tokens asked for are a subset, which only the per-text path handles)."""
        everything = len(allowed_special) == len(self.spec.special_tokens)
        if allowed_special and not everything:
            return None
        return self._fk.encode_batch_flat(texts, split_special_tokens=not everything)

    def decode_bytes(self, ids: list[int]) -> bytes:
        return decode_with_table(self._table, ids)

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self._table[token]


def _version() -> str:
    return version("fastokens")
