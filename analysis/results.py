"""The study's results: the headline table (one builder for the terminal and report.html), and the
files of a run — the CSV, the figures, report.html and, last, the JSON manifest that ties them
together — written atomically, verified and read back.
"""

from __future__ import annotations

import csv
import io
import json
import math
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from qtok.files import atomic_write, make_dir
from qtok.load import sha256_bytes, sha256_file

from .metrics import COLUMNS, METRICS
from .plots import (
    compression_figure,
    metric_figure,
    overlap_figure,
    paper_figure,
    premium_figure,
)
from .report import FIGURE_DPI, render_report
from .study import EXTRA, Study


def fmt(value, spec: str = ".3f") -> str:
    """A number as the tables show it; NaN (or None) is "–" in the terminal and in the report.

    A value that rounds to zero has no minus sign (``-0.001`` is ``+0.00``, not ``-0.00``).

    >>> fmt(0.91234), fmt(float("nan")), fmt(0.05, "+.2f"), fmt(-0.001, "+.2f"), fmt(-0.0004)
    ('0.912', '–', '+0.05', '+0.00', '0.000')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = format(value, spec)
    if text.startswith("-") and float(text) == 0:
        text = ("+" if "+" in spec else "") + text[1:]
    return text


# --metric NAME: (column, the column its 95% interval comes from or None, title, number format).
TABLE_METRICS = {
    "nsl": ("nsl", "compression", "NSL: tokens / {baseline} tokens ({baseline} = 1, lower is better)", ".3f"),
    "compression": ("compression", "compression",
                    "compression (= NSL): tokens / {baseline} tokens ({baseline} = 1, lower is better)", ".3f"),
    "premium": ("premium", "premium",
                "premium: tokens / the same tokenizer's tokens on {reference} (parallel text)", ".3f"),
    "fertility": ("fertility", None, "fertility: tokens per whitespace word", ".3f"),
    "renyi": ("renyi_efficiency", None, "Rényi efficiency (alpha 2.5) of the token distribution", ".3f"),
    "split_rate": ("split_rate", None, ("character split rate: share of characters whose bytes "
                                        "two or more tokens share (byte-level tokenizers)"), ".3f"),
    "strr": ("strr", None, "STRR: share of word occurrences kept as one token", ".3f"),
    "avg_rank": ("avg_rank", None, "vocabulary allocation: average rank of the tokens used", ".1f"),
    "chars_per_token": ("chars_per_token", None, "characters per token", ".3f"),
    "bytes_per_token": ("bytes_per_token", None, "UTF-8 bytes per token", ".3f"),
    "nfd_ratio": ("nfd_ratio", None, "tokens on NFD text / tokens on NFC text (a sample of each block)", ".3f"),
    "cost": ("cost_per_1k", "cost_per_1k", ("cost of 1,000 words (characters where a script has no spaces) "
                                            "at --price per million tokens"), ".4f"),
    "context": ("context_fit", "context_fit", "words (characters where a script has no spaces) that fit "
                                              "in --context tokens", ".0f"),
}


@dataclass
class Headline:
    """The headline table: one row per language; per tokenizer the metric and, where it has one,
    its 95% interval; for tokenizers of the Qwen report's chart (when the corpus is comparable),
    the paper's value and measured minus paper."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[str], list[str]]]  # (lang, cells, each cell's note or "")
    warnings: list[str]


def _interval(r: dict, column: str, spec: str = ".3f") -> str:
    lo, hi = r.get(f"{column}_lo", math.nan), r.get(f"{column}_hi", math.nan)
    return "–" if math.isnan(lo) else f"[{lo:{spec}}, {hi:{spec}}]"


def headline(study: Study, metric: str = "nsl") -> Headline:
    if metric not in TABLE_METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(sorted(TABLE_METRICS))}")
    column, ci, title, spec = TABLE_METRICS[metric]
    grid = {(r["tokenizer"], r["lang"]): r for r in study.rows}
    charted = [t for t in study.tokenizers
               if ci == "compression" and any(not math.isnan(grid[t, lang].get("paper", math.nan))
                                              for lang in study.langs if (t, lang) in grid)]
    # The baseline's NSL is 1 by definition: no interval column for it.
    with_ci = [t for t in study.tokenizers if ci and not (ci == "compression" and t == study.baseline)]
    columns = []
    for t in study.tokenizers:
        columns.append(t)
        if t in with_ci:
            columns.append(f"{t} 95%")
    columns += [c for t in charted for c in (f"{t}: paper", f"{t}: diff")]
    def value_of(r: dict):
        return r.get(column, r.get("compression", math.nan) if column == "nsl" else math.nan)

    def nan(v) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    # A metric a tokenizer has for no language does not apply to it (the split rate to a
    # tokenizer that is not byte-level): that is its note, not the row's other reasons.
    not_for = {t for t in study.tokenizers if column not in ("compression", "nsl", "premium")
               and all(nan(value_of(grid[t, lang])) for lang in study.langs if (t, lang) in grid)}
    priced = study.meta.get("costs", {}).get("prices_per_million_tokens", {})
    rows = []
    for lang in study.langs:
        cells, flags = [], []
        for t in study.tokenizers:
            r = grid[t, lang]
            value = value_of(r)
            cells.append(fmt(value, spec))
            # A note marks the cell it explains: a missing value, or a missing interval.
            missing = nan(value)
            flags.append(f"no --price for {t}" if metric == "cost" and t not in priced
                         else f"{metric.replace('_', ' ')} does not apply to {t}" if t in not_for
                         else (r.get("reason") or "") if missing else "")
            if t in with_ci:
                cells.append(_interval(r, ci, spec))
                flags.append((r.get("reason") or "") if cells[-1] == "–" and not missing else "")
        for t in charted:
            r = grid[t, lang]
            cells += [fmt(r["paper"], ".2f"), fmt(r["paper_diff"], "+.2f")]
            flags += ["", ""]
        rows.append((lang, cells, flags))
    reference = study.meta.get("reference_lang", "en")
    title = title.format(baseline=study.baseline, reference=reference)
    if charted:
        title += "; paper = the Qwen report's figure, read off +-0.02"
    # A note for each reason that explains a cell of this table (an interval the metric has not
    # is no note), naming the languages whose cells it marks.
    marked: dict[str, list[str]] = {}
    for lang, _, flags in rows:
        for flag in flags:
            if flag and lang not in marked.setdefault(flag, []):
                marked[flag].append(lang)
    warnings = [f"{reason} ({'every language' if len(langs) == len(rows) > 1 else ', '.join(langs)})"
                for reason, langs in sorted(marked.items())]
    return Headline(title, columns, rows, warnings)


def format_table(study: Study, metric: str = "nsl") -> str:
    """The headline table as text: one line per language, one column per tokenizer (and its
    interval), notes below."""
    h = headline(study, metric)
    widths = [max(len(c), *(len(cells[i]) for _, cells, _ in h.rows)) + 2 for i, c in enumerate(h.columns)]
    lang_w = max(6, *(len(lang) + 1 for lang in study.langs))
    lines = [h.title, f"{'lang':<{lang_w}}" + "".join(f"{c:>{w}}" for c, w in zip(h.columns, widths))]
    for lang, cells, _ in h.rows:
        lines.append(f"{lang:<{lang_w}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    lines += [f"note: {w}" for w in h.warnings]
    return "\n".join(lines)


def figure_specs(study: Study, stem: str = "compression", metric: str = "nsl") -> dict[str, tuple]:
    """The figures a study's results include: file name -> (plots function, args, kwargs)."""
    specs = {f"{stem}.png": (compression_figure, (study.rows, study.langs, study.tokenizers,
                                                  study.baseline, study.meta["corpus_name"]), {})}
    if any(not math.isnan(r["paper"]) for r in study.rows):
        specs[f"{stem}-paper.png"] = (paper_figure, (study.rows, study.tokenizers), {})
    if len(study.meta.get("parallel_languages", [])) > 1:
        specs[f"{stem}-premium.png"] = (premium_figure, (
            study.rows, [lang for lang in study.langs if lang in study.meta["parallel_languages"]],
            study.tokenizers, study.meta.get("reference_lang", "en")), {})
    if any(not math.isnan(r.get("cost_per_1k", math.nan)) for r in study.rows):
        prices = study.meta.get("costs", {}).get("prices_per_million_tokens", {})
        specs[f"{stem}-cost.png"] = (metric_figure, (study.rows, "cost_per_1k", study.langs, study.tokenizers), dict(
            title="Cost of 1,000 words (characters for scripts without spaces) at "
                  + ", ".join(f"{t} {p:g}" for t, p in prices.items()) + " per million tokens",
            label="cost per 1,000 words / characters"))
    column, _, title, _ = TABLE_METRICS[metric]
    if column not in ("compression", "nsl", "premium", "cost_per_1k"):
        specs[f"{stem}-{metric}.png"] = (metric_figure, (study.rows, column, study.langs, study.tokenizers), dict(
            title=title.format(baseline=study.baseline, reference=study.meta.get("reference_lang", "en")),
            label=metric.replace("_", " ")))
    if study.overlap:
        first = next(iter(study.overlap))
        spec = overlap_spec(first, study.overlap[first], study.meta["overlap"]["languages"],
                            {r["lang"]: r.get("script", "") for r in study.rows})
        if spec is not None:
            specs[f"{stem}-overlap.png"] = spec
    return specs


def overlap_spec(tokenizer: str, matrix: list[list[float]], langs: list[str], scripts: dict[str, str]):
    """The overlap figure's spec (``figure_specs``), or None below 3 languages: ``run_study``'s
    ``on_overlap`` hands it over as soon as the matrix exists, before the intervals."""
    return (overlap_figure, (matrix, langs, tokenizer, scripts), {}) if len(langs) >= 3 else None


def render_png(spec: tuple) -> bytes:
    """A figure spec (``figure_specs``) drawn and saved as PNG bytes, the figure closed."""
    import matplotlib.pyplot as plt  # heavy: only when figures are drawn

    fn, args, kwargs = spec
    fig = fn(*args, **kwargs)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=FIGURE_DPI)
    plt.close(fig)
    return png.getvalue()


class FigureDrawer:
    """The factory of a figure worker (``qtok.runner.Workers``): it imports matplotlib, which is
    most of its start, then draws specs; ``None`` only warms it up."""

    def __call__(self):
        import matplotlib.pyplot  # noqa: F401

        return lambda spec: None if spec is None else render_png(spec)


def draw_away(workers, spec):
    """A Future of ``spec`` drawn by the figure worker (``FigureDrawer``), or None when there is
    none or it is gone or stopped: the caller draws it itself."""
    if workers is None:
        return None
    try:
        return workers.submit(spec)
    except (BrokenProcessPool, RuntimeError):
        return None


def write_results(study: Study, out: str | Path, stem: str = "compression",
                  metric: str = "nsl", workers=None, drawing: dict | None = None) -> dict[str, Path]:
    """Write ``<stem>.csv`` (long table + metrics), the figures (``<stem>.png``, and
    ``<stem>-paper.png`` and ``<stem>-premium.png`` where they apply), ``report.html`` (all of it
    on one self-contained page) and, last, ``<stem>.json``
    (metadata, and the sha256 of every file of this run: the manifest that ties them together).
    Each file is written atomically, so an interrupted run leaves the previous files whole.

    ``workers`` (a ``qtok.runner.Workers`` of ``FigureDrawer``) draws the overlap figure beside
    this process while it draws the others: that figure grows with the square of the languages
    (1.5-2 s of the 128-language study's ~3.5 s of figures). The PNG bytes are the same.
    ``drawing``: figures already submitted to it (file name -> Future), as the command line does
    with the overlap figure while the study computes its intervals; one that fails is drawn here."""
    out = make_dir(out, "--out ")
    columns = COLUMNS + METRICS + EXTRA
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(study.rows)
    files = {f"{stem}.csv": buf.getvalue().encode("utf-8")}
    specs = figure_specs(study, stem, metric)
    away = {name: future for name, future in (drawing or {}).items() if name in specs}
    # The worker draws the overlap figure and then the paper's (~0.2 s), which balances the two
    # processes; this one draws the rest.
    for name in (f"{stem}-overlap.png", f"{stem}-paper.png"):
        if name in specs and name not in away and (future := draw_away(workers, specs[name])):
            away[name] = future
    for name, spec in specs.items():
        if name not in away:
            files[name] = render_png(spec)
    for name, future in away.items():
        try:
            files[name] = future.result()
        except (BrokenProcessPool, CancelledError):  # the worker died (killed, out of memory): drawn here
            files[name] = render_png(specs[name])
    files = {name: files[name] for name in [f"{stem}.csv", *specs]}  # the files in the usual order
    report_meta = dict(study.meta, columns=columns)
    files[f"{stem}-report.html" if stem != "compression" else "report.html"] = render_report(
        study, headline(study, metric), {n: d for n, d in files.items() if n.endswith(".png")},
        _json_safe(report_meta)).encode("utf-8")
    for name in list(files) + [f"{stem}.json"]:  # before anything is written
        if (out / name).is_dir():
            raise ValueError(f"{out / name} is a directory; remove it or choose another --out")
    previous = _listed(out / f"{stem}.json")
    paths = {}
    for name, data in files.items():
        paths[name] = atomic_write(out / name, data)
    # Files an earlier run's manifest listed and this run did not write (a premium figure of a
    # corpus with more languages, say) go before the new manifest: the directory is one run.
    for name in sorted(previous - set(files)):
        (out / name).unlink(missing_ok=True)
    meta = dict(study.meta, columns=columns, files={n: sha256_bytes(d) for n, d in files.items()})
    paths[f"{stem}.json"] = atomic_write(out / f"{stem}.json",
                                         json.dumps(_json_safe(meta), indent=2, ensure_ascii=False) + "\n")
    return paths


def _listed(manifest: Path) -> set[str]:
    """The plain file names a manifest lists ("" for none or an unreadable one); never a path
    elsewhere, whatever the JSON says."""
    try:
        files = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in files if isinstance(n, str) and n == Path(n).name and n not in ("", ".", "..")}


def verify_results(out: str | Path, stem: str = "compression") -> dict:
    """The manifest ``<stem>.json`` of a results directory, after checking that every file it
    lists is there with the hash it records: files of one run, not a mix of an interrupted run
    and an earlier one. A ``ValueError`` names the first file that does not belong."""
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
            if k in r and k not in ("reason", "n_unk", "script", "unit"):
                r[k] = float(r[k]) if r[k] not in ("", "nan") else float("nan")
    return rows
