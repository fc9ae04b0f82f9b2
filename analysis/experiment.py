"""The extension experiment: learn extensions of cl100k_base on the embedded multilingual corpus
and compare them with Qwen's real one.

    python -m analysis.experiment [--sizes 2000,10000] [--out results/extension]

For each size: ``qtok.train.extend`` on the 18 UDHR texts (NFC), then the study (cl100k_base,
each extension, qwen, relative to XLM-R) on the same texts, and the overlap of each extension's
new tokens with the 52,487 tokens Qwen appended. In-sample by design: the question is how much
of Qwen's gain a small, targeted extension recovers, not how it generalises.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qtok.encodings import cl100k_base, qwen, qwen_extension_start
from qtok.files import atomic_write
from qtok.train import extend, write_extension
from qtok.unicode import normalize

from .corpora import load_corpus
from .results import format_table, write_results
from .study import run_study
from .tokenizers import get_adapter


def overlap_with_qwen(ranks: dict[bytes, int], n_base: int) -> tuple[int, int]:
    """(new tokens that are also Qwen extension tokens, new tokens)."""
    q = qwen().mergeable_ranks
    added = [t for t, r in ranks.items() if r >= n_base]
    start = qwen_extension_start()
    return sum(1 for t in added if q.get(t, -1) >= start), len(added)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.experiment", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2000,10000")
    p.add_argument("--out", default="results/extension")
    args = p.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(n <= 0 for n in sizes) or len(set(sizes)) != len(sizes):
        print(f"analysis.experiment: error: --sizes takes distinct positive integers separated by "
              f"commas (e.g. 2000,10000), got {args.sizes!r}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus("udhr")
    texts = [normalize("NFC", "\n".join(corpus.docs(lang))) for lang in corpus.langs]
    n_base = len(cl100k_base().mergeable_ranks)
    tokenizers, overlaps = ["cl100k_base"], {}
    for size in sizes:
        ranks = extend("cl100k_base", texts, size)
        path = out / f"cl100k-ext-{size}.tiktoken"
        write_extension(path, ranks, base="cl100k_base", n_new_requested=size,
                        corpus="embedded UDHR, 18 languages, NFC")
        shared, n_new = overlap_with_qwen(ranks, n_base)
        overlaps[path.stem] = {"n_new": n_new, "in_qwen_extension": shared, "share": shared / n_new}
        tokenizers.append(str(path))
    study = run_study(corpus, [get_adapter(t) for t in tokenizers + ["qwen", "xlm-r"]])
    print(format_table(study))
    print("\noverlap with Qwen's 52,487 extension tokens:")
    for name, o in overlaps.items():
        print(f"  {name}: {o['in_qwen_extension']:,} of {o['n_new']:,} new tokens ({o['share']:.1%})")
    write_results(study, out, stem="extension")
    atomic_write(out / "overlap.json", json.dumps(overlaps, indent=2))
    print(f"wrote {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
