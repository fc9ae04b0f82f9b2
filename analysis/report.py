"""The study as one self-contained page, ``report.html``: the headline table (paper, measured,
difference, interval, unknown-token flags), the figures inline as PNG data, the run's metadata,
and for each language one parallel sentence cut into tokens by each tokenizer. No external
request of any kind: no scripts, fonts or images from elsewhere.
"""

from __future__ import annotations

import base64
import html
import json

from qtok.offsets import shares

SAMPLE_CHARS = 300  # the sentence shown per language: its first line, at most this long


def sample_sentence(doc: str) -> str:
    """The first non-blank line of a document, cut at ``SAMPLE_CHARS``."""
    line = next((ln for ln in doc.splitlines() if ln.strip()), doc)
    return line[:SAMPLE_CHARS]


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
    warnings = table.warnings
    figs = "".join(
        f'<figure><img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f"<figcaption>{e(name)}</figcaption></figure>" for name, data in figures.items())
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
            parts.append(f'<div class="sample"><span class="who">{e(t)}: {len(ids)} tokens</span>'
                         f'<span class="tokens">{shown}</span></div>')
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
figure {{ margin: 1rem 0; }} img {{ max-width: 100%; }}
.sample {{ margin: .2rem 0 .5rem; }} .who {{ display: inline-block; min-width: 12rem; color: #555; font-size: .9rem; }}
.tokens {{ font: 14px/1.9 ui-monospace, monospace; white-space: pre-wrap; }}
pre {{ background: #f6f6f6; padding: .6rem; overflow: auto; font-size: 12px; }}
</style></head>
<body>
<h1>{e(title)}</h1>
<p>Tokens per language relative to {e(study.baseline)} ({e(study.baseline)} = 1, lower is better);
paper = the Qwen report's figure, read off ±0.02; intervals: 95% paired bootstrap over documents.</p>
<table id="headline"><thead><tr><th>lang</th>{head}</tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{''.join(f'<p class="warning">warning: {e(w)}: ratio left blank</p>' for w in warnings)}
<h2>Figures</h2>
{figs}
<h2>One sentence per language</h2>
{''.join(samples)}
<h2>Run metadata</h2>
<pre id="meta">{e(json.dumps(meta, indent=2, ensure_ascii=False))}</pre>
</body></html>
"""
