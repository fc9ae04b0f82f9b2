"""The study: count a corpus with every tokenizer (``count.py``), then the metrics
(``metrics.py``), the paper's values and 95% bootstrap intervals (``uncertainty.py``), as one
long table with the run's metadata. The command line (``python -m qtok.analysis``) and the notebooks
call ``run_study`` and then ``results.write_results``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from qtok.blocks import BLOCK_BYTES

from .corpora import DATA, Corpus, chart_code
from .cost import COST_COLUMNS, add_costs, check_context
from .count import count_corpus
from .metrics import NAN, RENYI_ALPHA, UNK_THRESHOLD, add_metrics, gini, overlap_matrix
from .report import sample_sentence
from .tokenizers import Adapter
from .uncertainty import N_BOOT, SEED, Resampler

# The study's tokenizer names -> the Qwen report chart's columns (pass a file under one of these
# names, e.g. --tokenizers llama=path/to/LLaMA-7B/tokenizer.model, to get that row's paper value).
PAPER_COLUMNS = {"qwen": "Qwen", "llama": "LLaMA-7B", "baichuan": "Baichuan-7B",
                 "chatglm2": "ChatGLM2-6B", "internlm": "InternLM-7B"}
# Intervals need enough documents: the percentile bootstrap's coverage falls well below its
# nominal 95% on small samples (Hesterberg 2015, "What Teachers Should Know About the Bootstrap",
# The American Statistician 69(4), finds it too narrow for n below ~30-50 even for means of
# moderately skewed data; news documents' token counts are skewed). Below this, no interval.
MIN_DOCS_INTERVAL = 30
EXTRA = ["script", "n_unk", "renyi_efficiency", "vocab_utilization", "continued_words",
         "split_rate", "avg_rank", "nfd_ratio", "compression_lo",
         "compression_hi", "premium_lo", "premium_hi", "paper", "paper_diff", *COST_COLUMNS, "reason"]


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
    # Vocabulary overlap: tokenizer -> Jensen-Shannon divergences between languages (langs order).
    overlap: dict = field(default_factory=dict, repr=False)


def run_study(corpus: Corpus, adapters: list[Adapter], *, baseline: str = "xlm-r",
              normalization: str | None = "NFC", max_docs: int | None = None,
              max_bytes: int | None = None, jobs: int | None = None,
              progress: bool | None = None, reference_lang: str = "en",
              n_boot: int = N_BOOT, seed: int = SEED, backend: str = "local",
              address: str | None = None, sample: int | None = None,
              block_bytes: int = BLOCK_BYTES, pool: str | None = None,
              compare_paper: bool | None = None,
              prices: dict[str, float] | None = None, context: int | None = None,
              status: Callable[[str], None] = lambda message: None,
              warn: Callable[[str], None] = lambda message: None,
              on_overlap: Callable[[str, list, list[str], dict[str, str]], None] | None = None) -> Study:
    """Count all languages (``backend="local"``: on all cores; ``"ray"``: on Ray), then the
    metrics, the paper's values and 95% bootstrap intervals. The counts are identical whichever
    backend and however many workers count them (``pool``: ``"process"`` or ``"thread"`` for the
    local backend; default: processes from ``PROCESS_BYTES`` of text on). ``seed`` draws both the ``sample`` of documents
    and the bootstrap's replicates.

    Nothing is claimed that the data cannot support: premiums only between languages with as many
    documents as the reference language (which must be in the corpus), intervals only from
    ``MIN_DOCS_INTERVAL`` documents, the Qwen report's values only beside a corpus like the one it
    measured (``corpus.comparable``) unless ``compare_paper``. Each refusal is a NaN with a
    ``reason`` and, once, a line to ``warn``.

    ``on_overlap(tokenizer, matrix, languages, scripts)`` is called with the first overlap matrix
    (rounded as the results keep it) in the thread that computed it, as soon as it is done,
    while this thread computes the intervals: the command line draws its figure in another
    process meanwhile (it was the last figure to finish when it waited for the intervals)."""
    said: list[str] = []  # every warning, kept in the results too (--quiet prints none)

    def warn_and_keep(line: str, tell=warn) -> None:
        said.append(line)
        tell(line)

    warn = warn_and_keep
    names = [a.name for a in adapters]
    if len(set(names)) != len(names):
        raise ValueError(f"tokenizer names must be distinct, got {names}; name files with NAME=PATH")
    if baseline not in names:
        raise ValueError(f"the baseline {baseline!r} is not among the tokenizers {names}; add it "
                         "to --tokenizers or choose another with --baseline")
    check_context(context)
    if prices and (unknown := sorted(set(prices) - set(names))):
        raise ValueError(f"prices name {unknown}, which are not among the tokenizers {names}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise ValueError(f"--bootstrap must be 0 (no intervals) or a positive number of replicates, got {n_boot!r}")
    for flag, value in (("--sample", sample), ("--max-docs", max_docs), ("--max-bytes", max_bytes)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    if reference_lang not in corpus.langs:  # eng, eng_Latn: the codes --langs maps, mapped alike
        reference_lang = chart_code(reference_lang)
    status(f"counting {len(corpus.langs)} languages with {len(adapters)} tokenizers")
    start = time.perf_counter()
    counted = count_corpus(
        corpus, adapters, normalization, backend=backend, jobs=jobs, address=address, sample=sample,
        seed=seed, max_docs=max_docs, max_bytes=max_bytes, progress=progress,
        block_bytes=block_bytes, pool=pool)
    doc_tokens, how = counted.doc_tokens, counted.how
    table = [row for lang in corpus.langs for row in counted.rows[lang]]
    # The vocabulary overlap first, one tokenizer's matrix a thread (numpy's gathers and sums
    # release the GIL), while this thread goes on with the metrics and intervals.
    text_langs = [lang for lang in corpus.langs if not lang.startswith("code")]
    shown = [t for t in names if t != baseline]
    scripts = {r["lang"]: r["script"] for r in table}

    def matrix(t):
        m = overlap_matrix([counted.used_tokens[t, lang] for lang in text_langs]).round(4).tolist()
        if on_overlap is not None and t == shown[0]:  # returns before the matrix's result does
            on_overlap(t, m, text_langs, scripts)
        return m

    threads = ThreadPoolExecutor(max(1, min(len(shown), os.cpu_count() or 1)))
    matrices = {t: threads.submit(matrix, t) for t in shown}
    threads.shutdown(wait=False)  # the threads end with their matrices
    # Parallel is decided on the corpus: a sample drawn from languages of unequal size has equal
    # sizes, yet its documents are not translations of each other.
    n_docs = counted.population or {lang: counted.rows[lang][0]["n_docs"] for lang in corpus.langs}
    parallel, not_parallel = check_parallel(corpus.parallel, n_docs, reference_lang)
    if not_parallel:
        first = next(iter(not_parallel.values()))
        if first.startswith("no premium"):
            warn(first)
        else:  # one line: "not parallel: en has 92 documents, de 91, th 90"
            warn(f"premium left NaN: not parallel: {reference_lang} has {n_docs[reference_lang]} "
                 f"documents, " + ", ".join(f"{lang} {n_docs[lang]}" for lang in not_parallel))
    rows = add_metrics(table, baseline=baseline, reference_lang=reference_lang, parallel=parallel)
    for r in rows:
        if r["lang"] in not_parallel:
            _add_reason(r, not_parallel[r["lang"]])
    # One set of draws for every ratio: the costs resample the same documents' token sums.
    boot = Resampler(n_boot=n_boot, seed=seed)
    add_intervals(rows, doc_tokens, baseline, reference_lang, parallel, boot)
    add_costs(rows, doc_tokens, counted.doc_units, prices or {}, context, boot, MIN_DOCS_INTERVAL)
    small = sorted({r["lang"] for r in rows if 0 < r["n_docs"] < MIN_DOCS_INTERVAL})
    if small and n_boot:
        warn(f"no 95% intervals for {', '.join(small)}: fewer than {MIN_DOCS_INTERVAL} documents each")
    note_size_dependence(rows, reference_lang, warn)
    show_paper = corpus.comparable if compare_paper is None else compare_paper
    add_paper(rows, baseline if show_paper else None)
    gini_values, gini_reason = premium_gini(rows, names, parallel, reference_lang)
    meta = {
        "corpus": corpus.meta,
        "corpus_name": corpus.name,
        "languages": corpus.langs,
        "parallel_languages": sorted(parallel),
        "parallel_check": {"declared": sorted(corpus.parallel), "documents": n_docs,
                           "not_parallel": not_parallel,
                           "rule": "a language is parallel to the reference when both have the same "
                                   "number of documents"},
        "normalization": normalization or "none",
        "caps": {"max_docs": max_docs, "max_bytes": max_bytes},
        "counting": how,
        "baseline": baseline,
        "reference_lang": reference_lang,
        "bootstrap": {"method": "paired percentile bootstrap over documents", "replicates": n_boot,
                      "seed": seed, "level": 0.95, "min_documents": MIN_DOCS_INTERVAL},
        "unknown_threshold": UNK_THRESHOLD,
        "renyi_alpha": RENYI_ALPHA,
        "costs": {"prices_per_million_tokens": prices or {}, "context_tokens": context,
                  "units": "whitespace words; characters for scripts written without spaces",
                  "interval": "the same paired bootstrap as compression, tokens / units"},
        "premium_gini": gini_values,
        "premium_gini_reason": gini_reason,
        "warnings": said,
        "paper": {"source": "Qwen technical report, Fig. 3 (analysis/data/qwen_report_fig3.tsv)",
                  "read_off_precision": 0.02, "columns": PAPER_COLUMNS, "shown": bool(show_paper),
                  "why": ("the corpus is news/FLORES-style parallel text like the report's"
                          if corpus.comparable and compare_paper is None else
                          "--compare-paper" if compare_paper else
                          "not shown: the report did not measure this corpus (--compare-paper to show)")},
        "tokenizers": {a.name: a.meta for a in adapters},
        "versions": _versions(),
        "seconds": round(time.perf_counter() - start, 2),
    }
    overlap = {t: matrices[t].result() for t in shown}
    meta["overlap"] = {"metric": "Jensen-Shannon divergence of token distributions (base 2)",
                       "languages": text_langs, "matrices": overlap}
    return Study(rows, corpus.langs, names, baseline, meta, doc_tokens,
                 samples=sample_tokens(counted.first_docs, adapters), overlap=overlap)


def sample_tokens(first_docs: dict[str, str], adapters: list[Adapter]) -> dict:
    """The first sentence of each language's first counted document, tokenized by each adapter
    that can show spans: what report.html colours."""
    out = {}
    for lang, first in first_docs.items():
        text = sample_sentence(first)
        out[lang] = {"text": text, "tokens": {a.name: a.spans(text) for a in adapters if a.spans}}
    return out


def check_parallel(declared: set[str], n_docs: dict[str, int], reference_lang: str
                   ) -> tuple[set[str], dict[str, str]]:
    """The languages whose premium can be computed: declared parallel by the corpus, and with as
    many documents as the reference language (which must be in the corpus); and for each other
    language, why not.

    >>> ok, why = check_parallel({"en", "de", "fr"}, {"en": 4, "de": 3, "fr": 4}, "en")
    >>> sorted(ok), why
    (['en', 'fr'], {'de': 'not parallel: en has 4 documents, de 3'})
    >>> check_parallel({"de"}, {"de": 3}, "en")[1]
    {'de': "no premium: the reference language 'en' is not in the corpus (--reference-lang)"}
    """
    if reference_lang not in n_docs:
        why = f"no premium: the reference language {reference_lang!r} is not in the corpus (--reference-lang)"
        return set(), {lang: why for lang in n_docs}
    if reference_lang not in declared:
        return set(), {}
    ref = n_docs[reference_lang]
    out, reasons = set(), {}
    for lang in sorted(declared):
        if n_docs.get(lang) == ref:
            out.add(lang)
        elif lang in n_docs:
            reasons[lang] = (f"not parallel: {reference_lang} has {ref} document{'s' * (ref != 1)}, "
                             f"{lang} {n_docs[lang]}")
    return out, reasons


def premium_gini(rows: list[dict], tokenizers: list[str], parallel: set[str], reference_lang: str
                 ) -> tuple[dict[str, float], str]:
    """Each tokenizer's Gini of premiums over the parallel languages, and why it is NaN (fewer
    than two languages besides the reference)."""
    if not parallel - {reference_lang}:
        why = f"no premium Gini: no language is parallel to {reference_lang!r}"
        return {t: NAN for t in tokenizers}, why
    return {t: gini([r["premium"] for r in rows if r["tokenizer"] == t and r["lang"] in parallel])
            for t in tokenizers}, ""


# Metrics that grow with the amount of text (more text reaches rarer tokens): the same English
# gives an average rank of 1,139 on 1,997 documents and 128 on 40.
SIZE_DEPENDENT = ("avg_rank", "vocab_utilization")


def note_size_dependence(rows: list[dict], reference_lang: str, warn: Callable[[str], None]) -> None:
    """A reason on each row whose language has another number of documents than the reference
    (or, without it, than most languages): its size-dependent metrics are not comparable with
    theirs. Code samples, a domain of their own, are left out."""
    sizes = {r["lang"]: r["n_docs"] for r in rows if not r["lang"].startswith("code")}
    if len(set(sizes.values())) < 2:
        return
    anchor = reference_lang if reference_lang in sizes else max(
        sizes, key=lambda lang: list(sizes.values()).count(sizes[lang]))
    odd = {lang: n for lang, n in sizes.items() if n != sizes[anchor]}
    why = (f"{' and '.join(SIZE_DEPENDENT)} grow with corpus size: compare them only between "
           f"languages with as many documents ({anchor} has {sizes[anchor]})")
    for r in rows:
        if r["lang"] in odd:
            _add_reason(r, f"{why}; {r['lang']} has {odd[r['lang']]}")
    warn(f"{why}; " + ", ".join(f"{lang} has {n}" for lang, n in odd.items()))


def _add_reason(row: dict, note: str) -> None:
    """Append ``note`` to the row's ``reason`` (why a value of it is NaN)."""
    row["reason"] = "; ".join(filter(None, [row.get("reason", ""), note]))


def add_intervals(rows: list[dict], doc_tokens: dict, baseline: str, reference_lang: str,
                  parallel: set[str], boot: Resampler) -> None:
    """``compression_lo/hi`` and ``premium_lo/hi``: 95% paired bootstrap intervals (in place).
    Every ratio over the same number of documents uses the same draws. A language with fewer
    than ``MIN_DOCS_INTERVAL`` documents gets none, and says so in ``reason``."""
    for r in rows:
        t, lang = r["tokenizer"], r["lang"]
        r["compression_lo"] = r["compression_hi"] = r["premium_lo"] = r["premium_hi"] = NAN
        if boot.n_boot and r["n_docs"] < MIN_DOCS_INTERVAL:
            _add_reason(r, f"no interval: {r['n_docs']} document{'s' * (r['n_docs'] != 1)} "
                           f"(< {MIN_DOCS_INTERVAL})")
            continue
        if not math.isnan(r["compression"]):
            r["compression_lo"], r["compression_hi"] = boot.interval(
                (t, lang), doc_tokens[t, lang], (baseline, lang), doc_tokens[baseline, lang])
        if not math.isnan(r["premium"]) and lang in parallel and reference_lang in parallel:
            r["premium_lo"], r["premium_hi"] = boot.interval(
                (t, lang), doc_tokens[t, lang], (t, reference_lang), doc_tokens[t, reference_lang])


def add_paper(rows: list[dict], baseline: str | None) -> None:
    """``paper`` and ``paper_diff``: the Qwen report's value for this tokenizer and language (its
    chart is relative to XLM-R) and measured minus paper (in place; NaN where the chart has none,
    and everywhere when ``baseline`` is None: a corpus the report did not measure)."""
    chart = paper_values() if baseline == "xlm-r" else {}
    for r in rows:
        column = PAPER_COLUMNS.get(r["tokenizer"])
        r["paper"] = chart.get((column, r["lang"]), NAN)
        r["paper_diff"] = r["compression"] - r["paper"]


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ["qtok", "tiktoken", "regex", "tokenizers", "sentencepiece", "datasets", "numpy", "matplotlib"]:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
