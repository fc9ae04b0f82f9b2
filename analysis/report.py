"""The study as one self-contained page, ``report.html``: the headline table (paper, measured,
difference, interval, unknown-token flags), the figures inline as PNG data, the run's metadata,
and for each language one parallel sentence cut into tokens by each tokenizer. No external
request of any kind: no scripts, fonts or images from elsewhere.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import struct

from qtok.offsets import shares

SAMPLE_CHARS = 300  # the sentence shown per language: its first line, at most this long
FIGURE_DPI = 150  # what results.write_results saves figures at


def _png_width(data: bytes) -> int | None:
    """A PNG's width in pixels, from its IHDR chunk (None for anything else)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return struct.unpack(">I", data[16:20])[0]


def sample_sentence(doc: str) -> str:
    """The first non-trivial line of a document, cut at ``SAMPLE_CHARS``: for prose its first
    line, for code the first that has words in it (not ``/*``, ``{``, ``#!/bin/sh`` or a
    licence banner's ``*``).

    >>> sample_sentence("\\n/*\\n * \\n#include <stdio.h>\\nint main() {")
    '#include <stdio.h>'
    """
    lines = [ln for ln in doc.splitlines() if ln.strip()]
    for ln in lines:
        words = [w for w in re.findall(r"[^\W\d_]{2,}", ln)]
        stripped = ln.strip()
        if words and not stripped.startswith(("#!", "/*", "*", "//", "<!--")) and \
                len(stripped) >= 8:
            return ln[:SAMPLE_CHARS]
    return (lines[0] if lines else doc)[:SAMPLE_CHARS]


def _metadata(meta: dict) -> str:
    """The run's metadata as a definition list (the JSON itself behind a details element)."""
    e = html.escape

    def show(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        if isinstance(value, dict) and "why" in value:  # the paper: whether shown, and why
            return f"{value.get('why')} ({value.get('source')})"
        if isinstance(value, dict) and all(isinstance(v, float) for v in value.values()):
            return ", ".join(f"{k}: {v:.3f}" for k, v in value.items())
        if isinstance(value, dict):
            if len(value) > 12 or any(isinstance(v, (dict, list)) for v in value.values()):
                return f"{len(value)} entries (see the JSON)"
            return ", ".join(f"{k}: {v}" for k, v in value.items())
        if isinstance(value, list):
            return ", ".join(map(str, value)) if len(value) <= 30 else f"{len(value)} entries (see the JSON)"
        return "–" if value is None else str(value)

    keep = ["corpus_name", "languages", "normalization", "baseline", "reference_lang", "bootstrap",
            "paper", "premium_gini", "premium_gini_reason", "costs", "counting", "caps", "versions", "seconds"]
    items = "".join(f"<dt>{e(k.replace('_', ' '))}</dt><dd>{e(show(meta[k]))}</dd>"
                    for k in keep if k in meta and meta[k] not in ("", None))
    return (f'<dl id="meta-list">{items}</dl><details><summary>everything, as JSON</summary>'
            f'<pre id="meta">{e(json.dumps(meta, indent=2, ensure_ascii=False))}</pre></details>')


def _costs(study) -> str:
    """The cost section: per language and tokenizer, the cost of 1,000 words (or characters)
    and the words that fit in the context, each with its interval, and the corpus's cost; empty
    when neither --price nor --context was given."""
    e = html.escape
    costs = study.meta.get("costs", {})
    prices, context = costs.get("prices_per_million_tokens") or {}, costs.get("context_tokens")
    if not prices and context is None:
        return ""

    def cell(r, column, spec):
        v, lo, hi = r.get(column, math.nan), r.get(f"{column}_lo", math.nan), r.get(f"{column}_hi", math.nan)
        if v != v:
            return "–"
        return f"{v:{spec}}" + ("" if lo != lo else f" [{lo:{spec}}, {hi:{spec}}]")

    cols = [(t, what) for t in study.tokenizers for what in
            ((["cost"] if t in prices else []) + (["fit"] if context is not None else []))]
    head = "".join(f"<th>{e(t)}: {'cost / 1k' if what == 'cost' else f'fit in {context:,}'}</th>" for t, what in cols)
    grid = {(r["tokenizer"], r["lang"]): r for r in study.rows}
    body = []
    for lang in study.langs:
        unit = grid[study.tokenizers[0], lang].get("unit", "word")
        tds = "".join(f"<td>{e(cell(grid[t, lang], 'cost_per_1k' if what == 'cost' else 'context_fit', '.4f' if what == 'cost' else ',.0f'))}</td>"
                      for t, what in cols)
        body.append(f"<tr><td>{e(lang)} ({e(unit)}s)</td>{tds}</tr>")
    totals = ", ".join(f"{t} {sum(r['corpus_cost'] for r in study.rows if r['tokenizer'] == t):,.4f}"
                       for t in prices)
    said = ", ".join(f"{t} {p:g}" for t, p in prices.items())
    return (f'<h2>Cost</h2><p>Prices per million tokens as given (--price): {e(said or "none")}; '
            f'context: {e(f"{context:,} tokens" if context else "none")}. Words are whitespace words; '
            "for scripts written without spaces, characters. Intervals: the same bootstrap as NSL.</p>"
            f'<table id="costs"><thead><tr><th>lang</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            + (f"<p>The whole corpus: {e(totals)}.</p>" if totals else ""))


def render_report(study, table, figures: dict[str, bytes], meta: dict) -> str:
    """The HTML text of the report for ``study``: ``table`` is its headline table
    (``results.headline``, the one the terminal prints), ``figures`` file name -> PNG bytes."""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in table.columns)
    rows = []
    for lang, cells, flags in table.rows:
        tds = "".join(f'<td class="unk" title="{e(flag)}">{e(cell)}</td>' if flag else f"<td>{e(cell)}</td>"
                      for cell, flag in zip(cells, flags))
        rows.append(f'<tr data-lang="{e(lang)}"><td>{e(lang)}</td>{tds}</tr>')
    warnings = table.warnings + [w for w in study.meta.get("warnings", []) if w not in table.warnings]
    # Each figure at its size in inches (96 CSS px an inch: 6.5 pt text is 8.7 px); a click on
    # it shows it at full resolution (a checkbox, as the page runs no script).
    figs = []
    for k, (name, data) in enumerate(figures.items()):
        width = _png_width(data)
        style = f' style="width: {width * 96 // FIGURE_DPI}px"' if width else ""
        figs.append(f'<figure><input type="checkbox" id="zoom{k}" class="zoom"><label for="zoom{k}">'
                    f'<img alt="{e(name)}"{style} src="data:image/png;base64,{base64.b64encode(data).decode()}">'
                    f'</label><figcaption>{e(name)} (click to enlarge)</figcaption></figure>')
    figs = "".join(figs)
    samples = []
    for lang in study.langs:
        sample = study.samples.get(lang)
        if not sample:
            continue
        parts = [f"<h3>{e(lang)}</h3>"]
        for t in study.tokenizers:
            if t not in sample["tokens"]:
                continue
            ids, spans = sample["tokens"][t]
            shown = "".join(
                f'<span style="background:hsl({(i * 47) % 360} 75% 86%)" title="id {tid}">{e(share)}</span>'
                for i, (tid, share) in enumerate(zip(ids, shares(sample["text"], spans))))
            parts.append(f'<div class="sample"><span class="who">{e(t)}: {len(ids)} '
                         f'token{"s" * (len(ids) != 1)}</span><span class="tokens">{shown}</span></div>')
        samples.append("".join(parts))
    title = f"qtok study: {study.meta.get('corpus_name', '')}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{e(title)}</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 75rem; padding: 0 1rem; color: #1d1d1f; }}
table {{ border-collapse: collapse; font-variant-numeric: tabular-nums; }}
th, td {{ border-bottom: 1px solid #e3e3e3; padding: .2rem .6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
td.unk {{ background: #fde2e2; }}
figure {{ margin: 1rem 0; }} img {{ max-width: none; cursor: zoom-in; }}
.zoom {{ display: none; }} .zoom:checked + label img {{ width: auto !important; max-width: none; cursor: zoom-out; }}
figure {{ overflow-x: auto; }} dt {{ font-weight: 600; }} dd {{ margin: 0 0 .4rem 1.5rem; }}
.sample {{ margin: .2rem 0 .5rem; }} .who {{ display: inline-block; min-width: 12rem; color: #555; font-size: .9rem; }}
.tokens {{ font: 14px/1.9 ui-monospace, monospace; white-space: pre-wrap; }}
pre {{ background: #f6f6f6; padding: .6rem; overflow: auto; font-size: 12px; }}
</style></head>
<body>
<h1>{e(title)}</h1>
<p>{e(table.title)}; intervals: 95% paired bootstrap over documents (none below
{e(str(study.meta.get("bootstrap", {}).get("min_documents", "")))} documents); – : not computed (see the notes).</p>
<table id="headline"><thead><tr><th>lang</th>{head}</tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{''.join(f'<p class="warning">note: {e(w)}</p>' for w in warnings)}
{_costs(study)}
<h2>Figures</h2>
{figs}
<h2>One sentence per language</h2>
{''.join(samples)}
<h2>Run metadata</h2>
{_metadata(meta)}
</body></html>
"""
