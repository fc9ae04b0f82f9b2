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
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from qtok.scale import BLOCK_BYTES, Block, number

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

BATCH = 256  # documents tokenized at a time: memory stays bounded however large a block
# Corpora at least this large are counted in worker processes (each builds its own tokenizers, ~2 s);
# smaller ones in threads of this process, where that start-up would cost more than it saves.
PROCESS_BYTES = 64 << 20


@dataclass
class Study:
    rows: list[dict]  # the long table with the metrics
    langs: list[str]
    tokenizers: list[str]
    baseline: str
    meta: dict = field(default_factory=dict)
    # Tokens of each document, per (tokenizer, lang): what the bootstrap resamples.
    doc_tokens: dict = field(default_factory=dict, repr=False)
    # One sentence per language and each tokenizer's (ids, spans) of it: for report.html.
    samples: dict = field(default_factory=dict, repr=False)


def count_block(block: Block, adapters: list[Adapter], form: str | None) -> dict:
    """Everything the study needs from one block, in a form that adds up across blocks: text
    statistics, each tokenizer's tokens per document and token frequencies, and its continued
    words (numerator and denominator), plus the first characters for the script guess."""
    import numpy as np

    from qtok.scale import selected, stopping

    from .tokenizers import LONG_DOC, split_long

    lang = block.group
    stats = {"n_docs": 0, "n_bytes": 0, "n_chars": 0, "n_words": 0}
    lengths = {a.name: [] for a in adapters}
    freq = {a.name: np.zeros(max(a.vocab_size, 1), dtype=np.int64) for a in adapters}
    words: Counter[str] = Counter()
    sample: list[str] = []
    sampled = 0
    spaced = lang not in NO_SPACE_LANGS and not lang.startswith("code")
    docs = selected(block)
    while True:
        if stopping():
            raise KeyboardInterrupt
        batch = [normalize(doc, form) for doc in islice(docs, BATCH)]
        if not batch:
            break
        for doc in batch:
            if sampled < 1000:
                sample.append(doc[:1000])
                sampled += len(sample[-1])
            stats["n_docs"] += 1
            stats["n_bytes"] += len(doc.encode("utf-8"))
            stats["n_chars"] += len(doc)
            for piece in split_long(doc, LONG_DOC):  # cut at spaces: the same words, fewer at a time
                split = piece.split()
                stats["n_words"] += len(split)
                if spaced:
                    words.update(split)
        for a in adapters:
            flat, counts = _flat_cut(a, batch, lang)
            lengths[a.name].append(counts.astype(np.int64))
            if flat.size:
                f = freq[a.name]
                if flat.max() >= len(f):  # a vocabulary larger than declared
                    f = freq[a.name] = np.pad(f, (0, int(flat.max()) + 1 - len(f)))
                f += np.bincount(flat, minlength=len(f))
    continued = {}
    unique = list(words)
    counts = [words[w] for w in unique]
    for a in adapters:
        if unique:
            n = a.count([a.word_prefix + w for w in unique])
            continued[a.name] = (sum(c for k, c in zip(n, counts) if k >= 2), sum(counts))
        else:
            continued[a.name] = (0, 0)
    return {"stats": stats, "sample": sample, "freq": freq, "continued": continued,
            "lengths": {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64)
                        for k, v in lengths.items()}}


def _flat_cut(adapter: Adapter, docs: list[str], lang: str):
    """``adapter.flat`` with long documents counted in pieces (``split_long``: the counts add up
    exactly for tokenizers whose tokens never cross the cuts), so memory stays bounded; a
    document a tokenizer must take whole is refused past ``MAX_WHOLE`` characters."""
    import numpy as np

    from .tokenizers import LONG_DOC, split_long

    if all(len(d) <= LONG_DOC for d in docs):
        return adapter.flat(docs)
    parts, owner = [], []
    for j, doc in enumerate(docs):
        pieces = split_long(doc, LONG_DOC) if adapter.cut_safe else [doc]
        for piece in pieces:
            if adapter.max_chars is not None and len(piece) > adapter.max_chars:
                raise ValueError(
                    f"a document of {lang!r} has {len(piece):,} characters {adapter.name} must take at "
                    f"once (no space between letters to cut at, or a tokenizer that cannot be cut); "
                    f"the limit is {adapter.max_chars:,}: split the document")
        parts += pieces
        owner += [j] * len(pieces)
    # A few pieces at a time: a tokenizer's intermediate lists stay a few megabytes.
    flats, counts, group, size = [], [], [], 0
    for piece in parts + [None]:
        if piece is None or (group and size + len(piece) > 4 * LONG_DOC):
            f, c = adapter.flat(group)
            flats.append(f)
            counts.append(c)
            group, size = [], 0
        if piece is not None:
            group.append(piece)
            size += len(piece)
    per_piece = np.concatenate(counts)
    per_doc = np.bincount(np.asarray(owner), weights=per_piece, minlength=len(docs))
    return np.concatenate(flats), per_doc.astype(np.int64)


def census_block(block: Block, form: str | None):
    """The UTF-8 size of each (normalized) document of a block: what samples and caps choose by."""
    import numpy as np

    from qtok.scale import read_docs

    return np.fromiter((len(normalize(d, form).encode("utf-8")) for d in read_docs(block)), dtype=np.int64)


class StudyCounter:
    """The picklable factory of ``count_block`` (see qtok.scale.run): worker processes and Ray
    actors rebuild the tokenizers from their specs; this process reuses its own."""

    def __init__(self, adapters: list[Adapter], form: str | None):
        self.adapters, self.form = adapters, form
        self.specs = [a.spec for a in adapters] if all(a.spec for a in adapters) else None

    def __getstate__(self):
        if self.specs is None:
            raise ValueError("tokenizers built by hand cannot be sent to worker processes or Ray; "
                             "load them with get_adapter (by name or file), or use --jobs 1")
        return {"specs": self.specs, "form": self.form}

    def __setstate__(self, state):
        self.specs, self.form, self.adapters = state["specs"], state["form"], None

    def __call__(self):
        from functools import partial

        from .tokenizers import load_adapters

        adapters = self.adapters if self.adapters is not None else load_adapters(self.specs)
        return partial(count_block, adapters=adapters, form=self.form)


class CensusCounter:
    def __init__(self, form: str | None):
        self.form = form

    def __call__(self):
        from functools import partial

        return partial(census_block, form=self.form)


def select_docs(blocks: list[Block], sizes: dict[int, "object"], *, sample: int | None, seed: int,
                max_docs: int | None, max_bytes: int | None) -> list[Block]:
    """Set each block's ``select`` from the census (``sizes``: block index -> document sizes),
    per language: ``sample`` documents drawn without replacement by ``seed`` (the same draw for
    languages with as many documents, so a parallel corpus stays parallel), then the first
    ``max_docs``, then documents while fewer than ``max_bytes`` came before. Blocks left with
    nothing to count are dropped."""
    import numpy as np

    out = []
    langs = list(dict.fromkeys(b.group for b in blocks))
    for lang in langs:
        mine = [b for b in blocks if b.group == lang and b.index in sizes]
        per = [sizes[b.index] for b in mine]
        all_sizes = np.concatenate(per) if per else np.zeros(0, dtype=np.int64)
        idx = np.arange(len(all_sizes))
        if sample is not None and sample < len(idx):
            idx = np.sort(np.random.default_rng(seed).choice(len(idx), sample, replace=False))
        if max_docs is not None:
            idx = idx[:max_docs]
        if max_bytes is not None:
            before = np.cumsum(all_sizes[idx]) - all_sizes[idx]
            idx = idx[before < max_bytes]
        offset = 0
        for b, s in zip(mine, per):
            local = idx[(idx >= offset) & (idx < offset + len(s))] - offset
            offset += len(s)
            if len(local):
                b.select = local.tolist()
                out.append(b)
        if not any(b.group == lang for b in out) and len(all_sizes):
            raise ValueError(f"--max-bytes/--max-docs leave no document of {lang!r}")
    return number(out)


def plan_blocks(corpus: Corpus, normalization: str | None, *, sample: int | None, seed: int,
                max_docs: int | None, max_bytes: int | None, backend: str, jobs: int | None,
                address: str | None, block_bytes: int) -> list[Block]:
    """The corpus cut into blocks, with the documents a sample or a cap selects."""
    blocks = number(b for lang in corpus.langs for b in corpus.blocks(lang, block_bytes))
    if sample is None and max_docs is None and max_bytes is None:
        return blocks
    from qtok.scale import run

    sizes = {}
    if sample is None:
        # First documents only: read blocks in order until every language's cap is reached.
        fn = CensusCounter(normalization)()
        used: dict[str, list[int]] = {}
        for b in blocks:
            docs, nbytes = used.setdefault(b.group, [0, 0])
            if (max_docs is not None and docs >= max_docs) or (max_bytes is not None and nbytes >= max_bytes):
                continue
            sizes[b.index] = fn(b)
            used[b.group] = [docs + len(sizes[b.index]), nbytes + int(sizes[b.index].sum())]
    else:
        for i, s in run(CensusCounter(normalization), blocks, backend=backend, jobs=jobs,
                        address=address, desc="census"):
            sizes[i] = s
    return select_docs(blocks, sizes, sample=sample, seed=seed, max_docs=max_docs, max_bytes=max_bytes)


def count_corpus(corpus: Corpus, adapters: list[Adapter], normalization: str | None, *,
                 backend: str = "local", jobs: int | None = None, address: str | None = None,
                 sample: int | None = None, seed: int = 0, max_docs: int | None = None,
                 max_bytes: int | None = None, progress: bool | None = None,
                 block_bytes: int = BLOCK_BYTES, pool: str | None = None
                 ) -> tuple[dict[str, list[dict]], dict, dict, dict[str, str]]:
    """Count every block and merge per language, in block order: the rows of each language, each
    tokenizer's tokens per document, how the work was done, and the start (up to 1,000
    characters, normalized) of each language's first counted document."""
    import numpy as np

    from qtok.scale import run

    blocks = plan_blocks(corpus, normalization, sample=sample, seed=seed, max_docs=max_docs,
                         max_bytes=max_bytes, backend=backend, jobs=jobs, address=address,
                         block_bytes=block_bytes)
    total = sum(b.stop - b.start if b.kind != "docs" else sum(map(len, b.docs or [])) for b in blocks)
    if backend == "ray":
        pool = "ray"
    elif pool is None:
        pool = "process" if total >= PROCESS_BYTES else "thread"
    elif pool not in ("process", "thread"):
        raise ValueError(f"pool must be 'process' or 'thread', got {pool!r}")
    factory = StudyCounter(adapters, normalization)
    names = [a.name for a in adapters]
    merged: dict[str, dict] = {}
    lengths: dict[tuple[str, str], dict[int, object]] = {}
    samples: dict[str, dict[int, list[str]]] = {}
    group = {b.index: b.group for b in blocks}
    for i, part in run(factory, blocks, backend=backend, jobs=jobs, address=address, progress=progress,
                       desc="blocks", threads=pool == "thread"):
        lang = group[i]
        m = merged.setdefault(lang, {"stats": Counter(), "freq": {}, "continued": {n: [0, 0] for n in names}})
        m["stats"].update(part["stats"])
        samples.setdefault(lang, {})[i] = part["sample"]
        for n in names:
            f, g = m["freq"].get(n), part["freq"][n]
            if f is None:
                m["freq"][n] = g
            else:
                if len(g) > len(f):
                    f, g = g, f
                f[:len(g)] += g
                m["freq"][n] = f
            m["continued"][n][0] += part["continued"][n][0]
            m["continued"][n][1] += part["continued"][n][1]
            lengths.setdefault((n, lang), {})[i] = part["lengths"][n]
    by_lang, doc_tokens, first_docs = {}, {}, {}
    for lang in corpus.langs:
        if lang not in merged or merged[lang]["stats"]["n_docs"] == 0:
            raise ValueError(f"language {lang!r} of corpus {corpus.name!r} has no documents")
        m = merged[lang]
        pieces = [piece for i in sorted(samples[lang]) for piece in samples[lang][i]]
        first_docs[lang] = pieces[0]
        text = ""
        for piece in pieces:
            if len(text) < 1000:
                text += piece
        script = "code" if lang.startswith("code") else dominant_script(text)
        stats = {k: int(m["stats"][k]) for k in ("n_docs", "n_bytes", "n_chars", "n_words")}
        rows = []
        for a in adapters:
            per_doc = np.concatenate([lengths[a.name, lang][i] for i in sorted(lengths[a.name, lang])])
            doc_tokens[a.name, lang] = per_doc.tolist()
            f = m["freq"][a.name]
            used = f[f > 0]
            unk = [i for i in a.unk_ids if i < len(f)]
            num, den = m["continued"][a.name]
            rows.append(dict(tokenizer=a.name, lang=lang, **stats, n_tokens=int(per_doc.sum()),
                             n_unk=int(f[unk].sum()) if unk else 0,
                             renyi_efficiency=renyi_efficiency(used, max(a.vocab_size, len(f))),
                             vocab_utilization=vocab_utilization(used, max(a.vocab_size, len(f))),
                             continued_words=num / den if den else NAN, script=script))
        by_lang[lang] = rows
    how = {"backend": backend, "pool": pool, "jobs": jobs or (os.cpu_count() or 1),
           "blocks": len(blocks), "block_bytes": block_bytes,
           "sample": None if sample is None else {"documents": sample, "seed": seed,
                                                  "method": "uniform without replacement"}}
    if address:
        how["address"] = address
    return by_lang, doc_tokens, how, first_docs


def run_study(corpus: Corpus, adapters: list[Adapter], *, baseline: str = "xlm-r",
              normalization: str | None = "NFC", max_docs: int | None = None,
              max_bytes: int | None = None, jobs: int | None = None,
              progress: bool | None = None, reference_lang: str = "en",
              n_boot: int = N_BOOT, seed: int = SEED, backend: str = "local",
              address: str | None = None, sample: int | None = None,
              block_bytes: int = BLOCK_BYTES, pool: str | None = None) -> Study:
    """Count all languages (``backend="local"``: on all cores; ``"ray"``: on Ray), then the
    metrics, the paper's values and 95% bootstrap intervals. The counts are identical whichever
    backend and however many workers count them (``pool``: ``"process"`` or ``"thread"`` for the
    local backend; default: processes from ``PROCESS_BYTES`` of text on). ``seed`` draws both the ``sample`` of documents
    and the bootstrap's replicates."""
    names = [a.name for a in adapters]
    if len(set(names)) != len(names):
        raise ValueError(f"tokenizer names must be distinct, got {names}; name files with NAME=PATH")
    if baseline not in names:
        raise ValueError(f"the baseline {baseline!r} is not among the tokenizers {names}; add it "
                         "to --tokenizers or choose another with --baseline")
    if reference_lang not in corpus.langs:
        raise ValueError(f"the reference language {reference_lang!r} is not in the corpus; choose "
                         f"one of {', '.join(corpus.langs)} with --reference-lang")
    for flag, value in (("--sample", sample), ("--max-docs", max_docs), ("--max-bytes", max_bytes)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    start = time.perf_counter()
    by_lang, doc_tokens, how, first_docs = count_corpus(
        corpus, adapters, normalization, backend=backend, jobs=jobs, address=address, sample=sample,
        seed=seed, max_docs=max_docs, max_bytes=max_bytes, progress=progress,
        block_bytes=block_bytes, pool=pool)
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
        "counting": how,
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
    return Study(rows, corpus.langs, names, baseline, meta, doc_tokens,
                 samples=sample_tokens(first_docs, adapters))


def sample_tokens(first_docs: dict[str, str], adapters: list[Adapter]) -> dict:
    """The first sentence of each language's first counted document, tokenized by each adapter
    that can show spans: what report.html colours."""
    from .report import sample_sentence

    out = {}
    for lang, first in first_docs.items():
        text = sample_sentence(first)
        out[lang] = {"text": text, "tokens": {a.name: a.spans(text) for a in adapters if a.spans}}
    return out


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
    ``<stem>-paper.png`` and ``<stem>-premium.png`` where they apply), ``report.html`` (all of it
    on one self-contained page) and, last, ``<stem>.json``
    (metadata, and the sha256 of every file of this run: the manifest that ties them together).
    Each file is written atomically, so an interrupted run leaves the previous files whole."""
    import io

    import matplotlib.pyplot as plt

    from qtok.files import atomic_write, make_dir
    from qtok.load import sha256_bytes

    from .plots import compression_figure, paper_figure, premium_figure

    out = make_dir(out, "--out ")
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
    from .report import render_report

    report_meta = dict(study.meta, columns=columns)
    files[f"{stem}-report.html" if stem != "compression" else "report.html"] = render_report(
        study, {n: d for n, d in files.items() if n.endswith(".png")}, _json_safe(report_meta)).encode("utf-8")
    for name in list(files) + [f"{stem}.json"]:  # before anything is written
        if (out / name).is_dir():
            raise ValueError(f"{out / name} is a directory; remove it or choose another --out")
    paths = {}
    for name, data in files.items():
        paths[name] = atomic_write(out / name, data)
    meta = dict(study.meta, columns=columns, files={n: sha256_bytes(d) for n, d in files.items()})
    paths[f"{stem}.json"] = atomic_write(out / f"{stem}.json",
                                         json.dumps(_json_safe(meta), indent=2, ensure_ascii=False) + "\n")
    return paths


def verify_results(out: str | Path, stem: str = "compression") -> dict:
    """The manifest ``<stem>.json`` of a results directory, after checking that every file it
    lists is there with the hash it records: files of one run, not a mix of an interrupted run
    and an earlier one. A ``ValueError`` names the first file that does not belong."""
    from qtok.load import sha256_file

    out = Path(out)
    try:
        meta = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{out} has no {stem}.json: no complete run was written there") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{out / (stem + '.json')} is not valid JSON ({e}); rerun the study") from None
    for name, digest in meta.get("files", {}).items():
        path = out / name
        if not path.is_file() or sha256_file(path) != digest:
            raise ValueError(f"{path} does not match the manifest {stem}.json (a later run was "
                             "interrupted, or the file was edited); rerun the study")
    return meta


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
