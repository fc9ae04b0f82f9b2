"""The tiktoken engine: tiktoken's Rust core, constructed from our own ranks; the oracle of the
tests and the default where ``fastokens`` has no wheel.

Only ``tiktoken.Encoding(...)`` is used, never ``tiktoken.get_encoding``: the latter downloads
rank files, and qtok must work offline. This is the only module of qtok that imports tiktoken.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import tiktoken

from ..encodings import EncodingSpec


class TiktokenEngine:
    @staticmethod
    def backend() -> str:
        return f"tiktoken {tiktoken.__version__}"

    def __init__(self, spec: EncodingSpec):
        self.spec = spec
        self._enc = tiktoken.Encoding(
            f"qtok-{spec.name}",
            pat_str=spec.pat_str,
            mergeable_ranks=spec.mergeable_ranks,
            special_tokens=spec.special_tokens,
        )
        # Bound methods, looked up once: the wrapper should cost nothing per call.
        self.encode_ordinary = self._enc.encode_ordinary
        self.decode_bytes = self._enc.decode_bytes
        self.decode_single_token_bytes = self._enc.decode_single_token_bytes

    def encode(self, text: str, allowed_special: frozenset[str]) -> list[int]:
        if not allowed_special:
            return self._enc.encode_ordinary(text)
        # Disallowed checks were done above us; tiktoken must not repeat them.
        return self._enc.encode(text, allowed_special=allowed_special, disallowed_special=())

    def encode_batch(self, texts: list[str], allowed_special: frozenset[str],
                     num_threads: int) -> list[list[int]]:
        # tiktoken releases the GIL while it encodes, so threads run in parallel.
        if num_threads <= 1 or len(texts) <= 1:
            return [self.encode(t, allowed_special) for t in texts]
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(lambda t: self.encode(t, allowed_special), texts))
