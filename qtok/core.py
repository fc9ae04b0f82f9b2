"""``Tokenizer``: the policy above the engines (special tokens, normalization, input checks).

Engines only turn text into ids and back; everything a user can get wrong is checked here, once,
so every engine behaves identically and the errors say how to fix the call.
"""

from __future__ import annotations

import array
import numbers
import operator
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Literal

from . import chat, template
from .encodings import EncodingSpec, canonical_name, get_spec
from .engine import EngineUnavailable, StandIn, default_engine, engine_class, fast_path
from .family import MEMBERS
from .engine.check import check_pattern
from .load import check_table
from .offsets import char_spans
from .specials import specials_regex, split_specials
from .stream import StreamDecoder
from .unicode import compile_portable, nfc_as_hf, normalize, piece_finder

try:  # encode(text) straight to the engine (qtok/_call.c); without it, the Python method
    from ._call import Call
except ImportError:  # built without a C compiler
    Call = None

COMPATS = (None, "hf")


def parse_compat(name: str | None) -> str | None:
    """The ``compat`` a command line or a request names: ``"safe"`` (or nothing) is the safe
    default, ``None``; ``"hf"`` is ``"hf"``.

    >>> parse_compat("safe"), parse_compat("hf")
    (None, 'hf')
    """
    if name in (None, "safe"):
        return None
    if name == "hf":
        return "hf"
    raise ValueError(f'compat must be "safe" or "hf", got {name!r}')
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


def _surrogate_safe(call, texts):
    """``call(texts)`` (one text or a list), retried with lone surrogates replaced when the
    engine cannot encode them: the common case pays nothing for the rare one."""
    try:
        return call(texts)
    except UnicodeEncodeError:
        fixed = replace_surrogates(texts) if isinstance(texts, str) else [replace_surrogates(t) for t in texts]
        return call(fixed)


def _nfc_between(text: str, allowed: frozenset[str]) -> str:
    """NFC as Hugging Face tokenizers apply it: the pieces between the ``allowed`` added tokens,
    each on its own, with its Unicode tables (``unicode.nfc_as_hf``). NFC never makes or breaks
    an added token's ASCII text inside a piece, so splitting the result again finds the same
    tokens."""
    if not allowed:
        return nfc_as_hf(text)
    return "".join(seg if special else nfc_as_hf(seg) for seg, special in split_specials(text, allowed))


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

    def __init__(self, spec: EncodingSpec, *, engine: str | None = None, compat: str | None = None):
        if compat not in COMPATS:
            raise ValueError(f"unknown compat {compat!r}: use None (safe default) or 'hf'")
        if engine is not None and not isinstance(engine, str):
            raise TypeError(f"engine is a name such as 'fast', got {type(engine).__name__}")
        # The same checks whichever engine is asked for, before any engine sees the table.
        source = spec.origin or f"encoding {spec.name!r}"
        check_table(spec.mergeable_ranks, spec.special_tokens, source)
        if not spec.cache_key:  # the vendored encodings are qtok's own, pinned and proven
            check_pattern(spec.pat_str, source)
        # A table with tokens that lower ranks cannot build in two parts (Qwen3.5's official file)
        # is a real table: tiktoken and the reference engine encode any table by its ranks, and
        # the fast engine checks that its merge list reproduces them (engine/fast.py).
        self.spec = spec
        self.engine_name = engine or default_engine()
        self.compat = compat
        self._normalize = compat == "hf"
        # The family's Hugging Face tokenizers cut added tokens out of the raw text before NFC;
        # Qwen-1's remote code normalizes the whole text first (see EncodingSpec.family).
        self._split_first = compat == "hf" and bool(spec.family)
        self._default_allowed: frozenset[str] | str = "all" if compat == "hf" else frozenset()
        self.special_tokens_set = frozenset(spec.special_tokens)
        self._skipped = frozenset(i for t, i in spec.special_tokens.items() if t not in spec.not_special)
        # check_table proved the ranks dense (0..n-1), so only ids past them can be unassigned:
        # no pass over the 150,000 ranks is needed here.
        n, ids = len(spec.mergeable_ranks), spec.special_tokens.values()
        self.n_vocab = max(n, max(ids, default=-1) + 1)
        self._unassigned = frozenset(range(n, self.n_vocab)).difference(ids)
        cls = engine_class(self.engine_name)
        # The default engine may name a stand-in that answers until building it pays (fastokens
        # takes ~1 s to build, tiktoken, proven identical, ~0.1 s): a script that encodes one
        # line should not wait for the fastest engine. An engine asked for by name is built now.
        stand_in = getattr(cls, "stand_in", None) if engine is None else None
        try:
            self.engine = StandIn(spec, cls, engine_class(stand_in), self._swap) if stand_in else cls(spec)
        except EngineUnavailable:
            self.engine = cls(spec)
        # ``encode(text)`` with one str and no options is most calls, and on a short text each
        # Python frame above the engine costs ~10% more: a Call object answers it by calling the
        # engine's own function, and hands anything else to the method below (a subclass that
        # overrides encode keeps its method).
        self._calls: list = []
        if Call is not None and type(self).encode is Tokenizer.encode:
            self.encode = self._follow(Call(Tokenizer.encode.__get__(self)))
        if isinstance(self.engine, StandIn):
            self.engine.on_change = self._retarget

    def _follow(self, call):
        """Point ``call`` (a ``_call.Call``) at this tokenizer's engine, now and after each swap."""
        self._calls.append(call)
        self._retarget()
        return call

    def _retarget(self) -> None:
        # NFC first under compat="hf": only the Python method normalizes.
        target = (None, None) if self._normalize else fast_path(self.engine)
        lend = getattr(self.engine, "lend", None)  # a stand-in counts what is encoded
        budget = lend() if lend is not None else -1
        for call in self._calls:
            call.retarget(*target, budget, self._spent if budget >= 0 else None)

    def _spent(self, n: int) -> None:
        """A Call used the characters the stand-in lent it: count them, lend again."""
        spend = getattr(self.engine, "spend", None)
        if spend is not None:
            spend(n)
        self._retarget()

    def _swap(self, engine) -> None:
        self.engine = engine  # one attribute store: a call in flight finishes on the stand-in
        self._retarget()

    def _full_engine(self) -> None:
        """Build the engine named by ``engine_name`` now if a stand-in still answers for it
        (raising its build error)."""
        if isinstance(self.engine, StandIn):
            self.engine.build()

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

    @property
    def stop_tokens(self) -> tuple[int, ...]:
        """The ids generation stops at (a chat model's end of turn and the end of text).

        >>> get_tokenizer("qwen3").stop_tokens
        (151645, 151643)
        """
        return tuple(self.spec.special_tokens[t] for t in self.spec.stop_tokens) or (self.eot_token,)

    def __repr__(self) -> str:
        compat = f", compat={self.compat!r}" if self.compat else ""
        backend = getattr(self.engine, "backend", None)
        runs = f" ({backend()})" if backend else ""
        return (f"<Tokenizer {self.name!r} engine={self.engine_name!r}{runs}{compat} "
                f"n_vocab={self.n_vocab}>")

    # --- encoding ----------------------------------------------------------------------------
    def _prepare(self, text, func: str, allowed: frozenset[str] = frozenset()) -> str:
        """The text that is encoded: checked, and NFC-normalized under ``compat="hf"`` (for the
        Qwen2+ family as ``tokenizers`` does it: ``_nfc_between``)."""
        if not isinstance(text, str):
            raise _type_error(func, text)
        if self._normalize:
            if self._split_first:
                return _nfc_between(text, allowed)
            text = normalize("NFC", text)
        return text

    def _allowed(self, allowed_special) -> frozenset[str]:
        if allowed_special is _DEFAULT:
            allowed_special = self._default_allowed
        if allowed_special == "all":
            return self.special_tokens_set
        if isinstance(allowed_special, str):
            raise TypeError(
                f"allowed_special is 'all' or a set of special-token texts, got the str "
                f"{allowed_special!r}; write {{{allowed_special!r}}}"
            )
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
        if allowed_special is _DEFAULT and not disallowed_special and not self._normalize:
            # The common case, kept to one check and one engine call: per-call cost shows on
            # short texts.
            if not isinstance(text, str):
                raise _type_error("encode", text)
            try:  # _surrogate_safe inlined: a function call more is 10% of this path
                return self.engine.encode_ordinary(text)
            except UnicodeEncodeError:
                return self.engine.encode_ordinary(replace_surrogates(text))
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        text = self._prepare(text, "encode", allowed)
        if disallowed:
            self._check_disallowed(text, disallowed)
        if allowed and not specials_regex(allowed).search(text):
            allowed = frozenset()  # none in the text: the engines' plain path is ~1.5x faster
        return _surrogate_safe(lambda t: self.engine.encode(t, allowed), text)

    def _batch_policy(self, func: str, texts, allowed_special, disallowed_special):
        """The checked texts and the allowed specials of a batch call (one rule for every batch)."""
        if isinstance(texts, str):
            raise TypeError(f"{func}() takes a list of str, got one str; use encode()")
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        texts = texts if isinstance(texts, list) else list(texts)
        # Plain str and no normalization: nothing to prepare (a word list of 475,816 paid 0.19 s
        # for a call a text); else each text checked (its type named) and normalized.
        if self._normalize or not set(map(type, texts)) <= {str}:
            texts = [self._prepare(t, func, allowed) for t in texts]
        if disallowed:
            for t in texts:
                self._check_disallowed(t, disallowed)
        return texts, allowed

    def _policy(self, allowed_special, disallowed_special) -> tuple[frozenset[str], frozenset[str]]:
        allowed = self._allowed(allowed_special)
        if disallowed_special == "all":
            disallowed_special = self.special_tokens_set
        elif isinstance(disallowed_special, str):
            raise TypeError(
                f"disallowed_special is 'all' or a set of special-token texts, got the str "
                f"{disallowed_special!r}; write {{{disallowed_special!r}}}"
            )
        disallowed = frozenset(disallowed_special)
        if unknown := disallowed - self.special_tokens_set:
            raise ValueError(
                f"disallowed_special names {sorted(unknown)!r}, which are not special tokens of "
                f"{self.name}; see Tokenizer.special_tokens_set"
            )
        return allowed, disallowed - allowed

    def _encode_ordinary(self, text: str) -> list[int]:
        return _surrogate_safe(self.engine.encode_ordinary, text)

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
        """Encode many strings, in parallel where the engine can (``fast``: in Rust on all
        cores; ``tiktoken``: ``num_threads`` threads; ``reference``: one after another, since
        pure Python cannot run in parallel threads). ``num_threads=1`` encodes sequentially.
        The ids are exactly those of ``encode`` on each text.

        >>> get_tokenizer("qwen").encode_batch(["hello", "world"])
        [[14990], [14615]]
        """
        texts, allowed = self._batch_policy("encode_batch", texts, allowed_special, disallowed_special)
        return _surrogate_safe(lambda ts: self.engine.encode_batch(ts, allowed, num_threads), texts)

    def encode_batch_flat(self, texts: Iterable[str], *,
                          allowed_special: Literal["all"] | Collection[str] = _DEFAULT,  # type: ignore[assignment]
                          disallowed_special: Literal["all"] | Collection[str] = ()):
        """``encode_batch`` as two numpy arrays: every text's ids concatenated (uint32) and
        ``len(texts) + 1`` offsets, text ``i`` being ``ids[offsets[i]:offsets[i + 1]]``. For bulk
        work (corpus statistics, training data) it skips a Python object per token: with the
        fast engine the arrays are filled in Rust. Needs numpy.

        >>> ids, offsets = get_tokenizer("qwen").encode_batch_flat(["hello world", "12"])
        >>> ids.tolist(), offsets.tolist()
        ([14990, 1879, 16, 17], [0, 2, 4])
        """
        import numpy as np  # here, not above: the tokenizer itself does not need numpy

        texts, allowed = self._batch_policy("encode_batch_flat", texts, allowed_special,
                                            disallowed_special)
        flat = getattr(self.engine, "encode_batch_flat", None)
        if flat is not None:
            out = _surrogate_safe(lambda ts: flat(ts, allowed), texts)
            if out is not None:
                ids, offsets = out
                return (np.frombuffer(ids, dtype="<u4").astype(np.uint32, copy=False),
                        np.frombuffer(offsets, dtype="<u8").astype(np.int64))
        lists = self.encode_batch(texts, allowed_special=allowed, num_threads=2)
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in lists], out=offsets[1:])
        return np.fromiter(chain.from_iterable(lists), dtype=np.uint32, count=int(offsets[-1])), offsets

    def count(self, text: str, **kwargs) -> int:
        """The number of tokens ``encode(text, **kwargs)`` gives.

        >>> get_tokenizer("qwen").count("hello world")
        2
        """
        return len(self.encode(text, **kwargs))

    def encode_chat(self, messages, *, add_generation_prompt: bool = True,
                    max_window_size: int | None = None, tools=None, **template_kwargs) -> list[int]:
        """The ids of a conversation, as the model's own chat code builds them.

        Qwen-1 (``qwen``): Qwen-Chat's ``make_context`` (see ``qtok.chat``; ``max_window_size``
        drops the oldest turns). The Qwen2+ family: the member's official chat template, rendered
        as ``transformers`` does and tokenized as ``apply_chat_template(..., tokenize=True)``
        does, so added-token text inside a message is matched as the token, as there. ``tools``
        (JSON-schema dicts) and template arguments such as Qwen3's ``enable_thinking=False`` go
        to the template.

        >>> get_tokenizer("qwen").encode_chat([{"role": "user", "content": "hi"}])[:4]
        [151644, 872, 198, 6023]
        >>> get_tokenizer("qwen3").decode(get_tokenizer("qwen3").encode_chat(
        ...     [{"role": "user", "content": "hi"}], enable_thinking=False))
        '<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n'
        """
        if not self.spec.family:
            if tools is not None or template_kwargs:
                given = sorted(template_kwargs) + (["tools"] if tools is not None else [])
                raise TypeError(f"encode_chat() of {self.name!r} (Qwen-Chat's make_context) takes no "
                                f"{', '.join(given)}; chat templates belong to the Qwen2+ family "
                                "(qwen2, qwen2.5, qwen3, qwen3.5)")
            return chat.encode_chat(self, messages, add_generation_prompt=add_generation_prompt,
                                    max_window_size=max_window_size)
        if max_window_size is not None:
            raise TypeError("max_window_size is Qwen-1's make_context truncation; the Qwen2+ chat "
                            "templates keep every message (cut the messages yourself)")
        text = self.render_chat(messages, add_generation_prompt=add_generation_prompt, tools=tools,
                                **template_kwargs)
        # transformers tokenizes the rendered text with every added token matched, NFC between.
        everything = self.special_tokens_set
        return _surrogate_safe(lambda t: self.engine.encode(t, everything), _nfc_between(text, everything))

    def render_chat(self, messages, *, add_generation_prompt: bool = True, tools=None,
                    **template_kwargs) -> str:
        """The text of a conversation under this family member's official chat template (what
        ``apply_chat_template(..., tokenize=False)`` returns).

        >>> get_tokenizer("qwen2.5").render_chat([{"role": "user", "content": "hi"}])[:40]
        '<|im_start|>system\\nYou are Qwen, created'
        """
        member = MEMBERS.get(self.spec.family)
        if member is None:
            raise ValueError(f"{self.name!r} has no chat template: render_chat() serves the Qwen2+ "
                             "family (qwen2, qwen2.5, qwen3, qwen3.5); Qwen-1 chat is encode_chat()")
        # As transformers: the tokenizer's special-token map first, the caller's arguments over it.
        variables = {"eos_token": member.eos_token, "pad_token": member.pad_token,
                     "bos_token": None, "unk_token": None, **template_kwargs}
        try:
            return template.render(member.chat_template, messages, tools=tools,
                                   add_generation_prompt=add_generation_prompt, **variables)
        except template.ChatTemplateError as e:
            raise template.ChatTemplateError(f"{self.name}'s chat template: {e}") from None

    @property
    def chat_template(self) -> str | None:
        """The official Jinja chat template of a Qwen2+ family member (None for others)."""
        member = MEMBERS.get(self.spec.family)
        return template.template_text(member.chat_template) if member else None

    # --- decoding ----------------------------------------------------------------------------
    def _as_ids(self, ids, func: str) -> list[int]:
        """Check decode input once, above every engine, and return it as a list of ints.

        Accepted: a list, tuple, range or ``array.array`` of integers (Python ints or numpy
        integer scalars), or a 1-D integer array (numpy, torch). Refused: bools, floats,
        strings, generators and other one-pass iterables (pass ``list(...)``), ids outside the
        vocabulary or unassigned.
        """
        if type(ids) is list:
            items = ids
        elif isinstance(ids, (tuple, range, array.array)):
            items = list(ids)
        elif hasattr(ids, "dtype") and hasattr(ids, "tolist"):
            shape = tuple(getattr(ids, "shape", ()))
            if len(shape) != 1:
                raise TypeError(f"{func}() takes a 1-D array of ids, got an array of shape {shape}")
            items = ids.tolist()  # float or bool arrays give floats or bools, refused below
        elif isinstance(ids, (str, bytes, bytearray)) or not isinstance(ids, Sequence):
            hint = "; pass list(...)" if isinstance(ids, Iterable) and not isinstance(ids, (str, bytes, bytearray)) else ""
            raise TypeError(f"{func}() takes a sequence of int ids (a list or a 1-D integer array), "
                            f"got {type(ids).__name__}{hint}")
        else:
            items = list(ids)
        if not all(type(t) is int for t in items):
            items = [self._one_id(t, pos) for pos, t in enumerate(items)]
        if items:
            n = self.n_vocab
            if min(items) < 0 or max(items) >= n:
                pos, t = next((p, t) for p, t in enumerate(items) if not 0 <= t < n)
                raise ValueError(f"token id {t} at position {pos} is outside the vocabulary of "
                                 f"{self.name}: valid ids are in [0, {n})")
            if self._unassigned and not self._unassigned.isdisjoint(items):
                pos, t = next((p, t) for p, t in enumerate(items) if t in self._unassigned)
                raise ValueError(f"token id {t} at position {pos} is not assigned in {self.name}")
        return items

    def _one_id(self, t, pos: int) -> int:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise ValueError(f"token id at position {pos} is {t!r} ({type(t).__name__}), not an "
                             f"integer; ids are integers in [0, {self.n_vocab})")
        return operator.index(t)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes the ids stand for (special tokens as their text).

        >>> get_tokenizer("qwen").decode_bytes([14990, 1879])
        b'hello world'
        """
        return self.engine.decode_bytes(self._as_ids(ids, "decode_bytes"))

    def decode(self, ids: Sequence[int], errors: str = "replace", *,
               skip_special_tokens: bool = False) -> str:
        """Decode ids into a string. Bytes that are not valid UTF-8 (a token sequence cut inside
        a character) follow ``errors``: "replace" (U+FFFD, the default), "strict" (raise
        UnicodeDecodeError) or "ignore". ``skip_special_tokens`` drops special tokens as the
        official tokenizer does: every added token for Qwen-1; for the Qwen2+ family only those
        marked special (``<tool_call>``, ``<think>``, the FIM tokens are kept).

        >>> get_tokenizer("qwen").decode([151643])
        '<|endoftext|>'
        >>> get_tokenizer("qwen3").decode([151644, 151667, 6023, 151645], skip_special_tokens=True)
        '<think>hi'
        """
        if errors not in ("replace", "strict", "ignore"):
            raise ValueError(f"errors must be 'replace', 'strict' or 'ignore', not {errors!r}")
        ids = self._as_ids(ids, "decode")
        if skip_special_tokens:
            ids = [i for i in ids if i not in self._skipped]
        return self.engine.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one id.

        >>> get_tokenizer("qwen").decode_single_token_bytes(14990)
        b'hello'
        """
        (t,) = self._as_ids([token], "decode_single_token_bytes")
        return self.engine.decode_single_token_bytes(t)

    def decode_tokens_bytes(self, ids: Sequence[int]) -> list[bytes]:
        """The bytes of each id.

        >>> get_tokenizer("qwen").decode_tokens_bytes([14990, 1879])
        [b'hello', b' world']
        """
        single = self.engine.decode_single_token_bytes
        return [single(t) for t in self._as_ids(ids, "decode_tokens_bytes")]

    def decode_stream(self, errors: str = "replace") -> StreamDecoder:
        """A ``StreamDecoder``: feed it ids as they come, get back only complete text.

        >>> stream = get_tokenizer("qwen").decode_stream()
        >>> "".join(stream.feed(i) for i in get_tokenizer("qwen").encode("价格 42 元")) + stream.flush()
        '价格 42 元'
        """
        return StreamDecoder(self, errors=errors)

    def decode_with_offsets(self, ids: Sequence[int]) -> tuple[str, list[int]]:
        """The text and, for each token, the character index where it starts (a token that
        starts inside a character gets that character's index), as tiktoken's method of the
        same name. The ids must decode to valid UTF-8 (else ``UnicodeDecodeError``).

        >>> get_tokenizer("qwen").decode_with_offsets([14990, 1879])
        ('hello world', [0, 5])
        """
        tokens = self.decode_tokens_bytes(ids)
        data = b"".join(tokens)
        text = data.decode("utf-8", errors="strict")
        return text, [start for start, _ in char_spans(tokens)]

    # --- offsets and budgets -----------------------------------------------------------------
    def _allowed_in(self, kwargs) -> frozenset[str]:
        """The specials ``encode(text, **kwargs)`` would allow (its arguments checked there)."""
        if not self._split_first:
            return frozenset()
        return self._policy(kwargs.get("allowed_special", _DEFAULT), kwargs.get("disallowed_special", ()))[0]

    def encode_with_offsets(self, text: str, **kwargs) -> tuple[list[int], list[tuple[int, int]]]:
        """``encode``'s ids and each token's character span ``(start, end)`` in ``text``.

        A token that begins or ends inside a character (byte-level BPE splits multi-byte
        characters) gets the span of the whole character, so the spans tile the text in order,
        neighbours sharing a split character. With ``compat="hf"`` the spans index the
        NFC-normalized text, which is what is encoded; a lone surrogate counts as the U+FFFD it
        is encoded as.

        >>> get_tokenizer("qwen").encode_with_offsets("hi 元")
        ([6023, 34369, 225], [(0, 2), (2, 4), (3, 4)])
        """
        text = replace_surrogates(self._prepare(text, "encode_with_offsets", self._allowed_in(kwargs)))
        ids = self.encode(text, **kwargs)
        # Token bytes one at a time (no list of them): the spans are the only thing kept.
        return ids, char_spans(map(self.engine.decode_single_token_bytes, ids))

    def truncate(self, text: str, max_tokens: int, **kwargs) -> str:
        """The text of the first ``max_tokens`` ids of ``encode(text, **kwargs)``: what a model
        sees when its input ids are cut to a budget. A cut inside a character (byte-level tokens
        split them) moves back to where that character starts, so no character is ever halved;
        a text that fits is returned whole. (Encoding the result on its own can give other ids
        at its end: BPE merges across the cut.) With ``compat="hf"`` it is a prefix of the
        NFC-normalized text, lone surrogates become U+FFFD, as ``encode`` treats them.

        >>> tok = get_tokenizer("qwen")
        >>> tok.truncate("hello world, again", 2)
        'hello world'
        >>> tok.encode("价格 元"), tok.truncate("价格 元", 2)   # " 元" is 2 tokens: 元 is not halved
        ([97480, 34369, 225], '价格 ')
        """
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise ValueError(f"max_tokens must be an int >= 0, got {max_tokens!r}")
        text = self._prepare(text, "truncate", self._allowed_in(kwargs))
        ids = self.encode(text, **kwargs)
        if len(ids) <= max_tokens:
            return text
        data = b"".join(self.decode_tokens_bytes(ids[:max_tokens]))
        # At most 3 bytes of a character can hang over the cut: drop them.
        for drop in range(4):
            try:
                return data[:len(data) - drop].decode("utf-8")
            except UnicodeDecodeError:
                continue
        raise AssertionError("a cut UTF-8 text lost more than 3 bytes")  # ids decode to UTF-8

    # --- looking inside ----------------------------------------------------------------------
    def explain(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = _DEFAULT,  # type: ignore[assignment]
        disallowed_special: Literal["all"] | Collection[str] = (),
    ) -> list[Piece]:
        """How a text is tokenized: each pre-tokenized piece (or special token) with its ids.
        Takes ``encode``'s arguments and gives exactly ``encode``'s ids, in pieces.

        >>> [(p.text, p.ids) for p in get_tokenizer("qwen").explain("Hi 42")]
        [('Hi', (13048,)), (' ', (220,)), ('4', (19,)), ('2', (17,))]
        """
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        text = replace_surrogates(self._prepare(text, "explain", allowed))
        if disallowed:
            self._check_disallowed(text, disallowed)
        out: list[Piece] = []
        find_pieces = piece_finder(compile_portable(self.spec.pat_str))
        for segment, is_special in split_specials(text, allowed):
            if is_special:
                t = self.spec.special_tokens[segment]
                out.append(Piece(segment, (t,), (segment.encode(),), special=True))
                continue
            pieces = find_pieces(segment)
            # One engine call for all pieces of the segment; each piece is encoded alone, which is
            # what every engine does inside encode().
            for piece, ids in zip(pieces, self.engine.encode_batch(pieces, frozenset(), 1)):
                out.append(Piece(piece, tuple(ids), tuple(self.decode_tokens_bytes(ids))))
        return out


def get_tokenizer(name="qwen", engine: str | None = None, compat: str | None = None) -> Tokenizer:
    """A tokenizer by encoding name (``qwen``, ``qwen2``, ``qwen2.5``, ``qwen3``, ``qwen3.5``,
    ``cl100k_base``; see ``qtok.list_encodings()``), Hugging Face model id of the Qwen family
    (``Qwen/Qwen3-8B``) or ``.tiktoken`` file path.

    ``engine``: ``"fast"`` (fastokens, the default where it is installed), ``"tiktoken"`` (the
    default elsewhere) or ``"reference"`` (pure Python); see ``qtok.engines()``. Named
    tokenizers are built once per process, under a lock, and shared; asking again costs a dict
    lookup. With the default engine, tiktoken (identical ids) answers until fastokens, slower to
    build, would pay for itself (see ``engine.StandIn``).

    >>> get_tokenizer("cl100k_base").encode("hello world")
    [15339, 1917]
    """
    try:
        return _BY_ARGS[name, engine, compat]
    except (KeyError, TypeError):  # not built yet, or an unhashable name (refused below)
        pass
    given, canonical = name, canonical_name(name)
    if canonical is None:
        return Tokenizer(get_spec(name), engine=engine, compat=compat)
    name = canonical  # a model id shares its member's tokenizer
    key = (name, engine or default_engine(), compat)
    tok = _NAMED.get(key)
    if tok is None:
        # Many threads asking for one tokenizer build it once; different tokenizers build in
        # parallel (the engines' builds release the GIL).
        with _lock(key):
            tok = _NAMED.get(key)
            if tok is None:
                tok = _NAMED[key] = Tokenizer(named_spec(name), engine=engine, compat=compat)
    if engine is not None:
        tok._full_engine()  # asked for by name: that engine, not a stand-in
    _BY_ARGS[given, engine, compat] = tok
    return tok


_NAMED: dict[tuple, Tokenizer] = {}  # (name, engine, compat) -> the one tokenizer built
_BY_ARGS: dict[tuple, Tokenizer] = {}  # get_tokenizer's arguments as given -> the same tokenizers
_SPECS: dict[str, EncodingSpec] = {}
_LOCKS: dict[tuple, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def named_spec(name: str) -> EncodingSpec:
    """The spec of a named encoding (``qtok.list_encodings()``), read once per process and shared
    with ``get_tokenizer``: what needs only the table (``qtok.tally``) skips building an engine."""
    with _lock((name,)):
        if name not in _SPECS:
            _SPECS[name] = get_spec(name)
    return _SPECS[name]


def _lock(key: tuple) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(key, threading.Lock())
