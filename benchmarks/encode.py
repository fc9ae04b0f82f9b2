"""Encoding speed of qtok's engines against tiktoken and HF tokenizers built from the same ranks.

    python benchmarks/encode.py [--mb 10]

All peers run in this process on the same text; every figure is also printed as a ratio to
raw tiktoken, and every engine's ids are checked to be equal to tiktoken's.
"""

from __future__ import annotations

import argparse

import tiktoken

from common import best_of, header, mixed_documents
from qtok import get_tokenizer
from qtok.core import Tokenizer
from qtok.reference import bpe_merge


def hf_tokenizer_from_ranks(spec):
    """HF tokenizers' BPE with the merges recovered from tiktoken ranks: each token's merge is
    the two parts BPE reaches when only lower-ranked tokens may be used."""
    from tokenizers import Regex, Tokenizer as HFTokenizer, decoders, models, pre_tokenizers

    byte_to_char = _bytes_to_unicode()

    def as_str(b: bytes) -> str:
        return "".join(byte_to_char[x] for x in b)

    ranks = spec.mergeable_ranks
    vocab = {as_str(t): r for t, r in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        lower = {t: r for t, r in ((token[i:j], ranks.get(token[i:j])) for i in range(len(token))
                                   for j in range(i + 1, len(token) + 1)) if r is not None and r < rank}
        parts = bpe_merge(token, lower)
        ids_to_bytes = {r: t for t, r in lower.items()}
        if len(parts) == 2:
            merges.append((as_str(ids_to_bytes[parts[0]]), as_str(ids_to_bytes[parts[1]])))
    tok = HFTokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(spec.pat_str), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's printable stand-ins for bytes, the alphabet of HF's byte-level BPE.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of the mixed text in MB")
    parser.add_argument("--skip-hf", action="store_true", help="skip HF tokenizers (slow to build)")
    args = parser.parse_args()
    header("qtok encode benchmark")
    docs = mixed_documents(int(args.mb * 1e6))
    text = "".join(docs)
    mb = len(text.encode("utf-8")) / 1e6
    print(f"# text: {mb:.1f} MB in {len(docs)} documents (UDHR x18 languages + Python stdlib source)")

    fast = get_tokenizer("qwen", engine="fast")
    spec = fast.spec
    raw = tiktoken.Encoding("raw", pat_str=spec.pat_str, mergeable_ranks=spec.mergeable_ranks,
                            special_tokens=spec.special_tokens)
    want = raw.encode_ordinary(text)
    rows = []

    t_raw = best_of(lambda: raw.encode_ordinary(text))
    rows.append(("tiktoken (raw, same ranks)", t_raw))
    assert fast.encode(text) == want
    rows.append(("qtok fast", best_of(lambda: fast.encode(text))))

    t1 = best_of(lambda: [fast.encode(d) for d in docs])
    t2 = best_of(lambda: fast.encode_batch(docs, num_threads=2))
    assert fast.encode_batch(docs, num_threads=2) == [fast.encode(d) for d in docs]
    rows.append(("qtok fast, per document, 1 thread", t1))
    rows.append(("qtok fast, encode_batch, 2 threads", t2))

    ref = Tokenizer(spec, engine="reference")  # a fresh engine: empty piece cache
    import time

    start = time.perf_counter()
    assert ref.encode(text) == want
    rows.append(("qtok reference, cold cache", time.perf_counter() - start))
    rows.append(("qtok reference, warm cache", best_of(lambda: ref.encode(text))))
    # Per document, texts without CJK/Thai/... characters take the plain-pattern fast path.
    rows.append(("qtok reference, warm, per document", best_of(lambda: [ref.encode(d) for d in docs])))

    if not args.skip_hf:
        start = time.perf_counter()
        hf = hf_tokenizer_from_ranks(spec)
        print(f"# HF tokenizers built from the ranks in {time.perf_counter() - start:.1f} s")
        got = hf.encode(text, add_special_tokens=False).ids
        print(f"# HF tokenizers ids equal to tiktoken's: {got == want}")
        rows.append(("HF tokenizers (merges from ranks)", best_of(lambda: hf.encode(text, add_special_tokens=False), 2)))

    print(f"{'engine':<40} {'MB/s':>8} {'x tiktoken':>11}")
    for name, seconds in rows:
        print(f"{name:<40} {mb / seconds:8.2f} {t_raw / seconds:11.2f}")
    print(f"encode_batch speed-up on 2 threads: {t1 / t2:.2f}x")


if __name__ == "__main__":
    main()
