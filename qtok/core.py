"""``Tokenizer``: the policy above the engines (special tokens, normalization, input checks).

Engines only turn text into ids and back; everything a user can get wrong is checked here, once,
so both engines behave identically and their errors say how to fix the call.
"""

from __future__ import annotations

import numbers
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from .encodings import ENCODINGS, EncodingSpec, get_spec
from .fast import FastEngine
from .reference import ReferenceEngine, specials_regex, split_specials
from .unicode import compile_portable

ENGINES = {"fast": FastEngine, "reference": ReferenceEngine}
COMPATS = (None, "hf")
_DEFAULT = object()


@dataclass(frozen=True)
class Piece:
    """One pre-tokenized piece of a text (or one special token) and the ids it became."""

    text: str
    ids: tuple[int, ...]
    tokens: tuple[bytes, ...]
    special: bool = False


def replace_surrogates(text: str) -> str:
    """Join surrogate pairs and turn lone surrogates into U+FFFD, as tiktoken does.

    Lone surrogates cannot be encoded as UTF-8, so no tokenizer can give them ids.

    >>> replace_surrogates("a\\ud800b")
    'a\\ufffdb'
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _type_error(func: str, value) -> TypeError:
    hint = ""
    if isinstance(value, (bytes, bytearray)):
        hint = "; decode the bytes first, e.g. data.decode('utf-8')"
    elif isinstance(value, (list, tuple)):
        hint = "; for many texts use encode_batch()"
    return TypeError(f"{func}() takes a str, got {type(value).__name__}{hint}")


class Tokenizer:
    """A byte-level BPE tokenizer: an ``EncodingSpec`` run by one of two identical engines.

    ``compat="hf"`` reproduces the official Qwen tokenizer (``transformers`` with remote code):
    text is NFC-normalized and special-token text is encoded as special tokens. The default is
    the safe one: no normalization, and ``"<|endoftext|>"`` in user text is plain text.

    >>> tok = get_tokenizer("qwen")
    >>> tok.encode("hello world")
    [14990, 1879]
    >>> tok.decode([14990, 1879])
    'hello world'
    """

    def __init__(self, spec: EncodingSpec, *, engine: str = "fast", compat: str | None = None):
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: use one of {sorted(ENGINES)}")
        if compat not in COMPATS:
            raise ValueError(f"unknown compat {compat!r}: use None (safe default) or 'hf'")
        self.spec = spec
        self.engine_name = engine
        self.engine = ENGINES[engine](spec)
        self.compat = compat
        self._normalize = compat == "hf"
        self._default_allowed: frozenset[str] | str = "all" if compat == "hf" else frozenset()
        self.special_tokens_set = frozenset(spec.special_tokens)
        self.n_vocab = spec.n_vocab
        assigned = set(spec.mergeable_ranks.values()) | set(spec.special_tokens.values())
        self._unassigned = frozenset(range(self.n_vocab)) - assigned

    # --- tiktoken's vocabulary ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pat_str(self) -> str:
        return self.spec.pat_str

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        return self.spec.mergeable_ranks

    @property
    def special_tokens(self) -> dict[str, int]:
        return self.spec.special_tokens

    @property
    def eot_token(self) -> int:
        return self.spec.special_tokens["<|endoftext|>"]

    def __repr__(self) -> str:
        compat = f", compat={self.compat!r}" if self.compat else ""
        return f"<Tokenizer {self.name!r} engine={self.engine_name!r}{compat} n_vocab={self.n_vocab}>"

    # --- encoding ----------------------------------------------------------------------------
    def _prepare(self, text, func: str) -> str:
        if not isinstance(text, str):
            raise _type_error(func, text)
        if self._normalize:
            text = unicodedata.normalize("NFC", text)
        return text

    def _allowed(self, allowed_special) -> frozenset[str]:
        if allowed_special is _DEFAULT:
            allowed_special = self._default_allowed
        if allowed_special == "all":
            return self.special_tokens_set
        allowed = frozenset(allowed_special)
        unknown = allowed - self.special_tokens_set
        if unknown:
            raise ValueError(
                f"allowed_special names {sorted(unknown)!r}, which are not special tokens of "
                f"{self.name}; see Tokenizer.special_tokens_set"
            )
        return allowed

    def _check_disallowed(self, text: str, disallowed: frozenset[str]) -> None:
        if m := specials_regex(disallowed).search(text):
            raise ValueError(
                f"the text contains the special token {m.group()!r} at offset {m.start()}, which "
                f"disallowed_special forbids. Pass allowed_special={{{m.group()!r}}} (or 'all') "
                "to encode it as a special token, or disallowed_special=() to encode it as "
                "plain text."
            )

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = _DEFAULT,  # type: ignore[assignment]
        disallowed_special: Literal["all"] | Collection[str] = (),
    ) -> list[int]:
        """Encode a string into token ids.

        By default special-token text is plain text (``compat="hf"``: all specials allowed).
        ``allowed_special`` ("all" or a set) encodes those texts as special tokens;
        ``disallowed_special`` ("all" or a set) raises ValueError when the text contains them.

        >>> get_tokenizer("qwen").encode("<|endoftext|>", allowed_special="all")
        [151643]
        """
        text = self._prepare(text, "encode")
        if allowed_special is _DEFAULT and not disallowed_special and not self._normalize:
            return self._encode_ordinary(text)  # the common case, kept short
        allowed = self._allowed(allowed_special)
        if disallowed_special == "all":
            disallowed_special = self.special_tokens_set
        disallowed = frozenset(disallowed_special) - allowed
        if disallowed:
            self._check_disallowed(text, disallowed)
        try:
            return self.engine.encode(text, allowed)
        except UnicodeEncodeError:
            return self.engine.encode(replace_surrogates(text), allowed)

    def _encode_ordinary(self, text: str) -> list[int]:
        try:
            return self.engine.encode_ordinary(text)
        except UnicodeEncodeError:
            return self.engine.encode_ordinary(replace_surrogates(text))

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode with every special-token text treated as plain text.

        >>> get_tokenizer("qwen").encode_ordinary("12345")
        [16, 17, 18, 19, 20]
        """
        return self._encode_ordinary(self._prepare(text, "encode_ordinary"))

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        num_threads: int = 8,
        allowed_special: Literal["all"] | Collection[str] = _DEFAULT,  # type: ignore[assignment]
        disallowed_special: Literal["all"] | Collection[str] = (),
    ) -> list[list[int]]:
        """Encode many strings in parallel threads (the fast engine releases the GIL).

        >>> get_tokenizer("qwen").encode_batch(["hello", "world"])
        [[14990], [14615]]
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch() takes a list of str, got one str; use encode()")
        texts = list(texts)

        def one(text: str) -> list[int]:
            return self.encode(text, allowed_special=allowed_special,
                               disallowed_special=disallowed_special)

        if num_threads <= 1 or len(texts) <= 1:
            return [one(t) for t in texts]
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(one, texts))

    def count(self, text: str, **kwargs) -> int:
        """The number of tokens ``encode(text, **kwargs)`` gives.

        >>> get_tokenizer("qwen").count("hello world")
        2
        """
        return len(self.encode(text, **kwargs))

    def encode_chat(self, messages, *, add_generation_prompt: bool = True,
                    max_window_size: int | None = None) -> list[int]:
        """The ids of a conversation in Qwen-Chat's ChatML layout; see ``qtok.chat``."""
        from .chat import encode_chat

        return encode_chat(self, messages, add_generation_prompt=add_generation_prompt,
                           max_window_size=max_window_size)

    # --- decoding ----------------------------------------------------------------------------
    def _bad_ids(self, ids, error: Exception) -> Exception:
        """Find the first invalid id and say what is wrong with it; else keep the engine's error."""
        try:
            items = list(ids)
        except TypeError:
            return TypeError(f"decode() takes a sequence of int ids, got {type(ids).__name__}")
        n = self.n_vocab
        for pos, t in enumerate(items):
            if isinstance(t, bool) or not isinstance(t, numbers.Integral):
                return ValueError(
                    f"token id at position {pos} is {t!r} ({type(t).__name__}), not an integer; "
                    f"ids are integers in [0, {n})"
                )
            if not 0 <= t < n:
                return ValueError(
                    f"token id {t} at position {pos} is outside the vocabulary of {self.name}: "
                    f"valid ids are in [0, {n})"
                )
            if t in self._unassigned:
                return ValueError(f"token id {t} at position {pos} is not assigned in {self.name}")
        return error

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes the ids stand for (special tokens as their text).

        >>> get_tokenizer("qwen").decode_bytes([14990, 1879])
        b'hello world'
        """
        try:
            return self.engine.decode_bytes(ids)
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise self._bad_ids(ids, e) from None

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        """Decode ids into a string. Bytes that are not valid UTF-8 (a token sequence cut inside
        a character) follow ``errors``: "replace" (U+FFFD, the default), "strict" (raise
        UnicodeDecodeError) or "ignore".

        >>> get_tokenizer("qwen").decode([151643])
        '<|endoftext|>'
        """
        if errors not in ("replace", "strict", "ignore"):
            raise ValueError(f"errors must be 'replace', 'strict' or 'ignore', not {errors!r}")
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one id.

        >>> get_tokenizer("qwen").decode_single_token_bytes(14990)
        b'hello'
        """
        try:
            return self.engine.decode_single_token_bytes(token)
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise self._bad_ids([token], e) from None

    def decode_tokens_bytes(self, ids: Sequence[int]) -> list[bytes]:
        """The bytes of each id.

        >>> get_tokenizer("qwen").decode_tokens_bytes([14990, 1879])
        [b'hello', b' world']
        """
        return [self.decode_single_token_bytes(t) for t in ids]

    # --- looking inside ----------------------------------------------------------------------
    def explain(self, text: str, **kwargs) -> list[Piece]:
        """How a text is tokenized: each pre-tokenized piece (or special token) with its ids.

        >>> [(p.text, p.ids) for p in get_tokenizer("qwen").explain("Hi 42")]
        [('Hi', (13048,)), (' ', (220,)), ('4', (19,)), ('2', (17,))]
        """
        text = self._prepare(text, "explain")
        allowed_special = kwargs.get("allowed_special", _DEFAULT)
        allowed = self._allowed(allowed_special)
        out: list[Piece] = []
        for segment, is_special in split_specials(text, allowed):
            if is_special:
                t = self.spec.special_tokens[segment]
                out.append(Piece(segment, (t,), (segment.encode(),), special=True))
                continue
            for piece in compile_portable(self.spec.pat_str).findall(segment):
                ids = tuple(self._encode_ordinary(piece))
                out.append(Piece(piece, ids, tuple(self.decode_tokens_bytes(ids))))
        return out


def get_tokenizer(name="qwen", engine: str = "fast", compat: str | None = None) -> Tokenizer:
    """A tokenizer by encoding name (``qwen``, ``cl100k_base``) or ``.tiktoken`` file path.

    Named tokenizers are built once per process and shared.

    >>> get_tokenizer("cl100k_base").encode("hello world")
    [15339, 1917]
    """
    if isinstance(name, str) and name in ENCODINGS:
        return _named(name, engine, compat)
    return Tokenizer(get_spec(name), engine=engine, compat=compat)


_NAMED: dict[tuple, Tokenizer] = {}
_SPECS: dict[str, EncodingSpec] = {}


def _named(name: str, engine: str, compat: str | None) -> Tokenizer:
    key = (name, engine, compat)
    tok = _NAMED.get(key)
    if tok is None:
        if name not in _SPECS:
            _SPECS[name] = get_spec(name)
        tok = _NAMED[key] = Tokenizer(_SPECS[name], engine=engine, compat=compat)
    return tok
