"""The extension experiment: Qwen's extension re-derived on held-out text, and a fairer one beside it.

    python -m qtok.analysis.experiment [--corpus embedded|ntrex:DIR] [--sizes 2000,8000,32000]
        [--objectives frequency,parity,hybrid] [--hybrid-share 0.5] [--seed 0] [--out results/extension]

Qwen-1 extended cl100k_base: it dropped the 1,100 multi-digit tokens, split digits, and appended
52,487 tokens learned by BPE. This re-derives such an extension on a parallel corpus and measures
it on text it never saw:

1. Split the corpus's documents (NTREX-128: news stories) by document id, seeded, into a training
   half and a held-out half; the same stories in every language, so both halves stay parallel.
2. On Qwen-1's base (cl100k_base without its multi-digit tokens, Qwen's pattern), learn
   extensions of each size from the training half with each objective (``qtok.parity``):
   ``frequency`` (classical BPE, what Qwen did), ``parity`` (each merge for the language whose
   training half is then longest in tokens) and ``hybrid`` (the first ``--hybrid-share`` of the
   merges by frequency, then parity). The parity criterion reads the training half itself, so the
   held-out half shapes no choice.
3. Run the study on the held-out half: tokens relative to XLM-R per language with 95% intervals,
   the Gini of the premiums relative to English, bytes per token; beside Qwen-1's real extension
   (``qwen``) and ``cl100k_base``.

Writes ``extension.csv`` (the study's long table), ``summary.csv``/``summary.json`` (one row a
tokenizer), ``extension-experiment.png``, the extensions (``*.tiktoken`` with their sidecars) and
the study's usual files under ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import sys
from collections import Counter
from pathlib import Path

from qtok.encodings import QWEN_PATTERN, is_multi_digit, qwen, qwen_extension_start
from qtok.files import atomic_write
from qtok.parity import learn_parity
from qtok.progress import OneLineParser
from qtok.train import count_pieces, extend_counts, prepare_base, write_extension

from .corpora import Corpus, CorpusError, load_corpus, normalize
from .results import write_results
from .study import run_study
from .tokenizers import get_adapter

OBJECTIVES = ("frequency", "parity", "hybrid")
REFERENCES = ("qwen", "cl100k_base")  # Qwen-1's real extension, and what it extended


def split_documents(corpus: Corpus, seed: int = 0) -> tuple[dict[str, list[str]], dict[str, list[str]], dict]:
    """(training half, held-out half, what was split): each parallel language's documents (NFC)
    split by document id, the same ids in every language, the ids shuffled by ``seed``."""
    langs = sorted(lang for lang in corpus.parallel if not lang.startswith("code"))
    if len(langs) < 2:
        raise CorpusError(f"the experiment needs a parallel corpus of two or more languages; "
                          f"{corpus.name!r} has {len(langs)} (use embedded or ntrex:DIR)")
    docs = {lang: [normalize(d, "NFC") for d in corpus.docs(lang)] for lang in langs}
    sizes = {len(d) for d in docs.values()}
    if len(sizes) != 1 or sizes == {0} or min(sizes) < 2:
        raise CorpusError(f"the languages of {corpus.name!r} must have the same number (at least 2) of "
                          f"documents to be split alike; they have {sorted(sizes)}")
    ids = list(range(sizes.pop()))
    random.Random(seed).shuffle(ids)
    train_ids, test_ids = sorted(ids[: len(ids) // 2]), sorted(ids[len(ids) // 2 :])
    train = {lang: [d[i] for i in train_ids] for lang, d in docs.items()}
    test = {lang: [d[i] for i in test_ids] for lang, d in docs.items()}
    meta = {"corpus": corpus.meta, "corpus_name": corpus.name, "languages": langs, "seed": seed,
            "documents": len(ids), "train_ids": train_ids, "held_out_ids": test_ids,
            "normalization": "NFC"}
    return train, test, meta


def train_extensions(train: dict[str, list[str]], sizes: list[int], objectives: list[str], out: Path,
                     hybrid_share: float = 0.5, progress: bool | None = None) -> dict[str, tuple[Path, tuple[int, int]]]:
    """Learn each (objective, size) extension of Qwen-1's base; write it under ``out``. Returns
    tokenizer name (e.g. ``parity+8000``) -> (file, ``overlap_with_qwen``)."""
    ranks0, ordered = prepare_base("cl100k_base", is_multi_digit)
    counts = {lang: count_pieces(texts) for lang, texts in train.items()}
    pooled: Counter[str] = Counter()
    for c in counts.values():
        pooled.update(c)
    files = {}
    for objective in objectives:
        for size in sizes:
            if objective == "frequency":
                ranks = extend_counts(ranks0, ordered, pooled, size, QWEN_PATTERN, progress)
            else:
                global_merges = round(hybrid_share * size) if objective == "hybrid" else 0
                ranks = learn_parity(ranks0, ordered, counts, counts, size, QWEN_PATTERN,
                                     global_merges=global_merges, progress=progress)
            name = f"{objective}+{size}"
            path = out / f"{name}.tiktoken"
            write_extension(path, ranks, base="cl100k_base", n_new_requested=size, pat_str=QWEN_PATTERN,
                            drop_multi_digit=True, name=name,
                            corpus={"split": "training half", "languages": sorted(train),
                                    "objective": objective,
                                    "global_merges": round(hybrid_share * size) if objective == "hybrid" else None})
            files[name] = path, overlap_with_qwen(ranks)
    return files


def overlap_with_qwen(ranks: dict[bytes, int]) -> tuple[int, int]:
    """(new tokens that are also Qwen-1 extension tokens, new tokens) of an extension of Qwen-1's
    base (its new tokens start where Qwen-1's do)."""
    q, start = qwen().mergeable_ranks, qwen_extension_start()
    added = [t for t, r in ranks.items() if r >= start]
    return sum(1 for t in added if q.get(t, -1) >= start), len(added)


def summarize(study, files: dict[str, tuple[Path, tuple[int, int]]]) -> list[dict]:
    """One row a tokenizer: on the held-out half, mean and worst tokens relative to XLM-R over
    the languages, the Gini of premiums, bytes per token, and how many of its new tokens Qwen-1
    also has."""
    out = []
    for t in study.tokenizers:
        if t == study.baseline:
            continue
        rows = [r for r in study.rows if r["tokenizer"] == t]
        # The mean and the worst are over the languages whose cost relative to XLM-R is defined
        # (the study leaves it NaN where XLM-R's own tokens are over 0.5% unknown).
        defined = [r for r in rows if not math.isnan(r["compression"])]
        worst = max(defined, key=lambda r: r["compression"])
        objective, _, size = t.partition("+")
        row = {"tokenizer": t, "objective": objective if size else "reference",
               "size": int(size) if size else None,
               "languages": len(rows), "languages_vs_xlmr": len(defined),
               "mean_compression": sum(r["compression"] for r in defined) / len(defined),
               "worst_compression": worst["compression"], "worst_lang": worst["lang"],
               "premium_gini": study.meta["premium_gini"].get(t, math.nan),
               "bytes_per_token": sum(r["n_bytes"] for r in rows) / sum(r["n_tokens"] for r in rows)}
        if t in files:
            row["in_qwen_extension"], row["n_new"] = files[t][1]
        out.append(row)
    return out


def format_summary(summary: list[dict]) -> str:
    head = "| tokenizer | new tokens | mean tokens/XLM-R | worst (lang) | premium Gini | bytes/token | also in Qwen-1's |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in summary:
        n_new = f"{r['n_new']:,}" if "n_new" in r else ("52,487" if r["tokenizer"] == "qwen" else "0")
        shared = f"{r['in_qwen_extension'] / r['n_new']:.0%}" if r.get("n_new") else ""
        lines.append(f"| {r['tokenizer']} | {n_new} | {r['mean_compression']:.3f} | "
                     f"{r['worst_compression']:.2f} ({r['worst_lang']}) | {r['premium_gini']:.3f} | "
                     f"{r['bytes_per_token']:.2f} | {shared} |")
    r = summary[0]
    lines.append(f"\n(held-out half; tokens/XLM-R over the {r['languages_vs_xlmr']} of {r['languages']} "
                 "languages where XLM-R's own text is under 0.5% unknown tokens; the Gini over all.)")
    return "\n".join(lines)


def experiment_figure(summary: list[dict], study):
    """Left: the Gini of premiums against the extension's size, per objective, with Qwen-1 and
    cl100k_base as lines. Middle: mean tokens relative to XLM-R, likewise. Right: each language
    at the largest size, sorted by Qwen-1's cost, with 95% intervals."""
    from .plots import subplots

    fig, axes = subplots(1, 3, figsize=(15, 4.6), layout="constrained",
                         gridspec_kw={"width_ratios": [1, 1, 1.6]})
    refs = {r["tokenizer"]: r for r in summary if r["objective"] == "reference"}
    objectives = [o for o in OBJECTIVES if any(r["objective"] == o for r in summary)]
    for ax, key, label in ((axes[0], "premium_gini", "Gini of premiums vs English (lower: fairer)"),
                           (axes[1], "mean_compression", "mean tokens / XLM-R tokens (lower: shorter)")):
        for i, o in enumerate(objectives):
            rows = sorted((r for r in summary if r["objective"] == o), key=lambda r: r["size"])
            ax.plot([r["size"] for r in rows], [r[key] for r in rows], "o-", color=f"C{i}", label=o)
        for j, (name, r) in enumerate(refs.items()):
            ax.axhline(r[key], color="0.3", linestyle=("--", ":")[j % 2], linewidth=1,
                       label=f"{name}{' (Qwen-1, +52,487)' if name == 'qwen' else ''}")
        ax.set_xscale("log")
        sizes = sorted({r["size"] for r in summary if r["size"]})
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("new tokens learned (training half)")
        ax.set_title(label, fontsize="medium")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    largest = max(r["size"] for r in summary if r["size"])
    shown = ["qwen"] + [f"{o}+{largest}" for o in objectives]
    qwen_cost = {r["lang"]: r["compression"] for r in study.rows if r["tokenizer"] == "qwen"}
    langs = sorted((lang for lang, c in qwen_cost.items() if not math.isnan(c)), key=qwen_cost.get)
    ax = axes[2]
    for i, t in enumerate(shown):
        by_lang = {r["lang"]: r for r in study.rows if r["tokenizer"] == t}
        ys = [by_lang[lang]["compression"] for lang in langs]
        lo = [y - by_lang[lang]["compression_lo"] if not math.isnan(by_lang[lang]["compression_lo"]) else 0
              for y, lang in zip(ys, langs)]
        hi = [by_lang[lang]["compression_hi"] - y if not math.isnan(by_lang[lang]["compression_hi"]) else 0
              for y, lang in zip(ys, langs)]
        ax.errorbar(range(len(langs)), ys, yerr=[lo, hi], fmt="o", markersize=3, capsize=0, elinewidth=0.6,
                    color="0.2" if t == "qwen" else f"C{objectives.index(t.split('+')[0])}",
                    label="qwen (Qwen-1)" if t == "qwen" else t)
    ax.axhline(1, color="black", linewidth=0.8, linestyle="--")
    if len(langs) <= 30:
        ax.set_xticks(range(len(langs)), langs, fontsize="small")
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(langs)} languages, sorted by Qwen-1's cost")
    if len(langs) < len(qwen_cost):
        ax.set_xlabel(f"{ax.get_xlabel()} ({len(qwen_cost) - len(langs)} more: no cost vs XLM-R)".strip())
    ax.set_title("held-out half, per language, 95% intervals", fontsize="medium")
    ax.set_ylabel("tokens / XLM-R tokens")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig


def run_experiment(corpus: Corpus, sizes: list[int], objectives: list[str], out: str | Path, *,
                   hybrid_share: float = 0.5, seed: int = 0, n_boot: int = 200,
                   progress: bool | None = None) -> tuple[list[dict], object, dict]:
    """Split ``corpus``, train the extensions into ``out``, run the study on the held-out half:
    (summary, study, split)."""
    train, test, split = split_documents(corpus, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = train_extensions(train, sizes, objectives, out, hybrid_share, progress)
    held_out = Corpus(f"{corpus.name} (held-out half)", sorted(test), lambda lang: iter(test[lang]),
                      meta={**corpus.meta, "split": {k: v for k, v in split.items() if k != "corpus"}},
                      parallel=set(test))
    adapters = [get_adapter(t) for t in REFERENCES] + [get_adapter(f"{n}={p}") for n, (p, _) in files.items()]
    study = run_study(held_out, adapters + [get_adapter("xlm-r")], n_boot=n_boot, seed=seed, progress=progress)
    return summarize(study, files), study, split


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(n <= 0 for n in sizes) or len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"--sizes takes distinct positive integers separated by commas "
                                         f"(e.g. 2000,8000), got {text!r}")
    return sorted(sizes)


def _objectives(text: str) -> list[str]:
    names = text.split(",")
    if not names or any(n not in OBJECTIVES for n in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"--objectives takes some of {', '.join(OBJECTIVES)}, separated "
                                         f"by commas, got {text!r}")
    return names


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = math.nan
    if not 0 < share < 1:
        raise argparse.ArgumentTypeError(f"--hybrid-share is the part of the merges made by frequency, "
                                         f"between 0 and 1 (e.g. 0.5), got {text!r}")
    return share


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m qtok.analysis.experiment", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="embedded", help="a parallel corpus: embedded (default, NTREX-128 "
                   "news in 19 languages) or ntrex:DIR (all 128)")
    p.add_argument("--langs", type=lambda text: text.split(","),
                   help="these of the corpus's languages only (comma-separated, e.g. en,de,zh,th)")
    p.add_argument("--sizes", type=_sizes, default=[2000, 8000, 32000])
    p.add_argument("--objectives", type=_objectives, default=list(OBJECTIVES))
    p.add_argument("--hybrid-share", type=_share, default=0.5)
    p.add_argument("--seed", type=int, default=0, help="the split of documents, and the bootstrap")
    p.add_argument("--bootstrap", type=int, default=200, help="replicates of the 95%% intervals")
    p.add_argument("--out", default="results/extension")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    progress = False if args.quiet else None
    try:
        summary, study, split = run_experiment(load_corpus(args.corpus, langs=args.langs), args.sizes,
                                               args.objectives, args.out,
                                               hybrid_share=args.hybrid_share, seed=args.seed,
                                               n_boot=args.bootstrap, progress=progress)
    except CorpusError as e:
        print(f"analysis.experiment: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print(format_summary(summary))
    write_results(study, out, stem="extension")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(summary[-1]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary)
    atomic_write(out / "summary.csv", buf.getvalue())
    atomic_write(out / "summary.json", json.dumps({"summary": summary, "split": split,
                                                   "hybrid_share": args.hybrid_share}, indent=2) + "\n")
    import matplotlib.pyplot as plt

    fig = experiment_figure(summary, study)
    fig.savefig(out / "extension-experiment.png", dpi=150)
    plt.close(fig)
    print(f"wrote {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
