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
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from .corpora import DATA, Corpus, normalize
from .metrics import (COLUMNS, METRICS, NAN, NO_SPACE_LANGS, RENYI_ALPHA, UNK_THRESHOLD, add_metrics,
                      continued_words, gini, pivot, renyi_efficiency, vocab_utilization)
from .tokenizers import Adapter
from .uncertainty import N_BOOT, SEED, Resampler

# The study's tokenizer names -> the Qwen report chart's columns (pass a file under one of these
# names, e.g. --tokenizers llama=path/to/LLaMA-7B/tokenizer.model, to get that row's paper value).
PAPER_COLUMNS = {"qwen": "Qwen", "llama": "LLaMA-7B", "baichuan": "Baichuan-7B",
                 "chatglm2": "ChatGLM2-6B", "internlm": "InternLM-7B"}
EXTRA = ["script", "n_unk", "renyi_efficiency", "vocab_utilization", "continued_words", "compression_lo",
         "compression_hi", "premium_lo", "premium_hi", "paper", "paper_diff", "reason"]


def dominant_script(text: str) -> str:
    """The script most of a text's letters are written in, from their Unicode names ("Latin",
    "Cyrillic", "Han" for CJK ideographs, "Kana" for Hiragana and Katakana, ...).

    >>> dominant_script("Привет, мир"), dominant_script("你好，世界"), dominant_script("12 ...")
    ('Cyrillic', 'Han', 'none')
    """
    import unicodedata

    counts: Counter[str] = Counter()
    for c in text:
        if c.isalpha():
            name = unicodedata.name(c, "")
            word = name.split(" ")[0] if name else "OTHER"
            word = {"CJK": "HAN", "HIRAGANA": "KANA", "KATAKANA": "KANA", "HALFWIDTH": "KANA"}.get(word, word)
            counts[word] += 1
    return counts.most_common(1)[0][0].title() if counts else "none"


def paper_values() -> dict[tuple[str, str], float]:
    """``{(chart column, lang): value}`` from the vendored TSV of the report's figure."""
    out = {}
    lines = [ln for ln in (DATA / "qwen_report_fig3.tsv").read_text(encoding="utf-8").splitlines()
             if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    for line in lines[1:]:
        cells = line.split("\t")
        for column, value in zip(header[1:], cells[1:]):
            out[column, cells[0]] = float(value)
    return out

BATCH = 256  # documents counted at a time: memory stays bounded however large the corpus


@dataclass
class Study:
    rows: list[dict]  # the long table with the metrics
    langs: list[str]
    tokenizers: list[str]
    baseline: str
    meta: dict = field(default_factory=dict)
    # Tokens of each document, per (tokenizer, lang): what the bootstrap resamples.
    doc_tokens: dict = field(default_factory=dict, repr=False)


def count_language(corpus: Corpus, lang: str, adapters: list[Adapter], form: str | None,
                   max_docs: int | None = None, max_bytes: int | None = None,
                   stop: threading.Event | None = None) -> tuple[list[dict], dict]:
    """The table rows of one language (one per tokenizer, with the text statistics, unknown
    tokens, Rényi efficiency, vocabulary use and continued words) and each tokenizer's tokens
    per document."""
    import numpy as np

    stats = {"n_docs": 0, "n_bytes": 0, "n_chars": 0, "n_words": 0}
    per_doc = {a.name: [] for a in adapters}
    freq = {a.name: np.zeros(max(a.vocab_size, 1), dtype=np.int64) for a in adapters}
    words: Counter[str] = Counter()
    sample = ""
    spaced = lang not in NO_SPACE_LANGS and not lang.startswith("code")
    docs = iter(corpus.docs(lang))
    done = False
    while not done:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        batch = []
        for doc in islice(docs, BATCH):
            if max_docs is not None and stats["n_docs"] >= max_docs:
                done = True
                break
            if max_bytes is not None and stats["n_bytes"] >= max_bytes:
                done = True
                break
            doc = normalize(doc, form)
            if len(sample) < 1000:
                sample += doc[:1000]
            batch.append(doc)
            split = doc.split()
            stats["n_docs"] += 1
            stats["n_bytes"] += len(doc.encode("utf-8"))
            stats["n_chars"] += len(doc)
            stats["n_words"] += len(split)
            if spaced:
                words.update(split)
        if not batch:
            break
        for a in adapters:
            flat, lengths = a.flat(batch)
            per_doc[a.name].extend(lengths.tolist())
            if flat.size:
                if flat.max() >= len(freq[a.name]):  # a vocabulary larger than declared
                    freq[a.name] = np.pad(freq[a.name], (0, int(flat.max()) + 1 - len(freq[a.name])))
                freq[a.name] += np.bincount(flat, minlength=len(freq[a.name]))
    if stats["n_docs"] == 0:
        raise ValueError(f"language {lang!r} of corpus {corpus.name!r} has no documents")
    unique = list(words)
    counts = [words[w] for w in unique]
    script = "code" if lang.startswith("code") else dominant_script(sample)
    rows = []
    for a in adapters:
        f = freq[a.name]
        used = f[f > 0]
        unk = [i for i in a.unk_ids if i < len(f)]
        row = dict(tokenizer=a.name, lang=lang, **stats, n_tokens=int(sum(per_doc[a.name])),
                   n_unk=int(f[unk].sum()) if unk else 0,
                   renyi_efficiency=renyi_efficiency(used, max(a.vocab_size, len(f))),
                   vocab_utilization=vocab_utilization(used, max(a.vocab_size, len(f))),
                   continued_words=NAN, script=script)
        if unique:
            lengths = a.count([a.word_prefix + w for w in unique])
            row["continued_words"] = continued_words(lengths, counts)
        rows.append(row)
    return rows, {a.name: per_doc[a.name] for a in adapters}


def run_study(corpus: Corpus, adapters: list[Adapter], *, baseline: str = "xlm-r",
              normalization: str | None = "NFC", max_docs: int | None = None,
              max_bytes: int | None = None, jobs: int | None = None,
              progress: bool | None = None, reference_lang: str = "en",
              n_boot: int = N_BOOT, seed: int = SEED) -> Study:
    """Count all languages (in parallel threads: every tokenizer's core releases the GIL), then
    the metrics, the paper's values and 95% bootstrap intervals."""
    names = [a.name for a in adapters]
    if len(set(names)) != len(names):
        raise ValueError(f"tokenizer names must be distinct, got {names}; name files with NAME=PATH")
    if baseline not in names:
        raise ValueError(f"the baseline {baseline!r} is not among the tokenizers {names}; add it "
                         "to --tokenizers or choose another with --baseline")
    if reference_lang not in corpus.langs:
        raise ValueError(f"the reference language {reference_lang!r} is not in the corpus; choose "
                         f"one of {', '.join(corpus.langs)} with --reference-lang")
    from tqdm import tqdm

    start = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    by_lang: dict[str, list[dict]] = {}
    doc_tokens: dict[tuple[str, str], list[int]] = {}
    stop = threading.Event()
    pool = ThreadPoolExecutor(jobs)
    try:
        futures = {pool.submit(count_language, corpus, lang, adapters, normalization, max_docs,
                               max_bytes, stop): lang for lang in corpus.langs}
        bar = tqdm(total=len(futures), desc="languages", unit="lang",
                   disable=not (sys.stderr.isatty() if progress is None else progress))
        for fut in as_completed(futures):
            lang = futures[fut]
            by_lang[lang], per_doc = fut.result()
            for name, counts in per_doc.items():
                doc_tokens[name, lang] = counts
            bar.update(1)
        bar.close()
    except BaseException:
        stop.set()  # Ctrl-C: the workers stop at their next batch instead of finishing
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    table = [row for lang in corpus.langs for row in by_lang[lang]]
    rows = add_metrics(table, baseline=baseline, reference_lang=reference_lang, parallel=corpus.parallel)
    add_intervals(rows, doc_tokens, baseline, reference_lang, corpus.parallel, n_boot, seed)
    add_paper(rows, baseline)
    meta = {
        "corpus": corpus.meta,
        "corpus_name": corpus.name,
        "languages": corpus.langs,
        "parallel_languages": sorted(corpus.parallel),
        "normalization": normalization or "none",
        "caps": {"max_docs": max_docs, "max_bytes": max_bytes},
        "baseline": baseline,
        "reference_lang": reference_lang,
        "bootstrap": {"method": "paired percentile bootstrap over documents", "replicates": n_boot,
                      "seed": seed, "level": 0.95},
        "unknown_threshold": UNK_THRESHOLD,
        "renyi_alpha": RENYI_ALPHA,
        "premium_gini": {t: gini([r["premium"] for r in rows if r["tokenizer"] == t
                                  and r["lang"] in corpus.parallel]) for t in names},
        "paper": {"source": "Qwen technical report, Fig. 3 (analysis/data/qwen_report_fig3.tsv)",
                  "read_off_precision": 0.02, "columns": PAPER_COLUMNS},
        "tokenizers": {a.name: a.meta for a in adapters},
        "versions": _versions(),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return Study(rows, corpus.langs, names, baseline, meta, doc_tokens)


def add_intervals(rows: list[dict], doc_tokens: dict, baseline: str, reference_lang: str,
                  parallel: set[str], n_boot: int, seed: int) -> None:
    """``compression_lo/hi`` and ``premium_lo/hi``: 95% paired bootstrap intervals (in place).
    Every ratio over the same number of documents uses the same draws."""
    boot = Resampler(n_boot=n_boot, seed=seed)
    for r in rows:
        t, lang = r["tokenizer"], r["lang"]
        r["compression_lo"] = r["compression_hi"] = r["premium_lo"] = r["premium_hi"] = NAN
        if not math.isnan(r["compression"]):
            r["compression_lo"], r["compression_hi"] = boot.interval(
                (t, lang), doc_tokens[t, lang], (baseline, lang), doc_tokens[baseline, lang])
        if not math.isnan(r["premium"]) and lang in parallel and reference_lang in parallel:
            r["premium_lo"], r["premium_hi"] = boot.interval(
                (t, lang), doc_tokens[t, lang], (t, reference_lang), doc_tokens[t, reference_lang])


def add_paper(rows: list[dict], baseline: str) -> None:
    """``paper`` and ``paper_diff``: the Qwen report's value for this tokenizer and language (its
    chart is relative to XLM-R) and measured minus paper (in place; NaN where the chart has none)."""
    chart = paper_values() if baseline == "xlm-r" else {}
    for r in rows:
        column = PAPER_COLUMNS.get(r["tokenizer"])
        r["paper"] = chart.get((column, r["lang"]), NAN)
        r["paper_diff"] = r["compression"] - r["paper"]


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
    """A text table: one line per language, one column per tokenizer; for a tokenizer of the
    Qwen report's chart, also the paper's value, measured minus paper, and the 95% interval."""
    grid = {(r["tokenizer"], r["lang"]): r for r in study.rows}
    charted = [t for t in study.tokenizers
               if column == "compression" and any(not math.isnan(grid[t, lang]["paper"])
                                                  for lang in study.langs if (t, lang) in grid)]
    width = max(11, *(len(t) + 1 for t in study.tokenizers))
    lang_w = max(6, *(len(lang) + 1 for lang in study.langs))
    head = f"{'lang':<{lang_w}}"
    for t in study.tokenizers:
        head += f"{t:>{width}}"
        if t in charted:
            head += f"{'paper':>7}{'diff':>7}{'95% interval':>16}"
    title = (f"compression (tokens / {study.baseline} tokens; lower is better; paper = the Qwen "
             "report's figure, read off +-0.02)" if column == "compression" else column)
    lines = [title, head]

    def fmt(v: float, spec: str) -> str:
        return "nan" if math.isnan(v) else format(v, spec)

    for lang in study.langs:
        line = f"{lang:<{lang_w}}"
        for t in study.tokenizers:
            r = grid[t, lang]
            line += f"{fmt(r[column], '.3f'):>{width}}"
            if t in charted:
                interval = "" if math.isnan(r["compression_lo"]) else \
                    f"[{r['compression_lo']:.3f}, {r['compression_hi']:.3f}]"
                line += f"{fmt(r['paper'], '.2f'):>7}{fmt(r['paper_diff'], '+.2f'):>7}{interval:>16}"
        lines.append(line)
    warnings = sorted({r["reason"] for r in study.rows if r.get("reason")})
    lines += [f"warning: {w}: ratio left NaN" for w in warnings]
    return "\n".join(lines)


def write_results(study: Study, out: str | Path, stem: str = "compression") -> dict[str, Path]:
    """Write ``<stem>.csv`` (long table + metrics), the figures (``<stem>.png``, and
    ``<stem>-paper.png`` and ``<stem>-premium.png`` where they apply) and, last, ``<stem>.json``
    (metadata, and the sha256 of every file of this run: the manifest that ties them together).
    Each file is written atomically, so an interrupted run leaves the previous files whole."""
    import io

    import matplotlib.pyplot as plt

    from qtok.files import atomic_write
    from qtok.load import sha256_bytes

    from .plots import compression_figure, paper_figure, premium_figure

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    columns = COLUMNS + METRICS + EXTRA
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(study.rows)
    files = {f"{stem}.csv": buf.getvalue().encode("utf-8")}
    figures = {f"{stem}.png": compression_figure(study.rows, study.langs, study.tokenizers,
                                                 study.baseline, study.meta["corpus_name"])}
    if any(not math.isnan(r["paper"]) for r in study.rows):
        figures[f"{stem}-paper.png"] = paper_figure(study.rows, study.tokenizers)
    if len(study.meta.get("parallel_languages", [])) > 1:
        figures[f"{stem}-premium.png"] = premium_figure(
            study.rows, [lang for lang in study.langs if lang in study.meta["parallel_languages"]],
            study.tokenizers, study.meta.get("reference_lang", "en"))
    for name, fig in figures.items():
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=150)
        plt.close(fig)
        files[name] = png.getvalue()
    paths = {}
    for name, data in files.items():
        path = out / name
        if path.is_dir():
            raise ValueError(f"{path} is a directory; remove it or choose another --out")
        paths[name] = atomic_write(path, data)
    meta = dict(study.meta, columns=columns, files={n: sha256_bytes(d) for n, d in files.items()})
    paths[f"{stem}.json"] = atomic_write(out / f"{stem}.json",
                                         json.dumps(_json_safe(meta), indent=2, ensure_ascii=False) + "\n")
    return paths


def _json_safe(value):
    """NaN (not JSON) becomes null, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def read_results(path: str | Path) -> list[dict]:
    """The long table back from a CSV written by ``write_results`` (numbers as numbers, NaN kept)."""
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in COLUMNS[2:] + ["n_unk"]:
            if k in r:
                r[k] = int(r[k])
        for k in METRICS + EXTRA:
            if k in r and k not in ("reason", "n_unk", "script"):
                r[k] = float(r[k]) if r[k] not in ("", "nan") else float("nan")
    return rows
