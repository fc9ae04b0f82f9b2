"""The fast engine: tiktoken's Rust core, constructed from our own ranks.

Only ``tiktoken.Encoding(...)`` is used, never ``tiktoken.get_encoding``: the latter downloads
rank files, and qtok must work offline. Policy (which special tokens are allowed, checks,
normalization) lives in ``core.Tokenizer``; this class only encodes and decodes.
"""

from __future__ import annotations

import tiktoken

from .encodings import EncodingSpec


class FastEngine:
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
