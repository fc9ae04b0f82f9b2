"""The largest inputs, with time and peak memory per engine, and the concurrency check.

    python benchmarks/reliability.py [--mb 50]

Each input runs in a fresh process (peak RSS from the kernel's accounting of that process):
encoding 1 MB without a space, 10 MB of digits and a 50 MB one-line document with each engine,
and the study counting that 50 MB one-line document with each of its tokenizers (counted a
megabyte at a time, cut at spaces: analysis.tokenizers.split_long). Then, in this process, 16
threads call get_tokenizer() at once, and 64 threads encode with one shared tokenizer; every
result is compared with a single-threaded encode.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_input(kind: str, mb: float) -> str:
    n = int(mb * 1e6)
    if kind == "nospace":
        return "a" * n
    if kind == "digits":
        return "1234567890" * (n // 10)
    if kind == "marks":  # one letter and a run of combining marks of two classes, out of order
        return "a" + "\u0301" * (n // 4) + "\u0316" * (n // 4)
    # a one-line document of real text: the UDHR in 18 languages, newlines turned into spaces
    texts = [p.read_text(encoding="utf-8") for p in sorted((HERE.parent / "analysis" / "data" / "udhr").glob("*.txt"))]
    line = " ".join(" ".join(texts).split())
    return (line + " ") * (n // len(line.encode()) + 1)


def child(args) -> None:
    text = make_input(args.kind, args.size)
    t0 = time.perf_counter()
    if args.engine.startswith("study:"):
        from qtok.analysis.count import count_block
        from qtok.analysis.tokenizers import get_adapter
        from qtok.blocks import Block

        adapter = get_adapter(args.engine.split(":", 1)[1])
        part = count_block(Block(0, "xx", "docs", docs=[text]), [adapter], None)
        n = int(part["lengths"][adapter.name].sum())
    else:
        import qtok

        # "qwen3 hf/fast": a member under compat="hf" (NFC) on an engine; else Qwen-1, safe.
        name, compat, engine = ("qwen", None, args.engine) if "/" not in args.engine else \
            (*args.engine.split("/")[0].split(), args.engine.split("/")[1])
        n = len(qtok.get_tokenizer(name, engine=engine, compat=compat).encode(text))
    print(json.dumps({"tokens": n, "seconds": time.perf_counter() - t0}))


def measure_rss(kind: str, size: float, engine: str) -> dict:
    """Like measure, with the child's peak RSS from wait4."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--kind", kind, "--size", str(size),
                             "--engine", engine], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        return {"error": (err.strip().splitlines() or ["?"])[-1]}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_mb"] = usage.ru_maxrss / 1024
    return res


def concurrency() -> None:
    import qtok

    built = []  # a fresh process: nothing is built yet
    barrier = threading.Barrier(16)

    def get(_):
        barrier.wait()
        tok = qtok.get_tokenizer("cl100k_base", engine="reference")
        built.append(id(tok))
        return tok

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(get, range(16)))
    print(f"get_tokenizer from 16 threads at once: {len(built)} calls, {len(set(built))} tokenizer built")
    texts = [p.read_text(encoding="utf-8") for p in sorted((HERE.parent / "analysis" / "data" / "udhr").glob("*.txt"))]
    texts = [t[i:i + 2000] for t in texts for i in range(0, len(t), 2000)]
    for engine in ("fast", "tiktoken", "reference"):
        tok = qtok.get_tokenizer("qwen", engine=engine)
        expected = [tok.encode(t) for t in texts]
        jobs = [i % len(texts) for i in range(64 * 20)]
        with ThreadPoolExecutor(64) as pool:
            got = list(pool.map(lambda i: tok.encode(texts[i]), jobs))
        mismatches = sum(g != expected[i] for g, i in zip(got, jobs))
        print(f"{engine:>9}: {len(jobs)} encodes from 64 threads, {mismatches} mismatches")


def _rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak) of a process, in MB, from the kernel's accounting."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def playground_worst_request() -> None:
    """The playground's worst requests: a body at the 1 MB limit that is one token per two bytes
    ("a " * 524,000) for each of its three tokenizers, alone and three at once (a page gets ~6
    connections); the server's peak memory and the size of each answer."""
    import re
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "qtok.playground", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", proc.stdout.readline()).group(1)
        body = json.dumps({"text": "a " * 524_000}).encode()

        def post(_):
            req = urllib.request.Request(url + "api/encode", data=body,
                                         headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=300) as r:
                    return r.status, len(r.read()), time.perf_counter() - t0
            except urllib.error.HTTPError as e:
                return e.code, len(e.read()), time.perf_counter() - t0

        idle = _rss_mb(proc.pid)[0]
        status, size, seconds = post(0)
        print(f"playground, one worst request: {status}, answer {size / 1e6:.1f} MB in {seconds:.1f} s; "
              f"server {idle:.0f} MB idle, peak {_rss_mb(proc.pid)[1]:.0f} MB")
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(post, range(3)))
        print(f"playground, three at once: {[r[0] for r in results]}, "
              f"{max(r[2] for r in results):.1f} s; server peak {_rss_mb(proc.pid)[1]:.0f} MB")
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=float, default=50.0, help="size of the one-line document")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--kind")
    p.add_argument("--size", type=float)
    p.add_argument("--engine")
    args = p.parse_args()
    if args.child:
        child(args)
        return
    sys.path.insert(0, str(HERE))
    from common import header

    header("reliability: largest inputs and concurrency")
    rows = [("1 MB without a space", "nospace", 1.0, ["fast", "tiktoken", "reference"]),
            ("10 MB of digits", "digits", 10.0, ["fast", "tiktoken", "reference"]),
            ("1 MB of combining marks, NFC", "marks", 1.0, ["qwen3 hf/fast", "qwen hf/tiktoken", "qwen3.5 hf/reference"]),
            (f"{args.mb:g} MB one-line document", "line", args.mb, ["fast", "tiktoken"]),
            (f"study, {args.mb:g} MB one-line document", "line", args.mb,
             ["study:qwen", "study:cl100k_base", "study:xlm-r"])]
    print("| input | engine | tokens | seconds | peak RSS (MB) |\n|---|---|---:|---:|---:|")
    for label, kind, size, engines in rows:
        for engine in engines:
            r = measure_rss(kind, size, engine)
            if "error" in r:
                print(f"| {label} | {engine} | error: {r['error']} | | |", flush=True)
            else:
                print(f"| {label} | {engine} | {r['tokens']:,} | {r['seconds']:.1f} | {r['peak_mb']:.0f} |", flush=True)
    concurrency()
    playground_worst_request()


if __name__ == "__main__":
    main()
