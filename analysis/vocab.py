"""Vocabulary report: what a vocabulary's added tokens are for, by Unicode script and byte length.

    python -m qtok.analysis.vocab                          # Qwen's 52,487 tokens added to cl100k_base
    python -m qtok.analysis.vocab --tokenizer my.tiktoken  # a qtok-trained extension (start read from its sidecar)

A token's script is the script of most of its letters; tokens without letters (digits,
punctuation, spaces) and tokens that are not whole UTF-8 characters are ``other``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from qtok import get_tokenizer
from qtok.encodings import qwen_extension_start
from qtok.files import atomic_write, make_dir

from .scripts import dominant_script

SCRIPTS = ["Han", "Hangul", "Thai", "Arabic", "Hebrew", "Cyrillic", "Latin", "Kana", "other"]


def token_script(token: bytes) -> str:
    """The script of most of a token's letters (``analysis.scripts``), ``other`` for tokens
    without letters, that are not whole UTF-8, or of a script outside ``SCRIPTS``.

    >>> token_script("你好".encode()), token_script(b" the"), token_script(b"\\xe4")
    ('Han', 'Latin', 'other')
    """
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return "other"
    script = dominant_script(text)
    return script if script in SCRIPTS else "other"


def vocab_table(ranks: dict[bytes, int], start: int) -> list[dict]:
    """One row per token with rank >= start: rank, n_bytes, script, whole_utf8, text."""
    rows = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if rank < start:
            continue
        try:
            text, whole = token.decode("utf-8"), True
        except UnicodeDecodeError:
            text, whole = token.decode("utf-8", "backslashreplace"), False
        rows.append({"rank": rank, "n_bytes": len(token), "script": token_script(token),
                     "whole_utf8": whole, "text": text})
    return rows


def script_summary(rows: list[dict]) -> list[dict]:
    """Per script: how many tokens, their share, mean byte length."""
    total = len(rows) or 1
    out = []
    for s in SCRIPTS:
        mine = [r for r in rows if r["script"] == s]
        out.append({"script": s, "n_tokens": len(mine), "share": len(mine) / total,
                    "mean_bytes": sum(r["n_bytes"] for r in mine) / len(mine) if mine else float("nan")})
    return out


def vocab_figure(rows: list[dict], title: str):
    from .plots import subplots

    summary = script_summary(rows)
    fig, (a, b) = subplots(1, 2, figsize=(12, 5), layout="constrained")
    a.bar([s["script"] for s in summary], [s["n_tokens"] for s in summary])
    a.set_ylabel("tokens")
    a.set_title(f"{title}: tokens by script")
    max_len = max((r["n_bytes"] for r in rows), default=1)
    bins = range(1, min(max_len, 32) + 2)
    for s in SCRIPTS:
        lengths = [min(r["n_bytes"], 32) for r in rows if r["script"] == s]
        if lengths:
            b.hist(lengths, bins=bins, histtype="step", label=s, linewidth=1.5)
    b.set_xlabel("bytes per token (32 = 32 or more)")
    # Log scale: scripts differ by orders of magnitude (tens of Thai tokens, tens of thousands of
    # Latin ones); on a linear axis the small ones lie flat at zero.
    b.set_yscale("log")
    b.set_ylabel("tokens (log scale)")
    b.set_title("byte lengths")
    fig.legend(*b.get_legend_handles_labels(), fontsize="small", ncols=1, loc="outside right upper")
    a.tick_params(axis="x", labelrotation=30)
    return fig


def _load(tokenizer: str, start: int | None) -> tuple[str, dict[bytes, int], int]:

    tok = get_tokenizer(tokenizer)
    if start is None:
        if tokenizer == "qwen":
            start = qwen_extension_start()  # cl100k_base's kept tokens end here
        else:
            sidecar = Path(tokenizer + ".json")
            meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
            if "n_new" not in meta:
                raise ValueError(f"no sidecar with n_new next to {tokenizer}; pass --start RANK")
            start = meta["n_ranks"] - meta["n_new"]
    if not 0 <= start < len(tok.mergeable_ranks):
        raise ValueError(f"--start {start} is outside {tok.name}'s ranks [0, {len(tok.mergeable_ranks)})")
    return tok.name, tok.mergeable_ranks, start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qtok.analysis.vocab", description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer", default="qwen", help="qwen or a .tiktoken file")
    p.add_argument("--start", type=int, help="first rank of the added tokens (default: known or from the sidecar)")
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    try:
        name, ranks, start = _load(args.tokenizer, args.start)
    except (ValueError, OSError) as e:
        print(f"analysis.vocab: error: {e}", file=sys.stderr)
        return 2
    rows = vocab_table(ranks, start)
    out = make_dir(args.out, "--out ")
    stem = f"vocab-{name}"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["rank"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write(out / f"{stem}.csv", buf.getvalue())
    summary = script_summary(rows)
    atomic_write(out / f"{stem}.json", json.dumps(
        {"tokenizer": args.tokenizer, "start_rank": start, "n_tokens": len(rows),
         "not_whole_utf8": sum(not r["whole_utf8"] for r in rows), "by_script": summary}, indent=2))
    fig = vocab_figure(rows, f"{name}, ranks {start}+")
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    atomic_write(out / f"{stem}.png", png.getvalue())
    print(f"{len(rows)} tokens from rank {start} of {name}")
    print(f"{'script':<10}{'tokens':>8}{'share':>8}{'mean bytes':>12}")
    for s in summary:
        print(f"{s['script']:<10}{s['n_tokens']:>8}{s['share']:>8.1%}{s['mean_bytes']:>12.2f}")
    print(f"wrote {out / stem}.csv/.json/.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
