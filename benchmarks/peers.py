"""Every exact Qwen tokenizer we know of, side by side, each in a fresh process of its own.

    pip install splintr-rs gigatoken quicktok-v1 riptoken      # benchmark-only peers
    python benchmarks/peers.py [--runs 3] [--taskset 1]

The text: the embedded NTREX-128 stories in the Qwen chart's 18 languages and English (2,214
stories, ~6 MB, one document each). Each contender runs in its own process (two native regex
libraries in one process slowed fastokens 18x in one measured run), `--runs` times, medians:
its ids on every story, on 20,000 short texts and on the stories joined into one text are first
checked against tiktoken's (a contender that differs is reported, not timed). Columns:
- start: from the process's start (imports included) to its first ids;
- fresh: a new tokenizer's first pass over the stories, MB/s;
- warm: the best of three more passes (caches filled: a long-running service), MB/s;
- short: one call on a ~45-character text, µs (20,000 texts, each once);
- long: the stories joined into one text, MB/s.
A peer that is not installed is skipped with a line. `--family` adds the Qwen3.5 rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (the code that builds it, given PATH (a .tiktoken file), PAT and SPECIALS; the call
# that encodes one text with it). The build runs after the clock's start, like a user's script.
CONTENDERS = {
    "tiktoken (raw, from the rank file)": (
        "import tiktoken; from tiktoken.load import load_tiktoken_bpe\n"
        "enc = tiktoken.Encoding('qwen', pat_str=PAT, mergeable_ranks=load_tiktoken_bpe(PATH), special_tokens=SPECIALS)",
        "enc.encode_ordinary"),
    "qtok default (get_tokenizer())": ("import qtok\nenc = qtok.get_tokenizer(NAME)", "enc.encode"),
    "qtok engine='fast'": ("import qtok\nenc = qtok.get_tokenizer(NAME, engine='fast')", "enc.encode"),
    "fastokens, raw": (
        "import fastokens\nfk = fastokens.Tokenizer.from_tiktoken(PATH, pattern=PAT, special_tokens=SPECIALS)\n"
        "enc = lambda t: fk.encode_ordinary(t).ids", "enc"),
    "gigatoken": (
        "import gigatoken\ngt = gigatoken.Tokenizer.from_tiktoken(PATH, pretokenizer=GIGA, special_tokens=SPECIALS)\n"
        "enc = lambda t: gt.encode(t).tolist()", "enc"),
    "splintr-rs": ("import splintr\nenc = splintr.Tokenizer(PATH, PAT, SPECIALS)", "enc.encode_ordinary"),
    "quicktok-v1": ("import quicktok\nenc = quicktok.get_encoding(QUICK)", "enc.encode_ordinary"),
    "riptoken": (
        "import riptoken\nenc = riptoken.CoreBPE(riptoken.load_tiktoken_bpe(PATH), SPECIALS, PAT)",
        "enc.encode_ordinary"),
}
# What each peer calls the encodings it has (None: it cannot load that vocabulary).
GIGA = {"qwen": "qwen2", "qwen3.5": "qwen35"}
QUICK = {"qwen": "qwen3", "qwen3.5": None}

CHILD = """
import time
_t0 = time.perf_counter()
import json, hashlib, statistics, sys
{setup}
encode = {call}
first = encode("hi")
start = time.perf_counter() - _t0
docs = json.load(open(sys.argv[1], encoding="utf-8"))
short = json.load(open(sys.argv[2], encoding="utf-8"))
mb = sum(len(d.encode()) for d in docs) / 1e6
def digest(lists):
    h = hashlib.sha256()
    for ids in lists:
        h.update(json.dumps(ids).encode())
    return h.hexdigest()
t = time.perf_counter(); ids = [encode(d) for d in docs]; fresh = mb / (time.perf_counter() - t)
warm = 0.0
for _ in range(3):
    t = time.perf_counter(); [encode(d) for d in docs]; warm = max(warm, mb / (time.perf_counter() - t))
t = time.perf_counter(); short_ids = [encode(s) for s in short]; short_us = (time.perf_counter() - t) / len(short) * 1e6
joined = "\\n".join(docs)
t = time.perf_counter(); long_ids = encode(joined); long_mbs = len(joined.encode()) / 1e6 / (time.perf_counter() - t)
print(json.dumps({{"start": start, "fresh": fresh, "warm": warm, "short": short_us, "long": long_mbs,
                  "digest": digest(ids + short_ids + [long_ids])}}))
"""


def chart_stories() -> list[str]:
    """The embedded corpus's NTREX stories (18 chart languages and English), one text each."""
    sys.path.insert(0, str(ROOT))
    from qtok.analysis.corpora import load_corpus

    corpus = load_corpus("embedded")
    return [d for lang in corpus.langs if not lang.startswith("code") for d in corpus.docs(lang)]


def short_texts(docs: list[str], n: int = 20_000) -> list[str]:
    """Texts of about 45 characters, cut from the stories at spaces."""
    out = []
    for d in docs:
        for i in range(0, len(d) - 45, 45):
            out.append(d[i:i + 45])
            if len(out) == n:
                return out
    return out


def run_child(setup: str, call: str, args: list[str], cpu: str | None) -> dict | str:
    code = CHILD.format(setup=setup, call=call)
    cmd = ([("taskset"), "-c", cpu] if cpu else []) + [sys.executable, "-c", code, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        return (r.stderr.strip().splitlines() or ["failed"])[-1][:120]
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--taskset", help="pin each process to these CPUs (e.g. 1), as a one-core peer")
    p.add_argument("--family", action="store_true", help="also Qwen3.5 (248k ranks)")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    import tiktoken

    import qtok
    from qtok.load import dump_ranks

    docs = chart_stories()
    short = short_texts(docs)
    tmp = Path(tempfile.mkdtemp(prefix="qtok-peers-"))
    (tmp / "docs.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    (tmp / "short.json").write_text(json.dumps(short, ensure_ascii=False), encoding="utf-8")
    mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"# {len(docs):,} NTREX stories, {mb:.1f} MB; {len(short):,} short texts; "
          f"{args.runs} runs each, medians; python {sys.version.split()[0]}, "
          f"{'CPU ' + args.taskset if args.taskset else f'{os.cpu_count()} CPUs'}")
    for name in ("qwen", "qwen3.5") if args.family else ("qwen",):
        tok = qtok.get_tokenizer(name, engine="tiktoken")
        path = tmp / f"{name}.tiktoken"
        path.write_bytes(dump_ranks(tok.mergeable_ranks))
        specials = dict(tok.special_tokens)
        oracle = tiktoken.Encoding(name, pat_str=tok.pat_str, mergeable_ranks=tok.mergeable_ranks,
                                   special_tokens=specials)
        h = hashlib.sha256()
        for ids in [oracle.encode_ordinary(d) for d in docs] + [oracle.encode_ordinary(s) for s in short] \
                + [oracle.encode_ordinary("\n".join(docs))]:
            h.update(json.dumps(ids).encode())
        want = h.hexdigest()
        print(f"\n## {name}\n\n| engine | start (s) | fresh MB/s | warm MB/s | short µs | long MB/s |\n"
              "|---|---:|---:|---:|---:|---:|")
        prelude = (f"PATH = {str(path)!r}; PAT = {tok.pat_str!r}; SPECIALS = {specials!r}; "
                   f"NAME = {name!r}; GIGA = {GIGA[name]!r}; QUICK = {QUICK[name]!r}\n")
        for label, (setup, call) in CONTENDERS.items():
            if ("QUICK" in setup and QUICK[name] is None) or ("GIGA" in setup and GIGA[name] is None):
                print(f"| {label} | cannot load this vocabulary | | | | |")
                continue
            results = [run_child(prelude + setup, call, [str(tmp / "docs.json"), str(tmp / "short.json")],
                                 args.taskset) for _ in range(args.runs)]
            if any(isinstance(r, str) for r in results):
                print(f"| {label} | not run: {next(r for r in results if isinstance(r, str))} | | | | |")
                continue
            if any(r["digest"] != want for r in results):
                print(f"| {label} | **ids differ from tiktoken's**: not timed | | | | |")
                continue
            med = {k: statistics.median(r[k] for r in results) for k in ("start", "fresh", "warm", "short", "long")}
            print(f"| {label} | {med['start']:.2f} | {med['fresh']:.1f} | {med['warm']:.1f} | "
                  f"{med['short']:.2f} | {med['long']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
