"""Counting at scale: MB/s and peak memory of the study (per tokenizer) and of extension training's
piece counting over a synthetic corpus of >= 1 GB, with the local backend on 1 and 2 worker
processes and with Ray on 2 CPUs.

    python benchmarks/scale.py --ntrex PATH/ntrex128.tar.xz [--gb 1] [--lang deu]
    python benchmarks/scale.py --paper 1000000 [--configs local2,ray2] [--ray-docs 100000]

``--paper N``: the Qwen report's scale, N documents per language for the chart's 19 rows, each
document one sentence of the embedded NTREX-128 stories drawn at random (seed 0; the code row:
one line of the embedded code sample): a synthetic
corpus (the same sentences repeated) that measures throughput only, counted by the study with
qwen, cl100k_base and XLM-R (no bootstrap: intervals over a million documents are another cost).
Ray runs on the first ``--ray-docs`` documents of each language.

The corpus is NTREX-128 sentences of one language drawn at random (seed 0) into documents of 1 to
20 sentences, one document a line, built once and cached under /tmp (--cache). Each measurement
runs in a fresh Python process; peak memory is sampled every second over that process and all its
descendants (worker processes, Ray's raylet and workers), as the sum of their PSS (resident memory
with shared pages divided among the processes sharing them, so Ray's shared object store and the
tokenizers' shared libraries are counted once, not once per process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build_corpus(ntrex: Path, lang3: str, gb: float, cache: Path) -> Path:
    out = cache / f"ntrex-{lang3}-{gb:g}gb" / "corpus.txt"
    if out.is_file():
        return out
    name = f"newstest2019-ref.{lang3}.txt"
    if ntrex.is_dir():
        sentences = (ntrex / name).read_text(encoding="utf-8").splitlines()
    else:
        with tarfile.open(ntrex) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/" + name) or m.name == name)
            sentences = tar.extractfile(member).read().decode("utf-8").splitlines()
    sentences = [s for s in sentences if s.strip()]
    rng = random.Random(0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    target, size = int(gb * 1e9), 0
    with open(tmp, "w", encoding="utf-8") as f:
        while size < target:
            lines = [" ".join(rng.choice(sentences) for _ in range(rng.randint(1, 20))) for _ in range(10_000)]
            chunk = "\n".join(lines) + "\n"
            f.write(chunk)
            size += len(chunk.encode("utf-8"))
    os.replace(tmp, out)
    return out


def build_paper_corpus(docs: int, cache: Path) -> Path:
    """N one-sentence documents per chart language in ``cache/paper-N/{lang}/corpus.txt``."""
    sys.path.insert(0, str(HERE.parent))
    from qtok.analysis.corpora import load_corpus

    root = cache / f"paper-{docs}"
    embedded = load_corpus("embedded")
    langs = [lang for lang in embedded.langs if not lang.startswith("code-")]  # "code": one line each
    for lang in langs:
        out = root / lang / "corpus.txt"
        if out.is_file():
            continue
        sentences = [s for d in embedded.docs(lang) for s in d.splitlines() if s.strip()]
        rng = random.Random(0)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for start in range(0, docs, 100_000):
                n = min(100_000, docs - start)
                f.write("\n".join(rng.choice(sentences) for _ in range(n)) + "\n")
        os.replace(tmp, out)
    return root


def paper_one(args) -> dict:
    """The study over the paper-scale corpus (or its first --ray-docs documents per language)."""
    import itertools

    from qtok.analysis.corpora import files_corpus
    from qtok.analysis.study import run_study
    from qtok.analysis.tokenizers import load_adapters

    root = Path(args.corpus)
    langs = sorted(p.name for p in root.iterdir() if (p / "corpus.txt").is_file())
    if args.config == "ray2" and args.ray_docs:
        sub = root.parent / f"{root.name}-first{args.ray_docs}"
        for lang in langs:
            out = sub / lang / "corpus.txt"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                with open(root / lang / "corpus.txt", encoding="utf-8") as f:
                    out.write_text("".join(itertools.islice(f, args.ray_docs)), encoding="utf-8")
        root = sub
    corpus = files_corpus(str(root / "{lang}" / "corpus.txt"), langs)
    corpus.parallel = set()  # resampled independently: not translations of each other
    mb = sum((root / lang / "corpus.txt").stat().st_size for lang in langs) / 1e6
    adapters = load_adapters(["qwen", "cl100k_base", "xlm-r"])
    t0 = time.perf_counter()
    study = run_study(corpus, adapters, reference_lang="en", n_boot=0, jobs=2,
                      backend="ray" if args.config == "ray2" else "local", pool="process", progress=False)
    seconds = time.perf_counter() - t0
    docs = sum(r["n_docs"] for r in study.rows if r["tokenizer"] == "qwen")
    return {"mb": mb, "seconds": seconds, "docs": docs, "langs": len(langs),
            "tokens": {t: sum(r["n_tokens"] for r in study.rows if r["tokenizer"] == t) for t in study.tokenizers}}


def peak_rss_sampler():
    """A thread that records the peak summed PSS of this process and its descendants."""
    import psutil  # installed with Ray (the scale extra)

    me = psutil.Process()
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            total = 0
            for p in [me] + me.children(recursive=True):
                try:
                    total += p.memory_full_info().pss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            stop.wait(1.0)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    return peak, stop


def one(args) -> None:
    """One measurement, in this (fresh) process: prints a JSON line."""
    peak, stop = peak_rss_sampler()
    path = Path(args.corpus)
    mb = path.stat().st_size / 1e6
    backend = "ray" if args.config == "ray2" else "local"
    jobs = 1 if args.config == "local1" else 2
    t0 = time.perf_counter()
    if args.what == "paper":
        res = paper_one(args)
        stop.set()
        print(json.dumps({"what": "paper", "config": args.config, "mb_s": res["mb"] / res["seconds"],
                          "peak_pss_mb": peak[0] / 1e6, **res}))
        return
    if args.what == "pieces":
        from qtok.train import count_corpus_pieces

        counts, record = count_corpus_pieces([path], backend=backend, jobs=jobs, progress=False)
        extra = {"distinct_pieces": record["distinct_pieces"]}
    else:
        from qtok.analysis.corpora import files_corpus
        from qtok.analysis.study import run_study
        from qtok.analysis.tokenizers import load_adapters

        corpus = files_corpus(str(path.parent.parent / "{lang}" / path.name), [path.parent.name])
        specs = ["qwen", "cl100k_base", "xlm-r"] if args.what == "study" else [args.what]
        adapters = load_adapters(specs)
        study = run_study(corpus, adapters, baseline=adapters[-1].name, reference_lang=path.parent.name,
                          n_boot=0, jobs=jobs, backend=backend, pool="process", progress=False)
        extra = {"n_tokens": study.rows[0]["n_tokens"], "n_docs": study.rows[0]["n_docs"]}
    seconds = time.perf_counter() - t0
    stop.set()
    print(json.dumps({"what": args.what, "config": args.config, "mb": mb, "seconds": seconds,
                      "mb_s": mb / seconds, "peak_pss_mb": peak[0] / 1e6, **extra}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ntrex", type=Path,
                   help="NTREX-128: the .tar.xz or its unpacked folder (not vendored: 50 MB)")
    p.add_argument("--lang", default="deu", help="the NTREX language code (default deu)")
    p.add_argument("--gb", type=float, default=1.0)
    p.add_argument("--cache", type=Path, default=Path("/tmp/qtok-scale"))
    p.add_argument("--what", default="qwen,cl100k_base,xlm-r,pieces",
                   help="comma-separated: qwen, cl100k_base, xlm-r (the study with one tokenizer), "
                        "study (all three at once, as python -m qtok.analysis), pieces (qtok train's counting)")
    p.add_argument("--configs", default="local1,local2,ray2")
    p.add_argument("--flat", type=float, default=0.25,
                   help="also run qwen local2 on a corpus this many GB, to show memory does not grow (0: skip)")
    p.add_argument("--paper", type=int, default=0,
                   help="documents per language: the study of the chart's 19 rows at this scale (see above)")
    p.add_argument("--ray-docs", type=int, default=100_000,
                   help="with --paper: the documents per language Ray counts (0: all)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        one(args)
        return
    if args.paper:
        paper(args)
        return
    if args.ntrex is None:
        p.error("--ntrex PATH is required: NTREX-128's .tar.xz or its unpacked folder")
    sys.path.insert(0, str(HERE))
    from common import header

    header("scale benchmark: study and piece counting, local 1/2 workers and Ray 2 CPUs")
    corpus = build_corpus(args.ntrex, args.lang, args.gb, args.cache)
    print(f"# corpus: {corpus} ({corpus.stat().st_size / 1e9:.2f} GB, NTREX-128 {args.lang} sentences "
          "drawn into documents of 1-20 sentences)", flush=True)
    runs = [(w, c, corpus) for w in args.what.split(",") for c in args.configs.split(",")]
    if args.flat:
        runs.append(("qwen", "local2", build_corpus(args.ntrex, args.lang, args.flat, args.cache)))
    results = []
    for what, config, path in runs:
        r = subprocess.run([sys.executable, __file__, "--one", "--what", what, "--config", config,
                            "--corpus", str(path)], capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"{what} {config} failed")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{what:<12} {config:<7} {res['mb']:>7.0f} MB {res['seconds']:>7.1f} s {res['mb_s']:>7.1f} MB/s "
              f"peak memory (PSS) {res['peak_pss_mb']:>6.0f} MB", flush=True)
    print("\n# ratios (2 workers vs 1; Ray 2 CPUs vs local 2 workers), on the full corpus")
    full = {(r["what"], r["config"]): r for r in results if abs(r["mb"] - results[0]["mb"]) < 1}
    for what in args.what.split(","):
        if (what, "local1") in full and (what, "local2") in full:
            line = f"{what:<12} local2/local1 {full[what, 'local2']['mb_s'] / full[what, 'local1']['mb_s']:.2f}x"
            if (what, "ray2") in full:
                line += f"   ray2/local2 {full[what, 'ray2']['mb_s'] / full[what, 'local2']['mb_s']:.2f}x"
            print(line)
    study = [w for w in ("qwen", "cl100k_base", "xlm-r") if (w, "local2") in full]
    if len(study) == 3:
        # The study counts all three tokenizers over each block: its time is about the sum.
        rate = 1 / sum(1 / full[w, "local2"]["mb_s"] for w in study)
        print(f"\n# the 3-tokenizer study at local 2 workers: about {rate:.1f} MB/s (1 / sum of 1/rate)")


def paper(args) -> None:
    sys.path.insert(0, str(HERE))
    from common import header

    header("the study at the Qwen report's scale: the chart's 19 rows, one-sentence documents")
    root = build_paper_corpus(args.paper, args.cache)
    configs = args.configs.split(",") if args.configs != "local1,local2,ray2" else ["local2", "ray2"]
    for config in configs:
        r = subprocess.run([sys.executable, __file__, "--one", "--what", "paper", "--config", config,
                            "--corpus", str(root), "--ray-docs", str(args.ray_docs)],
                           capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"paper {config} failed")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        per_core = res["mb_s"] / 2
        print(f"{config:<7} {res['langs']} languages, {res['docs']:,} documents, {res['mb']:,.0f} MB: "
              f"{res['seconds']:,.1f} s, {res['mb_s']:.1f} MB/s ({per_core:.1f} per core), "
              f"peak memory (PSS) {res['peak_pss_mb']:,.0f} MB; tokens: "
              + ", ".join(f"{t} {n:,}" for t, n in res["tokens"].items()), flush=True)
        if config == "local2":
            for nodes, cores in ((8, 16), (32, 16)):
                print(f"        at that per-core rate, {nodes} nodes of {cores} cores: "
                      f"~{res['mb'] / (per_core * nodes * cores):,.1f} s (counting alone)", flush=True)


if __name__ == "__main__":
    main()
