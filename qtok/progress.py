"""What a long command tells its user while it works: status lines and bars on stderr, and the
wall time since the process started (the time a stopwatch would show, imports included).

Data goes to stdout, progress to stderr, so ``cmd > out.txt`` and ``cmd | head`` get only data.
Status lines are printed unless the command was asked to be quiet; bars (tqdm) appear only on a
terminal (``disable=None``) and never in a pipe or a log.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tqdm import tqdm

# Fallback origin where the process's start time cannot be read: the import of this module,
# which the commands do first.
_IMPORTED = time.perf_counter()


def process_seconds() -> float:
    """Wall seconds since this process started (Linux: from the kernel's start time, so the
    interpreter's start and every import count; elsewhere: since qtok.progress was imported).

    >>> 0 < process_seconds() < 86400 * 365
    True
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            # Field 22 (starttime, clock ticks after boot); the command name in field 2 may hold
            # spaces, so count from its closing parenthesis.
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


class Status:
    """One line per step on stderr (``loading tokenizers…``), silent when ``quiet``.

    >>> Status(quiet=True)("loading")  # prints nothing
    """

    def __init__(self, prog: str = "qtok", quiet: bool = False):
        self.prog, self.quiet = prog, quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"{self.prog}: {message}", file=sys.stderr, flush=True)

    def bar(self, iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it",
            show: bool | None = None):
        """A tqdm bar on stderr: on a terminal only (``show=None``), always (``True``) or never
        (``False``, or when quiet)."""
        disable = True if self.quiet or show is False else (None if show is None else False)
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, disable=disable,
                    leave=False)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit 2), naming the
    problem and, for a bad choice, the valid ones: argparse prints its whole usage first, 13
    lines in which the one that matters is last. ``--help`` still prints the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def reader_gone() -> int:
    """A command's exit status when its reader closed the pipe (``... | head``): a normal end for
    a command-line tool. stdout is pointed at devnull so the interpreter's last flush does not
    fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def missing_extra(prog: str, error: ImportError, extra: str) -> str:
    """The one line a command says when a package of one of qtok's extras is not installed:
    which module is missing and what to install (``pip install 'qtok[analysis]'``)."""
    name = (getattr(error, "name", None) or str(error)).split(".")[0]
    return f"{prog}: error: {name} is not installed; {prog} needs pip install 'qtok[{extra}]'"


def import_for(module: str, prog: str, extra: str, main: bool):
    """``import module`` for a command: run as a program (``main``), a missing package ends it
    with ``missing_extra``'s one line and exit status 2; imported, the ImportError propagates."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        if not main:
            raise
        print(missing_extra(prog, e, extra), file=sys.stderr)
        raise SystemExit(2) from None


def names_needing(package: str, names, error: ImportError, what: str, extra: str):
    """The ``__getattr__`` of a package whose imports failed for want of an extra (it still
    imports, so its command can say in one line what to install): each of its public ``names``
    raises an ImportError that says it ("torch is not installed; the model needs pip install
    'qtok[model]'")."""
    why = f"{error.name or error} is not installed; {what} needs pip install 'qtok[{extra}]'"

    def __getattr__(name: str):
        if name in names:
            raise ImportError(why)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
