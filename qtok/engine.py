"""What an engine is, and which engines exist.

An engine turns text into ids and ids into bytes for one ``EncodingSpec``; nothing else. Policy
(special tokens, NFC, lone surrogates, checking ids) lives in ``core.Tokenizer``, above every
engine, so all engines behave identically. A new engine is a module with a class that satisfies
``Engine`` plus one line in ``_BUILTIN`` below (or ``register_engine`` from outside qtok);
``core.py`` does not change.

>>> "reference" in engines() and "tiktoken" in engines()
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from .encodings import EncodingSpec


@runtime_checkable
class Engine(Protocol):
    """The interface ``core.Tokenizer`` drives. Every method may assume its input was checked:
    ``text`` is a ``str`` (it may hold lone surrogates; raise ``UnicodeEncodeError`` and the
    caller retries with them replaced), ``allowed_special`` names only the spec's special tokens,
    and ``ids`` is a list of assigned ids."""

    spec: EncodingSpec

    def encode_ordinary(self, text: str) -> list[int]:
        """Ids with every special-token text treated as plain text."""

    def encode(self, text: str, allowed_special: frozenset[str]) -> list[int]:
        """Ids with the texts in ``allowed_special`` encoded as their special ids."""

    def encode_batch(self, texts: list[str], allowed_special: frozenset[str],
                     num_threads: int) -> list[list[int]]:
        """``[encode(t, allowed_special) for t in texts]``, in parallel where the engine can."""

    def decode_bytes(self, ids: list[int]) -> bytes:
        """The bytes of the ids, special tokens as their text."""

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one id."""


# name -> "module:Class", imported on first use so that a missing optional dependency costs
# nothing until that engine is asked for.
_BUILTIN = {
    "fast": "qtok.fast:FastokensEngine",
    "tiktoken": "qtok.tiktoken_engine:TiktokenEngine",
    "reference": "qtok.reference:ReferenceEngine",
}
_REGISTERED: dict[str, Callable[[EncodingSpec], Engine]] = {}


class EngineUnavailable(ImportError):
    """The engine's library is not installed (or has no build for this platform)."""


def register_engine(name: str, factory: Callable[[EncodingSpec], Engine]) -> None:
    """Make ``get_tokenizer(..., engine=name)`` build ``factory(spec)``."""
    if not name or not isinstance(name, str):
        raise ValueError("an engine name is a non-empty str")
    _REGISTERED[name] = factory


def engine_class(name: str) -> Callable[[EncodingSpec], Engine]:
    """The factory of engine ``name``; ``EngineUnavailable`` says how to install what it needs."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise ValueError(f"unknown engine {name!r}: use one of {names()}")
    module, cls = _BUILTIN[name].split(":")
    return getattr(importlib.import_module(module), cls)


def names() -> list[str]:
    return list(_BUILTIN) + [n for n in _REGISTERED if n not in _BUILTIN]


def engines() -> dict[str, str]:
    """Each engine that can run here, with what runs it (``{name: "library version"}``), in
    order of preference; the first is the default.

    >>> list(engines())[-1]
    'reference'
    """
    out = {}
    for name in names():
        try:
            cls = engine_class(name)
        except EngineUnavailable:
            continue
        out[name] = getattr(cls, "backend", lambda: name)()
    return out


def default_engine() -> str:
    """``fast`` where ``fastokens`` imports, else ``tiktoken`` (e.g. on Linux aarch64, where
    ``fastokens`` has no wheel)."""
    return next(iter(engines()))


def decode_with_table(table: Sequence[bytes | None], ids: list[int]) -> bytes:
    """``b"".join`` of each id's bytes: engines whose library cannot return bytes decode here."""
    return b"".join(map(table.__getitem__, ids))
