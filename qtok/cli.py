"""The ``qtok`` command: encode, decode, count, explain (and train, see qtok/train.py).

    qtok encode "hello world"          qtok encode - < file.txt
    qtok decode 14990 1879             qtok count README.md --json
    qtok explain "价格是 42 元"         qtok count --chat conversation.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .core import get_tokenizer
from .engine import names as engine_names

# Background colours that alternate between pieces, as on tiktokenizer-style viewers.
_COLOURS = ["\x1b[48;5;153m", "\x1b[48;5;223m", "\x1b[48;5;194m", "\x1b[48;5;225m", "\x1b[48;5;230m"]
_RESET = "\x1b[0m"


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def read_text(path: str, errors: str = "strict") -> str:
    """A file's text (``-`` is stdin), with invalid UTF-8 reported by file and byte offset."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise CLIError(
            f"{'stdin' if path == '-' else path} is not valid UTF-8 at byte offset {e.start}; "
            "convert it to UTF-8 first"
        ) from None


def _parse_ids(words: list[str]) -> list[int]:
    ids = []
    for word in " ".join(words).replace(",", " ").replace("[", " ").replace("]", " ").split():
        try:
            ids.append(int(word))
        except ValueError:
            raise CLIError(f"{word!r} is not a token id; give integers, e.g. qtok decode 14990 1879") from None
    return ids


def cmd_encode(tok, args) -> None:
    text = read_text("-") if args.text in (None, "-") else args.text
    ids = tok.encode(text, allowed_special="all" if args.allow_special else ())
    print(json.dumps(ids) if args.json else " ".join(map(str, ids)))


def cmd_decode(tok, args) -> None:
    ids = _parse_ids(args.ids if args.ids and args.ids != ["-"] else [sys.stdin.read()])
    text = tok.decode(ids, errors=args.errors)
    if args.json:
        print(json.dumps({"text": text, "tokens": [b.decode("utf-8", "replace") for b in tok.decode_tokens_bytes(ids)]},
                         ensure_ascii=False))
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


def cmd_count(tok, args) -> None:
    rows = []
    for path in args.files:
        text = read_text(path)
        if args.chat:
            try:
                messages = json.loads(text)
            except ValueError as e:
                raise CLIError(f"{path} is not JSON ({e}); --chat takes a list of {{role, content}}") from None
            n_tokens = len(tok.encode_chat(messages, max_window_size=args.max_window_size))
        else:
            n_tokens = tok.count(text)
        n_bytes = len(text.encode("utf-8"))
        rows.append({"file": path, "tokens": n_tokens, "bytes": n_bytes})
    if len(rows) > 1:
        rows.append({"file": "total", "tokens": sum(r["tokens"] for r in rows),
                     "bytes": sum(r["bytes"] for r in rows)})
    for r in rows:
        r["bytes_per_token"] = round(r["bytes"] / r["tokens"], 4) if r["tokens"] else None
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    width = max(len(r["file"]) for r in rows)
    print(f"{'file':<{width}}  {'tokens':>10}  {'bytes':>10}  bytes/token")
    for r in rows:
        bpt = "-" if r["bytes_per_token"] is None else f"{r['bytes_per_token']:.3f}"
        print(f"{r['file']:<{width}}  {r['tokens']:>10}  {r['bytes']:>10}  {bpt:>11}")


def _show(token: bytes) -> str:
    """A token as text when it is whole UTF-8, else as bytes (a character split across tokens)."""
    try:
        return repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(token)


def cmd_explain(tok, args) -> None:
    text = read_text("-") if args.text in (None, "-") else args.text
    pieces = tok.explain(text, allowed_special="all" if args.allow_special else ())
    if args.json:
        print(json.dumps([{"piece": p.text, "ids": list(p.ids), "special": p.special,
                           "tokens": [b.decode("utf-8", "backslashreplace") for b in p.tokens]}
                          for p in pieces], ensure_ascii=False))
        return
    if sys.stdout.isatty():
        print("".join(f"{_COLOURS[i % len(_COLOURS)]}\x1b[30m{p.text}{_RESET}" for i, p in enumerate(pieces)))
    steps_of = get_tokenizer(args.encoding, engine="reference").engine.merge_steps if args.steps else None
    for p in pieces:
        print(f"{p.text!r:<24} {' '.join(map(str, p.ids)):<24} {' | '.join(map(_show, p.tokens))}")
        if steps_of and not p.special and len(p.text.encode()) > 1:
            for state in steps_of(p.text):
                print(f"{'':<28}{' '.join(map(_show, state))}")
    print(f"{len(pieces)} pieces, {sum(len(p.ids) for p in pieces)} tokens")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--encoding", default="qwen",
                        help="qwen (default), cl100k_base, or a .tiktoken file")
    common.add_argument("--engine", default=None, choices=engine_names(),
                        help="fast (default where fastokens is installed), tiktoken, reference")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(prog="qtok", description="Qwen's tokenizer, standalone.",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encode", parents=[common], help="text -> ids")
    p.add_argument("text", nargs="?", help="the text, or - (default) for stdin")
    p.add_argument("--allow-special", action="store_true",
                   help="encode special-token text (<|endoftext|>) as special tokens")
    p.set_defaults(func=cmd_encode)
    p = sub.add_parser("decode", parents=[common], help="ids -> text")
    p.add_argument("ids", nargs="*", help="ids (spaces or commas), or - / nothing for stdin")
    p.add_argument("--errors", default="replace", choices=["replace", "strict", "ignore"])
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("count", parents=[common], help="tokens, bytes and bytes/token per file")
    p.add_argument("files", nargs="+", help="files, or - for stdin")
    p.add_argument("--chat", action="store_true",
                   help="each file is a JSON list of {role, content}: count Qwen-Chat's prompt")
    p.add_argument("--max-window-size", type=int,
                   help="with --chat: drop old turns as Qwen-Chat's make_context does (it uses 6144)")
    p.set_defaults(func=cmd_count)
    p = sub.add_parser("explain", parents=[common], help="show the pieces and their ids")
    p.add_argument("text", nargs="?", help="the text, or - (default) for stdin")
    p.add_argument("--allow-special", action="store_true")
    p.add_argument("--steps", action="store_true", help="also show each BPE merge of each piece")
    p.set_defaults(func=cmd_explain)
    from .train import add_train_parser

    add_train_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            args.func(args)
        else:
            args.func(get_tokenizer(args.encoding, engine=args.engine), args)
    except (CLIError, ValueError, TypeError, OSError, UnicodeError) as e:
        print(f"qtok: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
