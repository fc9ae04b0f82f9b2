"""qtok's trainer beside the fastest BPE trainers, each in a fresh process of its own.

    pip install -e ".[bench]"                # the benchmark-only peers: rustbpe, bpeasy (HF tokenizers is in [analysis])
    python benchmarks/train.py --ntrex PATH/ntrex128.tar.xz [--mb 30] [--merges 5000] [--taskset 1]

The text: documents of 1-20 random sentences (seed 0) drawn from NTREX-128's 128 languages
until ``--mb`` megabytes, one document a line (without ``--ntrex``: the embedded stories of the
chart's 19 languages). Contenders, the same text and number of merges, each in a process of its
own (``--taskset`` pins them, e.g. to one core), wall time of the training call and the
process's peak RSS:
- ``qtok.train.extend``: N new merges on cl100k_base (Qwen's way: extension of a base);
- ``qtok.train.count_pieces`` alone: the part that grows with the corpus, MB/s (its pieces
  returned as a Python ``Counter``), and the same counting into the C table ``extend`` reads;
- ``rustbpe`` ``train_from_iterator(vocab_size=256+N, pattern=Qwen's)``: N merges from bytes;
- HF ``tokenizers`` ``BpeTrainer`` (Split on Qwen's pattern, then ByteLevel): N merges from bytes;
- ``bpeasy`` ``train_bpe(pattern=Qwen's, max_token_length=128, vocab_size=256+N)``: from bytes.

Without ``--taskset`` every contender may use every core (rustbpe, HF and bpeasy count in
parallel with Rust threads; qtok's C counter with one thread a core).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import json, resource, sys, time
docs = open(sys.argv[1], encoding="utf-8").read().split("\\n")
n = int(sys.argv[2])
from qtok.encodings import QWEN_PATTERN as PAT
t = time.perf_counter()
{body}
wall = time.perf_counter() - t
print(json.dumps({{"wall": wall, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "out": out}}))
"""
CONTENDERS = {
    "qtok extend (on cl100k_base)": "from qtok.train import extend\nout = len(extend('cl100k_base', docs, n, progress=False)) - 100256",
    "qtok count_pieces alone": "from qtok.train import count_pieces\nout = len(count_pieces(docs))",
    "qtok counting into the C table (what extend reads)": (
        "from qtok import _native\nfrom qtok.train import _count_table\n"
        "out = _native.table_size(_count_table(docs, PAT)[0])"),
    "rustbpe (from bytes)": ("import rustbpe\ntok = rustbpe.Tokenizer()\n"
                             "tok.train_from_iterator(iter(docs), vocab_size=256 + n, pattern=PAT)\nout = tok.vocab_size - 256"),
    "HF tokenizers BpeTrainer (from bytes)": (
        "from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers\n"
        "tk = Tokenizer(models.BPE())\n"
        "tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(PAT), 'isolated'),"
        " pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])\n"
        "tr = trainers.BpeTrainer(vocab_size=256 + n, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())\n"
        "tk.train_from_iterator(docs, tr)\nout = tk.get_vocab_size() - 256"),
    "bpeasy (from bytes)": ("import bpeasy\nvocab = bpeasy.train_bpe(iter(docs), PAT, 128, 256 + n)\n"
                            "out = len(vocab) - 256"),
}


def ntrex_sentences(path: str) -> list[list[str]]:
    """Each NTREX-128 file's sentences (128 languages and the English source)."""
    p, out = Path(path), []
    if p.is_dir():
        return [f.read_text(encoding="utf-8").splitlines() for f in sorted(p.rglob("newstest2019-*.txt"))]
    with tarfile.open(p) as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            if m.isfile() and Path(m.name).name.startswith("newstest2019-"):
                out.append(tar.extractfile(m).read().decode("utf-8").splitlines())
    return out


def corpus(sentences: list[list[str]], mb: float, seed: int = 0) -> list[str]:
    """Documents of 1-20 random sentences of one random language, until ``mb`` megabytes."""
    rng, docs, size = random.Random(seed), [], 0
    while size < mb * 1e6:
        lang = rng.choice(sentences)
        doc = " ".join(rng.choice(lang) for _ in range(rng.randint(1, 20)))
        docs.append(doc)
        size += len(doc.encode()) + 1
    return docs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ntrex", help="NTREX-128: the tar.xz or its folder")
    p.add_argument("--mb", type=float, default=30.0)
    p.add_argument("--merges", type=int, default=5000)
    p.add_argument("--taskset", help="pin every process to these CPUs, e.g. 1")
    args = p.parse_args()
    if args.ntrex:
        sentences = ntrex_sentences(args.ntrex)
    else:
        sys.path.insert(0, str(ROOT))
        from peers import chart_stories

        sentences = [d.split(". ") for d in chart_stories()]
    docs = corpus(sentences, args.mb)
    path = Path(tempfile.mkdtemp(prefix="qtok-train-")) / "corpus.txt"
    path.write_text("\n".join(docs), encoding="utf-8")
    mb = path.stat().st_size / 1e6
    print(f"# {mb:.1f} MB, {len(docs):,} documents from {len(sentences)} languages; {args.merges:,} merges; "
          f"{'CPU ' + args.taskset if args.taskset else 'all CPUs'}\n")
    print("| trainer | wall s | MB/s | peak RSS MB | learned |\n|---|---:|---:|---:|---:|")
    for name, body in CONTENDERS.items():
        cmd = (["taskset", "-c", args.taskset] if args.taskset else []) + [
            sys.executable, "-c", CHILD.format(body=body), str(path), str(args.merges)]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if r.returncode:
            print(f"| {name} | not run: {(r.stderr.strip().splitlines() or ['?'])[-1][:100]} | | | |")
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"| {name} | {res['wall']:.1f} | {mb / res['wall']:.1f} | {res['rss']:,.0f} | {res['out']:,} |", flush=True)


if __name__ == "__main__":
    main()
