"""The ``qtok`` command: encode, decode, count, explain, train, export (and ``serve``, added by
the playground package through the ``qtok.commands`` entry point).

    qtok encode "hello world"          qtok encode - < file.txt
    qtok decode 14990 1879             qtok count README.md --json
    qtok explain "价格是 42 元"         qtok count --chat conversation.json
    qtok train --corpus DIR --new-tokens 5000 --out mine.tiktoken
    qtok export hf DIR [--encoding qwen] [--compat hf|safe]

Options that choose the tokenizer (--encoding, --engine, --compat) and --json may stand before or
after the subcommand and mean the same in both places.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path

from . import __version__
from .core import get_tokenizer, parse_compat
from .encodings import get_spec, is_multi_digit
from .engine import names as engine_names
from .engine.check import check_pattern
from .export import export_hf
from .progress import OneLineParser, Status, reader_gone
from .parity import learn_parity, parse_objective
from .train import (
    corpus_files,
    count_corpus_pieces,
    count_pieces,
    extend_counts,
    language_files,
    prepare_base,
    write_extension,
)

# Background colours that alternate between pieces, as on tiktokenizer-style viewers.
_COLOURS = ["\x1b[48;5;153m", "\x1b[48;5;223m", "\x1b[48;5;194m", "\x1b[48;5;225m", "\x1b[48;5;230m"]
_RESET = "\x1b[0m"


# --steps prints one line per merge of each piece: quadratic output in the piece's length.
MAX_STEPS_PIECE = 512


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


def text_arg(value: str | None) -> str:
    """A text given on the command line, or stdin for ``-``/nothing: one rule for invalid UTF-8
    wherever it comes from (Python hands undecodable argv bytes over as lone surrogates)."""
    if value in (None, "-"):
        return read_text("-")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CLIError(f"the text argument is not valid UTF-8 at character {e.start}; "
                       "convert it to UTF-8 first") from None
    return value


def _special_policy(args) -> dict:
    # --allow-special opts in; otherwise the tokenizer's own default (safe, or all with --compat hf).
    return {"allowed_special": "all"} if args.allow_special else {}


def cmd_encode(tok, args) -> None:
    text = text_arg(args.text)
    ids = tok.encode(text, **_special_policy(args))
    print(json.dumps(ids) if args.json else " ".join(map(str, ids)))


def cmd_decode(tok, args) -> None:
    ids = _parse_ids(args.ids if args.ids and args.ids != ["-"] else [sys.stdin.read()])
    text = tok.decode(ids, errors=args.errors)
    if args.json:
        print(json.dumps({"text": text, "tokens": [b.decode("utf-8", "replace") for b in tok.decode_tokens_bytes(ids)]},
                         ensure_ascii=False))
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


def _count_inputs(words: list[str]) -> list[tuple[str, str]]:
    """``(label, text)`` of each input of ``qtok count``: a file that exists is read; nothing or
    ``-`` is stdin; anything else is the text itself, unless it looks like a file name (no space,
    with a ``/`` or an extension), which is a missing file, not two or three tokens of text."""
    if not words or words == ["-"]:
        return [("stdin", read_text("-"))]
    out = []
    for word in words:
        if word == "-" or Path(word).is_file():
            out.append(("stdin" if word == "-" else word, read_text(word)))
        elif Path(word).exists():
            raise CLIError(f"cannot read {word}: it is a directory; give files (e.g. {word}/*.txt)")
        elif not any(c.isspace() for c in word) and ("/" in word or Path(word).suffix[1:].isalnum()):
            raise CLIError(f"cannot read {word}: no such file (to count it as text, pipe it: echo {word!r} | qtok count)")
        else:
            out.append(("text", text_arg(word)))
    return out


def cmd_count(tok, args) -> None:
    rows = []
    for path, text in _count_inputs(args.inputs):
        if args.chat:
            try:
                messages = json.loads(text)
            except (ValueError, RecursionError) as e:
                reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
                raise CLIError(f"{path} is not JSON ({reason}); --chat takes a list of {{role, content}}") from None
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
    text = text_arg(args.text)
    pieces = tok.explain(text, **_special_policy(args))
    if args.json:
        print(json.dumps([{"piece": p.text, "ids": list(p.ids), "special": p.special,
                           "tokens": [b.decode("utf-8", "backslashreplace") for b in p.tokens]}
                          for p in pieces], ensure_ascii=False))
        return
    if sys.stdout.isatty():
        print("".join(f"{_COLOURS[i % len(_COLOURS)]}\x1b[30m{p.text}{_RESET}" for i, p in enumerate(pieces)))
    steps_of = get_tokenizer(args.encoding, engine="reference").engine.merge_steps if args.steps else None
    if steps_of and max((len(p.text.encode()) for p in pieces), default=0) > MAX_STEPS_PIECE:
        raise CLIError(f"--steps shows every merge of each piece, which for a piece over "
                       f"{MAX_STEPS_PIECE} bytes is more output than anyone can read; "
                       "drop --steps or explain a shorter text")
    for p in pieces:
        print(f"{p.text!r:<24} {' '.join(map(str, p.ids)):<24} {' | '.join(map(_show, p.tokens))}")
        if steps_of and not p.special and len(p.text.encode()) > 1:
            for state in steps_of(p.text):
                print(f"{'':<28}{' '.join(map(_show, state))}")
    n_tokens = sum(len(p.ids) for p in pieces)
    print(f"{len(pieces)} piece{'s' * (len(pieces) != 1)}, {n_tokens} token{'s' * (n_tokens != 1)}")


def _objective(text: str) -> tuple[str, int]:
    try:
        return parse_objective(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_train_parser(sub, json_only) -> None:
    p = sub.add_parser("train", parents=[json_only], help="learn extension tokens on a base vocabulary")
    p.add_argument("--base", default="cl100k_base", help="cl100k_base, qwen, or a .tiktoken file")
    p.add_argument("--corpus", nargs="+", required=True, help="text files or directories")
    p.add_argument("--new-tokens", type=int, required=True, help="how many tokens to learn")
    p.add_argument("--out", required=True, help="output .tiktoken file (a .json sidecar is written too)")
    p.add_argument("--pattern", help="pre-tokenization pattern (default: the base's; Qwen's for a "
                                       "rank file without a sidecar)")
    p.add_argument("--drop-multi-digit", action="store_true",
                   help="drop the base's multi-digit tokens first, as Qwen did")
    p.add_argument("--min-count", type=int, default=1,
                   help="prune pieces seen fewer times than this before merging (default 1: keep all)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="count pieces on all cores (local, default) or on Ray (pip install 'qtok[scale]')")
    p.add_argument("--address", help="with --backend ray: the cluster to join")
    p.add_argument("--jobs", type=int, help="counting workers (default: all cores)")
    p.add_argument("--errors", default="strict", choices=["strict", "replace"],
                   help="invalid UTF-8 in the corpus: fail (default) or replace it with U+FFFD")
    p.add_argument("--objective", default=("frequency", 0), type=_objective,
                   help="frequency (default: the most frequent pair, as Qwen), parity (the pair most "
                        "frequent in the language worst served on --dev-corpus; Foroutan et al. 2025) "
                        "or hybrid:M (M merges by frequency, then parity)")
    p.add_argument("--dev-corpus", nargs="+",
                   help="with parity or hybrid: the parallel development set, LANG.txt files (or LANG/ "
                        "directories), one per language of --corpus, which then names its languages alike; "
                        "or a corpus the study reads: embedded, udhr, ntrex:DIR (its languages are de, zh, ...)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train)


def _is_named_corpus(values: list[str]) -> bool:
    """``--dev-corpus embedded`` or ``ntrex:DIR`` (a corpus the study reads), not files."""
    return len(values) == 1 and not Path(values[0]).exists() and (
        values[0] in ("embedded", "udhr") or values[0].startswith("ntrex:"))


def _named_corpus(spec: str) -> dict[str, list[str]]:
    """A parallel corpus the study reads (``embedded``, ``udhr``, ``ntrex:DIR``), as texts per
    language: through the entry point group ``qtok.corpora``, which the study registers (qtok
    imports nothing above it)."""
    found = [ep for ep in entry_points(group="qtok.corpora") if ep.name == "parallel"]
    if not found:
        raise CLIError(f"--dev-corpus {spec} is read by the compression study: pip install 'qtok[analysis]', "
                       "or give LANG.txt files")
    try:
        return found[0].load()(spec)
    except ValueError as e:  # the study's CorpusError: one line that says what to fix
        raise CLIError(f"--dev-corpus {spec}: {e}") from None


def cmd_train(args) -> None:

    if not str(args.out).endswith(".tiktoken"):
        raise ValueError(f"--out must end in .tiktoken, got {args.out!r}")
    if args.pattern is not None:
        check_pattern(args.pattern, "--pattern")  # before a corpus is read
    if args.new_tokens <= 0:
        raise CLIError(f"--new-tokens must be positive, got {args.new_tokens}")
    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        raise CLIError(f"--out {args.out} must be a file in an existing directory")
    status = Status("qtok train", quiet=args.quiet)
    files = corpus_files(args.corpus)
    if args.objective[0] != "frequency":  # languages named by their files, checked before counting
        if not args.dev_corpus:
            raise CLIError(f"--objective {args.objective[0]} needs --dev-corpus: the parallel "
                           "development set it compares the languages on")
        train_langs = language_files(args.corpus)
        # The development set: a corpus the study reads (texts), or LANG.txt files (paths).
        dev_named = _is_named_corpus(args.dev_corpus)
        dev_langs = _named_corpus(args.dev_corpus[0]) if dev_named else language_files(args.dev_corpus)
        if missing := sorted(set(train_langs) - set(dev_langs)):
            raise CLIError(f"--dev-corpus has no text for {', '.join(missing)}; give LANG.txt for "
                           "every language of --corpus")
    elif args.dev_corpus:
        raise CLIError("--dev-corpus is for --objective parity or hybrid:M")
    drop = is_multi_digit if args.drop_multi_digit else None
    status(f"reading the base vocabulary {args.base}")
    base = get_spec(args.base)  # read once: its ranks, and its pattern unless --pattern names one
    ranks, ordered = prepare_base(base, drop)
    if args.pattern is None:  # the base's own (Qwen3.5's joins marks to letters)
        args.pattern = base.pat_str
        check_pattern(args.pattern, f"the pattern of {args.base}")
    size = sum(f.stat().st_size for f in files)
    objective, global_merges = args.objective
    count = partial(count_corpus_pieces, pat_str=args.pattern, backend=args.backend, jobs=args.jobs,
                    address=args.address, progress=False if args.quiet else None, errors=args.errors)
    status(f"counting pieces in {len(files)} files ({size / 1e6:.1f} MB)")
    if objective == "frequency":
        counts, record = count(files, min_count=args.min_count)
        status(f"learning {args.new_tokens} tokens from {len(counts):,} distinct pieces")
        ranks = extend_counts(ranks, ordered, counts, args.new_tokens, args.pattern,
                              progress=False if args.quiet else None)
    else:
        train_counts, record = {}, {"objective": f"{objective}:{global_merges}" if global_merges else objective}
        for lang, lang_files in train_langs.items():
            train_counts[lang], record[lang] = count(lang_files, min_count=args.min_count)
        dev_counts = {lang: count_pieces(texts_or_files, args.pattern) if dev_named else count(texts_or_files)[0]
                      for lang, texts_or_files in dev_langs.items()}
        status(f"learning {args.new_tokens} tokens for {len(train_counts)} languages ({objective})")
        ranks = learn_parity(ranks, ordered, train_counts, dev_counts, args.new_tokens, args.pattern,
                             global_merges=global_merges, progress=False if args.quiet else None)
    status(f"writing {args.out}")
    meta = write_extension(args.out, ranks, base=args.base, n_new_requested=args.new_tokens,
                           pat_str=args.pattern, drop_multi_digit=args.drop_multi_digit,
                           corpus=[{"file": str(f), "bytes": f.stat().st_size} for f in files],
                           counts=record)
    print(json.dumps(meta) if args.json else f"wrote {args.out}: {len(ranks)} ranks ({meta['n_new']} new)")


def cmd_export(tok, args) -> None:

    Status("qtok export", quiet=args.quiet)(
        f"recovering {tok.name}'s merges from its ranks and writing {args.dir}/")
    paths = export_hf(tok, args.dir)
    if args.json:
        print(json.dumps({k: str(v) for k, v in paths.items()}))
    else:
        print(f"wrote {', '.join(str(p) for p in paths.values())}")



def _tokenizer_options(parser, defaults: bool) -> None:
    """--encoding, --engine, --compat and --json. On the subcommands their defaults are
    SUPPRESS, so a value given before the subcommand is not overwritten by a default after it."""
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    parser.add_argument("--encoding", default=d("qwen"),
                        help="qwen (default: Qwen-1), qwen2, qwen2.5, qwen3, qwen3.5, cl100k_base, a "
                             "Qwen model id (Qwen/Qwen3-8B) or a .tiktoken file")
    parser.add_argument("--engine", default=d(None), choices=engine_names(),
                        help="fast (default where fastokens is installed), tiktoken, reference")
    parser.add_argument("--compat", default=d(None), choices=["safe", "hf"],
                        help="safe (default; for export: hf): special-token text is text; hf: as "
                             "Qwen's transformers tokenizer (NFC, special tokens recognised)")
    parser.add_argument("--json", action="store_true", default=d(False), help="machine-readable output")


def _add_plugins(sub) -> None:
    """Commands other packages add (entry point group ``qtok.commands``: a function that takes
    the subparsers), as tiktoken finds encodings in ``tiktoken_ext``: ``qtok serve`` comes from
    the playground, which stands above qtok and the study, so qtok never imports it."""
    for ep in entry_points(group="qtok.commands"):
        try:
            ep.load()(sub)
        except ImportError:  # a plugin whose own dependencies are not installed
            continue


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _tokenizer_options(common, defaults=False)
    json_only = argparse.ArgumentParser(add_help=False)
    json_only.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                           help="machine-readable output")
    parser = OneLineParser(prog="qtok", description="Qwen's tokenizer, standalone.")
    parser.add_argument("--version", action="version", version=f"qtok {__version__}")
    _tokenizer_options(parser, defaults=True)
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
    p = sub.add_parser("count", parents=[common], help="tokens, bytes and bytes/token per file or text")
    p.add_argument("inputs", nargs="*", metavar="FILE_OR_TEXT",
                   help="files, a text, or - / nothing for stdin")
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
    add_train_parser(sub, json_only)
    _add_plugins(sub)
    p = sub.add_parser("export", help="write the files other libraries load")
    fmt = p.add_subparsers(dest="format", required=True)
    e = fmt.add_parser("hf", parents=[common],
                       help="tokenizer.json + tokenizer_config.json for tokenizers/transformers")
    e.add_argument("dir", help="output directory (created if missing)")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    e.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "plugin", False):
            args.func(args)
        elif args.command == "train":
            for option in ("encoding", "engine", "compat"):
                if option in args and getattr(args, option) != parser.get_default(option):
                    raise CLIError(f"--{option} does not apply to train: use --base (and --pattern)")
            args.func(args)
        else:
            if args.command == "count" and args.max_window_size is not None:
                if not args.chat:
                    raise CLIError("--max-window-size applies to --chat only")
            compat = parse_compat(args.compat or ("hf" if args.command == "export" else "safe"))
            args.func(get_tokenizer(args.encoding, engine=args.engine, compat=compat), args)
        sys.stdout.flush()
    except BrokenPipeError:  # qtok encode ... | head
        return reader_gone()
    except KeyboardInterrupt:
        # Outputs are renamed into place only when complete, so the previous ones are intact.
        print("qtok: interrupted; no output was changed", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, OSError, UnicodeError, ImportError) as e:
        print(f"qtok: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
