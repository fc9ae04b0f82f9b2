"""Speed of ``qtok train``: 10,000 new tokens on cl100k_base from ~10 MB of offline text, and HF
tokenizers' BPE trainer learning a vocabulary of the same final size from scratch on the same text.

    python benchmarks/train.py [--mb 10] [--new-tokens 10000]
"""

from __future__ import annotations

import argparse
import resource
import time

from common import header, mixed_documents
from qtok.encodings import cl100k_base
from qtok.train import extend


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=float, default=10.0)
    p.add_argument("--new-tokens", type=int, default=10_000)
    p.add_argument("--skip-hf", action="store_true")
    args = p.parse_args()
    header("qtok train benchmark")
    docs = mixed_documents(int(args.mb * 1e6), distinct=True)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"# text: {mb:.1f} MB in {len(docs)} distinct documents (UDHR x18 languages + Python stdlib source)")
    base = cl100k_base().mergeable_ranks
    t0 = time.perf_counter()
    ranks = extend(base, docs, args.new_tokens)
    t_qtok = time.perf_counter() - t0
    print(f"qtok extend: {len(ranks) - len(base):,} new tokens on cl100k_base in {t_qtok:.1f} s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if not args.skip_hf:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=len(ranks), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        t0 = time.perf_counter()
        tok.train_from_iterator(docs, trainer)
        t_hf = time.perf_counter() - t0
        print(f"HF tokenizers BpeTrainer from scratch to {tok.get_vocab_size():,} tokens: {t_hf:.1f} s "
              f"({t_qtok / t_hf:.2f}x qtok's time)")


if __name__ == "__main__":
    main()
