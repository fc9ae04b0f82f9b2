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

import atexit
import importlib
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ..encodings import EncodingSpec


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

    # Optional: ``fast_path() -> (function, attr)``, the library's own function that gives
    # ``encode_ordinary(text)`` as ``function(text)`` (or its ``.attr``), raising
    # UnicodeEncodeError on a lone surrogate. ``tok.encode(text)`` calls it with nothing between.


def fast_path(engine: Engine) -> tuple[Callable[[str], object], str | None]:
    """The function ``tok.encode(text)`` calls directly, and the attribute of its result that
    holds the ids (None: the result is the list)."""
    path = getattr(engine, "fast_path", None)
    return path() if path is not None else (engine.encode_ordinary, None)


# name -> "module:Class", imported on first use so that a missing optional dependency costs
# nothing until that engine is asked for.
_BUILTIN = {
    "fast": "qtok.engine.fast:FastokensEngine",
    "tiktoken": "qtok.engine.tiktoken:TiktokenEngine",
    "reference": "qtok.engine.reference:ReferenceEngine",
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
    ``fastokens`` has no wheel). Decided once per process: it is on every ``get_tokenizer()``
    path, and asking each engine its version (``engines()``) is a report, not a decision."""
    global _DEFAULT
    if _DEFAULT is None:
        for name in _BUILTIN:
            try:
                engine_class(name)
            except EngineUnavailable:
                continue
            _DEFAULT = name
            break
    return _DEFAULT


_DEFAULT: str | None = None


class StandIn:
    """An engine that is quick to build (``stand_in``) answering for one that is slow to build
    (``cls``) but faster. Once a process has encoded ``BUDGET`` characters through it, ``cls``
    is built in a background thread while the stand-in keeps answering, then handed to
    ``on_built`` (the tokenizer swaps it in): no call waits for the build. Both engines give the
    same ids, so callers see only the speed change.

    A process that encodes less never pays the build's memory (fastokens: ~150 MB), and no call
    ever waits for a build (one of 8 M characters used to build first: a 1.6 s call). With one
    CPU there is nowhere to build and the stand-in answers for good. The build thread is joined
    at exit (a native build unwound during interpreter shutdown can abort the process); a forked
    child starts over with the stand-in.
    """

    # Characters: ~0.1 s of tiktoken's work. Below it a build is not worth its memory.
    BUDGET = 1 << 20

    def __init__(self, spec: EncodingSpec, cls: Callable[[EncodingSpec], Engine],
                 stand_in: Callable[[EncodingSpec], Engine], on_built: Callable[[Engine], None]):
        self.spec = spec
        self._cls, self._on_built = cls, on_built
        self._engine = stand_in(spec)
        self._spent = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        _STAND_INS.add(self)
        self.on_change: Callable[[], None] | None = None  # told when fast_path() changes
        self.build_error: BaseException | None = None
        self.decode_bytes = self._engine.decode_bytes
        self.decode_single_token_bytes = self._engine.decode_single_token_bytes

    def backend(self) -> str:
        mine = getattr(self._engine, "backend", lambda: "stand-in")()
        if not self.counting and self._thread is None:
            return f"{mine}, answering for the faster engine (one CPU: no core to build it on)"
        when = "being built" if self._thread is not None else f"built after {self.BUDGET >> 20} M characters"
        return f"{mine}, standing in while the faster engine is {when}"

    def build(self) -> Engine:
        """Build the slow engine now (once, however many threads ask) and hand it over."""
        with self._lock:
            if self.build_error is not None:
                raise self.build_error
            engine = getattr(self, "_built", None)
            if engine is None:
                try:
                    engine = self._built = self._cls(self.spec)
                except Exception as e:
                    self.build_error = e
                    raise
        self._on_built(engine)
        return engine

    def _charge(self, n: int) -> Engine:
        self._spent += n
        if self._spent < self.BUDGET or self.build_error is not None:
            return self._engine
        self._start_build()
        return self._engine

    def _start_build(self) -> None:
        # With one CPU the build could only run on the callers' time: a thread at the lowest
        # priority never finished in a run that kept the core busy, and its waiting for the GIL
        # made tiktoken's short calls up to 2x slower (benchmarks/peers.py --taskset 1). There
        # the stand-in answers for good (engine="fast" by name builds the faster one).
        if usable_cpus() > 1:
            with _BUILDS_LOCK:
                if self._thread is not None:
                    return
                thread = self._thread = threading.Thread(target=self._build_quietly, name="qtok-build", daemon=True)
                _BUILDS.append(thread)
            thread.start()
        # Nothing more to count: calls go straight to the stand-in until the swap (a short call
        # costs the stand-in's time and one attribute lookup, not a method of this class).
        for name in ("encode_ordinary", "encode", "encode_batch"):
            setattr(self, name, getattr(self._engine, name))
        if self.on_change is not None:
            self.on_change()

    @property
    def counting(self) -> bool:
        """Whether calls are still counted (``_start_build`` replaces the counting methods)."""
        return "encode_ordinary" not in self.__dict__

    def fast_path(self):
        # While counting, the stand-in's library goes as it is, for as many characters as
        # lend() gives: the caller reports them to spend().
        return fast_path(self._engine)

    def lend(self) -> int:
        """How many characters may be encoded without this stand-in (then ``spend`` them);
        -1 once the build started (nothing left to count)."""
        return max(0, self.BUDGET - self._spent) if self.counting else -1

    def spend(self, n: int) -> None:
        self._spent += n

    def _after_fork(self) -> None:
        """In a forked child: the build thread is not there, and its lock may be held."""
        self._lock = threading.Lock()
        if getattr(self, "_built", None) is None:
            self._thread = None
            for name in ("encode_ordinary", "encode", "encode_batch"):
                self.__dict__.pop(name, None)
            if self.on_change is not None:
                self.on_change()

    def _build_quietly(self) -> None:
        # At the lowest CPU priority (Linux: a thread is a task of its own): on a busy single
        # core the callers' encoding goes first and the build takes what is left, so no call is
        # slower than the stand-in; with a core to spare, it runs there at full speed.
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):  # not Linux: an ordinary thread
            pass
        try:
            self.build()
        except Exception:  # noqa: BLE001 - build_error keeps it; the stand-in keeps answering
            pass

    def encode_ordinary(self, text: str) -> list[int]:
        # Short calls while counting come through tok.encode's Call, on the characters lend()
        # gives it; this is the path of the Python method (and of builds without qtok._call).
        return self._charge(len(text)).encode_ordinary(text)

    def encode(self, text: str, allowed_special: frozenset[str]) -> list[int]:
        return self._charge(len(text)).encode(text, allowed_special)

    def encode_batch(self, texts: list[str], allowed_special: frozenset[str],
                     num_threads: int) -> list[list[int]]:
        return self._charge(sum(map(len, texts))).encode_batch(texts, allowed_special, num_threads)

    def encode_batch_flat(self, texts: list[str], allowed_special: frozenset[str]):
        flat = getattr(self._charge(sum(map(len, texts))), "encode_batch_flat", None)
        return flat(texts, allowed_special) if flat else None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# Build threads started by stand-ins, joined at exit so no native build is cut by shutdown.
_BUILDS: list[threading.Thread] = []
_BUILDS_LOCK = threading.Lock()
_STAND_INS: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _BUILDS_LOCK
    _BUILDS_LOCK = threading.Lock()
    _BUILDS.clear()
    for stand_in in list(_STAND_INS):
        stand_in._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _join_builds() -> None:
    for thread in _BUILDS:
        thread.join(timeout=30)


def decode_with_table(table: Sequence[bytes | None], ids: list[int]) -> bytes:
    """``b"".join`` of each id's bytes: engines whose library cannot return bytes decode here."""
    return b"".join(map(table.__getitem__, ids))
