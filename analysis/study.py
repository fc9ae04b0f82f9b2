"""Running the study: count every language with every tokenizer, add the metrics, write results.

The long table, the metrics and the figure are computed here and in metrics.py / plots.py; the
command line (``python -m analysis``) and the notebook only call ``run_study`` and ``write_results``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from .corpora import Corpus, normalize
from .metrics import COLUMNS, METRICS, add_metrics, pivot
from .tokenizers import Adapter

BATCH = 256  # documents counted at a time: memory stays bounded however large the corpus


@dataclass
class Study:
    rows: list[dict]  # the long table with the metrics
    langs: list[str]
    tokenizers: list[str]
    baseline: str
    meta: dict = field(default_factory=dict)


def count_language(corpus: Corpus, lang: str, adapters: list[Adapter], form: str | None,
                   max_docs: int | None = None, max_bytes: int | None = None) -> list[dict]:
    """The table rows of one language: one per tokenizer, with the text statistics."""
    stats = {"n_docs": 0, "n_bytes": 0, "n_chars": 0, "n_words": 0}
    tokens = {a.name: 0 for a in adapters}
    docs = iter(corpus.docs(lang))
    done = False
    while not done:
        batch = []
        for doc in islice(docs, BATCH):
            if max_docs is not None and stats["n_docs"] >= max_docs:
                done = True
                break
            if max_bytes is not None and stats["n_bytes"] >= max_bytes:
                done = True
                break
            doc = normalize(doc, form)
            batch.append(doc)
            stats["n_docs"] += 1
            stats["n_bytes"] += len(doc.encode("utf-8"))
            stats["n_chars"] += len(doc)
            stats["n_words"] += len(doc.split())
        if not batch:
            break
        for a in adapters:
            tokens[a.name] += sum(a.count(batch))
    if stats["n_docs"] == 0:
        raise ValueError(f"language {lang!r} of corpus {corpus.name!r} has no documents")
    return [dict(tokenizer=a.name, lang=lang, **stats, n_tokens=tokens[a.name]) for a in adapters]


def run_study(corpus: Corpus, adapters: list[Adapter], *, baseline: str = "xlm-r",
              normalization: str | None = "NFC", max_docs: int | None = None,
              max_bytes: int | None = None, jobs: int | None = None,
              progress: bool | None = None) -> Study:
    """Count all languages (in parallel threads: every tokenizer's core releases the GIL)."""
    names = [a.name for a in adapters]
    if len(set(names)) != len(names):
        raise ValueError(f"tokenizer names must be distinct, got {names}; name files with NAME=PATH")
    if baseline not in names:
        raise ValueError(f"the baseline {baseline!r} is not among the tokenizers {names}; add it "
                         "to --tokenizers or choose another with --baseline")
    from tqdm import tqdm

    start = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    by_lang: dict[str, list[dict]] = {}
    with ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(count_language, corpus, lang, adapters, normalization, max_docs,
                               max_bytes): lang for lang in corpus.langs}
        bar = tqdm(total=len(futures), desc="languages", unit="lang",
                   disable=not (sys.stderr.isatty() if progress is None else progress))
        for fut in as_completed(futures):
            by_lang[futures[fut]] = fut.result()
            bar.update(1)
        bar.close()
    table = [row for lang in corpus.langs for row in by_lang[lang]]
    rows = add_metrics(table, baseline=baseline, parallel=corpus.parallel)
    meta = {
        "corpus": corpus.meta,
        "corpus_name": corpus.name,
        "languages": corpus.langs,
        "parallel_languages": sorted(corpus.parallel),
        "normalization": normalization or "none",
        "caps": {"max_docs": max_docs, "max_bytes": max_bytes},
        "baseline": baseline,
        "tokenizers": {a.name: a.meta for a in adapters},
        "versions": _versions(),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return Study(rows, corpus.langs, names, baseline, meta)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ["qtok", "tiktoken", "regex", "tokenizers", "sentencepiece", "datasets", "numpy", "matplotlib"]:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def format_table(study: Study, column: str = "compression") -> str:
    """A text table: one line per language, one column per tokenizer."""
    grid = pivot(study.rows, column, study.langs, study.tokenizers)
    width = max(10, *(len(t) for t in study.tokenizers))
    lines = [f"{column} (tokens / {study.baseline} tokens; lower is better)" if column == "compression" else column,
             f"{'lang':<6}" + "".join(f"{t:>{width + 2}}" for t in study.tokenizers)]
    for j, lang in enumerate(study.langs):
        cells = ("nan" if math.isnan(grid[i][j]) else f"{grid[i][j]:.3f}" for i in range(len(study.tokenizers)))
        lines.append(f"{lang:<6}" + "".join(f"{c:>{width + 2}}" for c in cells))
    return "\n".join(lines)


def write_results(study: Study, out: str | Path, stem: str = "compression") -> dict[str, Path]:
    """Write ``<stem>.csv`` (long table + metrics), ``<stem>.json`` (metadata) and ``<stem>.png``."""
    from .plots import compression_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("csv", "json", "png")}
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + METRICS)
        writer.writeheader()
        writer.writerows(study.rows)
    meta = dict(study.meta, columns=COLUMNS + METRICS, csv=paths["csv"].name, figure=paths["png"].name)
    paths["json"].write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    fig = compression_figure(study.rows, study.langs, study.tokenizers, study.baseline, study.meta["corpus_name"])
    fig.savefig(paths["png"], dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def read_results(path: str | Path) -> list[dict]:
    """The long table back from a CSV written by ``write_results`` (numbers as numbers, NaN kept)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in COLUMNS[2:]:
            r[k] = int(r[k])
        for k in METRICS:
            r[k] = float(r[k]) if r[k] not in ("", "nan") else float("nan")
    return rows
