"""The study's results: the headline table (one builder for the terminal and report.html), and the
files of a run — the CSV, the figures, report.html and, last, the JSON manifest that ties them
together — written atomically, verified and read back.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from qtok.files import atomic_write, make_dir
from qtok.load import sha256_bytes, sha256_file

from .metrics import COLUMNS, METRICS
from .plots import compression_figure, paper_figure, premium_figure
from .report import render_report
from .study import EXTRA, Study


def fmt(value, spec: str = ".3f") -> str:
    """A number as the tables show it; NaN (or None) is "–" in the terminal and in the report.

    >>> fmt(0.91234), fmt(float("nan")), fmt(0.05, "+.2f")
    ('0.912', '–', '+0.05')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


@dataclass
class Headline:
    """The headline table: one row per language, a column per tokenizer and, for tokenizers of
    the Qwen report's chart, the paper's value, measured minus paper and the 95% interval."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[str], list[str]]]  # (lang, cells, each cell's warning or "")
    warnings: list[str]


def headline(study: Study, column: str = "compression") -> Headline:
    grid = {(r["tokenizer"], r["lang"]): r for r in study.rows}
    charted = [t for t in study.tokenizers
               if column == "compression" and any(not math.isnan(grid[t, lang]["paper"])
                                                  for lang in study.langs if (t, lang) in grid)]
    columns = list(study.tokenizers) + [c for t in charted for c in (f"{t}: paper", "diff", "95% interval")]
    rows = []
    for lang in study.langs:
        cells, flags = [], []
        for t in study.tokenizers:
            cells.append(fmt(grid[t, lang][column]))
            flags.append(grid[t, lang].get("reason") or "")
        for t in charted:
            r = grid[t, lang]
            interval = "" if math.isnan(r["compression_lo"]) else \
                f"[{r['compression_lo']:.3f}, {r['compression_hi']:.3f}]"
            cells += [fmt(r["paper"], ".2f"), fmt(r["paper_diff"], "+.2f"), interval]
            flags += ["", "", ""]
        rows.append((lang, cells, flags))
    title = (f"compression (tokens / {study.baseline} tokens; lower is better; paper = the Qwen "
             "report's figure, read off +-0.02)" if column == "compression" else column)
    warnings = sorted({r["reason"] for r in study.rows if r.get("reason")})
    return Headline(title, columns, rows, warnings)


def format_table(study: Study, column: str = "compression") -> str:
    """The headline table as text: one line per language, one column per tokenizer."""
    h = headline(study, column)
    widths = [max(11, len(c) + 1) if i < len(study.tokenizers) else max(8, len(c) + 1)
              for i, c in enumerate(h.columns)]
    widths = [max(w, *(len(cells[i]) + 1 for _, cells, _ in h.rows)) for i, w in enumerate(widths)]
    lang_w = max(6, *(len(lang) + 1 for lang in study.langs))
    lines = [h.title, f"{'lang':<{lang_w}}" + "".join(f"{c:>{w}}" for c, w in zip(h.columns, widths))]
    for lang, cells, _ in h.rows:
        lines.append(f"{lang:<{lang_w}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    lines += [f"warning: {w}: ratio left NaN" for w in h.warnings]
    return "\n".join(lines)


def write_results(study: Study, out: str | Path, stem: str = "compression") -> dict[str, Path]:
    """Write ``<stem>.csv`` (long table + metrics), the figures (``<stem>.png``, and
    ``<stem>-paper.png`` and ``<stem>-premium.png`` where they apply), ``report.html`` (all of it
    on one self-contained page) and, last, ``<stem>.json``
    (metadata, and the sha256 of every file of this run: the manifest that ties them together).
    Each file is written atomically, so an interrupted run leaves the previous files whole."""
    import matplotlib.pyplot as plt  # heavy: only when figures are drawn

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
    report_meta = dict(study.meta, columns=columns)
    files[f"{stem}-report.html" if stem != "compression" else "report.html"] = render_report(
        study, headline(study), {n: d for n, d in files.items() if n.endswith(".png")},
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
            if k in r and k not in ("reason", "n_unk", "script"):
                r[k] = float(r[k]) if r[k] not in ("", "nan") else float("nan")
    return rows
