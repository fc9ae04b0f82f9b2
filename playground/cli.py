"""``qtok serve`` and ``python -m qtok.playground``: the playground's command line.

``add_command`` is qtok's command-line plugin (entry point group ``qtok.commands`` in
pyproject.toml): qtok's CLI calls it with its subparsers, so ``qtok serve`` is listed by
``qtok --help`` while the tokenizer package never imports the playground.
"""

from __future__ import annotations

import argparse
import sys


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    p.add_argument("--tokenizers", help="comma-separated, any name the study takes: the Qwen family (qwen ... "
                   "qwen3.5, or a model id such as Qwen/Qwen3-8B), cl100k_base, xlm-r, o200k_base, deepseek-v4, "
                   "tekken, NAME=PATH (.tiktoken, tokenizer.json, .model); default: the study's "
                   "(qwen,cl100k_base,xlm-r)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def add_command(sub) -> None:
    """Add ``serve`` to qtok's subcommands (the ``qtok.commands`` entry point)."""
    p = sub.add_parser("serve", help="a local token playground in the browser")
    _options(p)
    p.set_defaults(func=run, plugin=True)


def run(args) -> None:
    """Serve until Ctrl-C; a playground that cannot start is a ``ServeError`` (one line)."""
    # Imported here, not above: `qtok` loads this module to list `serve` in its help, and the
    # server brings the study's tokenizers (numpy, sentencepiece, tokenizers) with it.
    from qtok.progress import Status, missing_extra

    try:
        from .server import ServeError, serve
    except ImportError as e:  # numpy, tokenizers, sentencepiece: the study's [analysis] extra
        raise ImportError(missing_extra("qtok serve", e, "analysis").split(": error: ", 1)[1]) from None

    if not 0 <= args.port <= 65535:
        raise ServeError(f"--port must be 0..65535, got {args.port}")
    try:
        serve(args.host, args.port, args.tokenizers, status=Status("qtok serve", quiet=args.quiet))
    except KeyboardInterrupt:
        print("qtok serve: stopped", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qtok.playground", description="A local token playground.")
    _options(p)
    args = p.parse_args(argv)
    try:
        run(args)
    except (ValueError, ImportError) as e:  # ServeError, or the study's extra not installed

        print(f"playground: error: {e}", file=sys.stderr)
        return 2
    return 0
