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

    def fast_path(self):
        # tiktoken's Rust core without its Python method, which only adds the surrogate retry
        # that qtok does above every engine.
        core = getattr(self._enc, "_core_bpe", None)
        return (core.encode_ordinary if core is not None else self._enc.encode_ordinary), None

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


_BYTES = {bytes([i]): i for i in range(256)}


def compile_error(pat_str: str) -> str | None:
    """Why tiktoken's Rust regex (fancy-regex) cannot use a pattern, in one line, or None.
    A pattern it refuses would work on the reference engine alone (``regex`` knows ``\\X``,
    ``(?V1)``, set operations), and engines that disagree give different ids."""
    try:
        tiktoken.Encoding("qtok-pattern-check", pat_str=pat_str, mergeable_ranks=_BYTES,
                          special_tokens={}).encode_ordinary("probe")
    except (ValueError, RuntimeError) as e:
        return " ".join(str(e).split())[:200]
    return None


def probe_class(escape: str) -> frozenset[int]:
    """The code points tiktoken's regex puts in a class (``\\p{Lu}``, ``\\d``): with only the
    class as the pattern, tiktoken encodes exactly the characters it matches. Kept in the user
    cache per tiktoken version (a probe of every code point takes ~0.3 s)."""
    import json

    from ..files import read_cached
    from ..load import sha256_bytes

    def make() -> bytes:
        every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
        enc = tiktoken.Encoding("qtok-class-probe", pat_str=escape, mergeable_ranks=_BYTES,
                                special_tokens={})
        members = sorted(set(map(ord, enc.decode(enc.encode_ordinary(every)))))
        return json.dumps(members).encode()

    key = sha256_bytes(f"class|tiktoken {tiktoken.__version__}|{escape}".encode())
    return frozenset(json.loads(read_cached(key, ".class.json", make)))
