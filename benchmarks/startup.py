"""What a new user meets first: the one-liner's cost per call, a fresh process's first ids, and
the study's wall time, each next to a peer measured in the same run.

    python benchmarks/startup.py [--runs 7] [--skip-study]

1. Per call, in this process (best of several rounds, the contenders interleaved): ``qtok.encode``,
   ``qtok.count``, ``qtok.decode``, ``qtok.get_tokenizer("qwen")`` and ``qtok.encode_chat`` against
   the same call on a tokenizer held in a variable; ``tiktoken.get_encoding("qwen").encode`` (the
   plugin) against a ``tiktoken.Encoding`` for cl100k_base built from the same vendored file.
2. Cold start, each run a fresh process, the contenders interleaved: ``import qtok;
   qtok.encode('hi')`` against ``tiktoken.get_encoding('qwen')`` (qtok's plugin) and against raw
   tiktoken loading an official-format ``qwen.tiktoken`` with its own ``load_tiktoken_bpe`` (what
   Qwen's ``tokenization_qwen.py`` does); with qtok's user cache warm, then empty. Wall time and
   peak RSS of each process, medians.
3. A process that encodes enough (9.6 MB) for the fast engine to replace its stand-in: its wall
   time and peak memory; and calls of 64 kB, the slowest call (a build paid inside a call
   would show here) and the median call before and after the swap (1,024 calls).
4. ``python -m qtok.analysis`` on the embedded corpus, wall time of the whole process, and the time it
   printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

QTOK = "import qtok; qtok.encode('hi')"
PLUGIN = "import tiktoken; tiktoken.get_encoding('qwen').encode('hi')"
RAW = ("import tiktoken; from tiktoken.load import load_tiktoken_bpe; import sys; "
       "from qtok.encodings import QWEN_PATTERN as P; "
       "enc = tiktoken.Encoding('qwen', pat_str=P, mergeable_ranks=load_tiktoken_bpe(sys.argv[1]), "
       "special_tokens={'<|endoftext|>': 151643}); enc.encode('hi')")
# A process that only encodes, alive long enough for the fast engine to replace its stand-in.
# The build runs beside the calls (qtok.engine.StandIn): the process waits for it before it ends.
LONG = ("import qtok; qtok.encode('hi'); qtok.encode('hello world ' * 800_000); "
        "t = qtok.get_tokenizer(); t._full_engine(); assert 'standing in' not in repr(t)")
# The same work on the fast engine asked for by name (built at once, no stand-in): the memory
# the stand-in must not add much to.
LONG_FAST = ("import qtok; t = qtok.get_tokenizer(engine='fast'); t.encode('hi'); "
             "t.encode('hello world ' * 800_000)")


def per_call(rounds: int = 7, number: int = 20000) -> None:
    import tiktoken

    import qtok
    from qtok.encodings import cl100k_base

    held = qtok.get_tokenizer()
    held._full_engine()  # the fast engine, as a long-running process has it
    text, ids = "hello world", [14990, 1879]
    chat = [{"role": "user", "content": "hi"}]
    spec = cl100k_base()
    cl100k = tiktoken.Encoding("cl100k", pat_str=spec.pat_str, mergeable_ranks=spec.mergeable_ranks,
                               special_tokens=spec.special_tokens)
    plugin = tiktoken.get_encoding("qwen")
    pairs = {
        "qtok.encode vs tok.encode": (lambda: qtok.encode(text), lambda: held.encode(text)),
        "qtok.count vs tok.count": (lambda: qtok.count(text), lambda: held.count(text)),
        "qtok.decode vs tok.decode": (lambda: qtok.decode(ids), lambda: held.decode(ids)),
        "qtok.encode_chat vs tok.encode_chat": (lambda: qtok.encode_chat(chat), lambda: held.encode_chat(chat)),
        "qtok.get_tokenizer('qwen') vs tok.encode": (lambda: qtok.get_tokenizer("qwen"), lambda: held.encode(text)),
        "plugin qwen .encode vs tiktoken cl100k .encode": (lambda: plugin.encode(text), lambda: cl100k.encode(text)),
        "the same, .encode_ordinary": (lambda: plugin.encode_ordinary(text), lambda: cl100k.encode_ordinary(text)),
        "tiktoken.get_encoding('qwen') vs plugin .encode": (lambda: tiktoken.get_encoding("qwen"),
                                                            lambda: plugin.encode(text)),
    }
    print("## per call (µs, best of %d rounds of %d calls; ratio = first / second)" % (rounds, number))
    for name, (a, b) in pairs.items():
        ta, tb = [], []
        for _ in range(rounds):
            ta.append(timeit.timeit(a, number=number) / number * 1e6)
            tb.append(timeit.timeit(b, number=number) / number * 1e6)
        print(f"{name:<48} {min(ta):7.3f} {min(tb):7.3f}  ratio {min(ta) / min(tb):.2f}")


def run_child(code: str, env: dict, *argv: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``python -c code``."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"child failed: {code}")
    return wall, usage.ru_maxrss / 1024


def cold_start(runs: int) -> None:
    # Run first, from a parent that has loaded nothing: a child's peak RSS counts the memory of
    # the parent it was forked from (the kernel keeps the high-water mark across exec).
    tmp = Path(tempfile.mkdtemp(prefix="qtok-startup-"))
    official = tmp / "qwen.tiktoken"
    # qtok's table is byte-identical to the official file (tests/test_load.py); written by a child.
    subprocess.run([sys.executable, "-c", "import sys; from qtok.encodings import qwen; "
                    "from qtok.load import dump_ranks; "
                    "open(sys.argv[1], 'wb').write(dump_ranks(qwen().mergeable_ranks))", str(official)],
                   check=True)
    warm_env = dict(os.environ)
    print(f"\n## cold start: a fresh process's first ids (median of {runs} runs, interleaved)")
    for label, fresh_cache in (("warm user cache", False), ("empty user cache", True)):
        results = {"qtok": [], "tiktoken plugin": [], "raw tiktoken, official file": []}
        for i in range(runs):
            env = dict(warm_env)
            if fresh_cache:
                env["QTOK_CACHE_DIR"] = str(tmp / f"cache-{label[:5]}-{i}")
            results["qtok"].append(run_child(QTOK, env))
            if fresh_cache:  # the plugin builds from qtok's files: give it an empty cache too
                env["QTOK_CACHE_DIR"] = str(tmp / f"cache-plugin-{i}")
            results["tiktoken plugin"].append(run_child(PLUGIN, env))
            results["raw tiktoken, official file"].append(run_child(RAW, env, str(official)))
        base = statistics.median(w for w, _ in results["qtok"])
        print(f"### {label}")
        for name, rs in results.items():
            wall = statistics.median(w for w, _ in rs)
            rss = statistics.median(m for _, m in rs)
            print(f"{name:<30} {wall:6.3f} s  peak RSS {rss:6.0f} MB   qtok / this = {base / wall:.2f}")
    print("\n## a process that encodes 'hi', then 9.6 MB (median of 3)")
    for name, code in (("default engine (tiktoken, then fastokens)", LONG), ("engine='fast' from the start", LONG_FAST)):
        rs = [run_child(code, warm_env) for _ in range(3)]
        print(f"{name:<44} {statistics.median(w for w, _ in rs):5.2f} s, peak RSS "
              f"{statistics.median(m for _, m in rs):4.0f} MB")


# Calls of 64 kB until 64 MB: the slowest call shows whether one call pays for building the
# fast engine (the stand-in's swap); the median call, the speed before and after it.
STALL = ("import time, statistics, qtok; t = qtok.get_tokenizer({args}); t.encode('hi'); "
         "chunk = 'hello world, this is text ' * 2_500; times = []\n"
         "for _ in range(1024):\n    s = time.perf_counter(); t.encode(chunk); times.append(time.perf_counter() - s)\n"
         "print(f'{{max(times) * 1e3:.0f}} {{statistics.median(times[:16]) * 1e3:.1f}} {{statistics.median(times[-16:]) * 1e3:.1f}}')")


def stall() -> None:
    print("\n## 1,024 calls of 64 kB (64 MB) in a fresh process: the slowest call, the first 16 and "
          "the last 16 calls' median (ms)")
    for name, args in (("default engine", ""), ("engine='fast' from the start", "engine='fast'"),
                       ("engine='tiktoken'", "engine='tiktoken'")):
        out = subprocess.run([sys.executable, "-c", STALL.format(args=args)], capture_output=True,
                             text=True, cwd=ROOT).stdout.split()
        print(f"{name:<30} slowest {out[0]:>5} ms   first calls {out[1]:>5} ms   last calls {out[2]:>5} ms")


def study(runs: int) -> None:
    print(f"\n## python -m qtok.analysis (embedded corpus), wall time of the whole process")
    for _ in range(runs):
        out = tempfile.mkdtemp(prefix="qtok-study-")
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "qtok.analysis", "--out", out, "--quiet"], cwd=ROOT,
                           capture_output=True, text=True)
        wall = time.perf_counter() - start
        printed = r.stdout.strip().splitlines()[-1].split(" s ")[0] if r.returncode == 0 else r.stderr
        print(f"wall {wall:.2f} s, printed {printed} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--skip-study", action="store_true")
    args = p.parse_args()
    print(f"# python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    cold_start(args.runs)
    stall()
    if not args.skip_study:
        study(3)
    per_call()


if __name__ == "__main__":
    main()
