"""An audit of a vocabulary's own tokens: what no text can produce, what is not a character,
what a corpus never uses, and how numbers are cut.

    python -m qtok.analysis.audit qwen                     # any tokenizer the study loads by name or file
    python -m qtok.analysis.audit qwen3.5 --corpus ntrex:DIR --out audit/

Each finding is a count and a line here, and its list goes to ``audit-NAME.json`` in ``--out``:

- **reachability** (byte-level BPE rank tables): a token BPE can never produce is one whose own
  bytes, encoded alone, do not come out as that token: no text can produce it (a piece holding
  it merges the same way inside its span until the token forms, or earlier merges across its
  edges take its bytes). Of the reachable ones, *irregular* tokens are those that lower ranks
  cannot build in two parts: BPE reaches them only through a part of a higher rank, a split
  tiktoken's merge rule allows and a merge list cannot express (Qwen3.5's 232).
- **partial characters**: multi-byte tokens that are not valid UTF-8 on their own (a byte-level
  vocabulary stores pieces of characters; its 128 single bytes above 0x7F are left out), grouped by the length of the character they begin (2-byte:
  Latin extensions, Greek, Cyrillic, Hebrew, Arabic...; 3-byte: Indic, Thai, CJK, Hangul...;
  4-byte: emoji and rare CJK) or as continuation bytes only.
- **unused**: tokens that never occur when the corpus is tokenized, and each script's share of the
  vocabulary and of the unused tokens (a token's script: most of its letters').
- **numbers**: how digit strings of 1 to 12 digits are cut (the pieces' lengths, the most common
  cut of 200 seeded strings each) and whether each piece stays inside one group of three counted
  from the right (place value readable): cl100k_base groups three from the left ("1234" is
  "123" + "4", across the thousands), Qwen splits every digit.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from qtok.files import atomic_write, make_dir
from qtok.progress import reader_gone

from .scripts import char_script, dominant_script

DIGIT_LENGTHS = range(1, 13)
DIGIT_SAMPLES = 200


def rank_table(spec: str):
    """``(ranks, offset)`` of a byte-level BPE tokenizer the study loads by name or ``.tiktoken``
    file (ids = rank + offset), or None for other kinds (SentencePiece, tokenizer.json)."""
    from qtok import get_tokenizer

    from .peers import PEERS
    from .peers import spec as peer_spec
    from .tokenizers import QTOK_NAMES, parse_spec

    _, source = parse_spec(spec)
    if source in PEERS and source != "deepseek-v4":  # the file's ranks; no second tokenizer built
        encoding, offset = peer_spec(source)
        return encoding.mergeable_ranks, offset
    if source in QTOK_NAMES or source.endswith(".tiktoken"):
        return get_tokenizer(source).mergeable_ranks, 0
    return None


def reachability(ranks: dict[bytes, int]) -> dict:
    """Tokens no text can produce (the merge rule, ``qtok.bpe``, on their own bytes gives other
    tokens), and reachable tokens lower ranks cannot build in two parts."""
    from qtok.bpe import bpe_merge, irregular_tokens

    unreachable = [t for t, r in ranks.items() if len(t) > 1 and bpe_merge(t, ranks) != [r]]
    dead = set(unreachable)
    irregular = [t for t in irregular_tokens(ranks) if t not in dead]
    return {"unreachable": sorted(unreachable, key=ranks.get), "irregular_reachable": irregular}


def partial_kind(token: bytes) -> str | None:
    """None for a token that is valid UTF-8; else the script of the character it holds the start
    of (its lead byte and the continuation bytes it has narrow it to a range of code points; the
    first letter in that range names the script), or ``continuation bytes only``.

    >>> partial_kind("你".encode()[:2]), partial_kind("ก".encode()[:2]), partial_kind(b"\\x80")
    ('Han', 'Thai', 'continuation bytes only')
    """
    try:
        token.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    for i, b in enumerate(token):
        size = 4 if b >= 0xF0 else 3 if b >= 0xE0 else 2 if b >= 0xC0 else 0
        if size:
            head = token[i:i + size]
            try:  # the range of code points these bytes can begin
                lo = ord((head + b"\x80" * (size - len(head))).decode("utf-8"))
                hi = ord((head + b"\xbf" * (size - len(head))).decode("utf-8"))
            except UnicodeDecodeError:  # a lead byte no character has (0xC0, 0xF5...)
                return "invalid lead byte"
            symbols = False
            for cp in range(lo, min(hi, lo + 4095) + 1):  # the first letter there names the script
                c = chr(cp)
                if c.isalpha():
                    return char_script(c)
                symbols = symbols or unicodedata.category(c).startswith("S")
            return "emoji and symbols" if symbols else "other"
    return "continuation bytes only"


def token_script(token: bytes) -> str:
    text = token.decode("utf-8", errors="ignore")
    script = dominant_script(text)
    if script != "none":
        return script
    if text.strip() and all(c.isdigit() for c in text.strip()):
        return "digits"
    return "other" if text.strip() else "whitespace" if text else "partial"


def digit_cuts(piece_lengths) -> dict[int, dict]:
    """For each length, the most common cut of seeded digit strings (``piece_lengths(text)``, e.g.
    "3+3+1"), its share, and the share of strings whose pieces each stay inside one group of three
    digits counted from the right (no thousands boundary inside a piece: place value readable)."""
    rng = random.Random(0)
    out = {}
    for n in DIGIT_LENGTHS:
        cuts, aligned = Counter(), 0
        for _ in range(DIGIT_SAMPLES):
            s = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))
            pieces = piece_lengths(s)
            cuts["+".join(map(str, pieces))] += 1
            # A piece is aligned when no thousands boundary falls inside it: single digits
            # always are, cl100k_base's "123" of "1234" (1|234) is not.
            ends = np.cumsum(pieces)
            aligned += all(not any((n - x) % 3 == 0 for x in range(a + 1, b))
                           for a, b in zip(np.concatenate([[0], ends[:-1]]), ends))
        cut, count = cuts.most_common(1)[0]
        out[n] = {"cut": cut, "share": count / DIGIT_SAMPLES, "place_value_aligned": aligned / DIGIT_SAMPLES,
                  "tokens": len(cut.split("+"))}
    return out


def audit(spec: str, corpus=None) -> dict:
    """Every section for one tokenizer (``corpus``: an ``analysis.corpora.Corpus``, or None)."""
    from .tokenizers import get_adapter

    adapter = get_adapter(spec)
    result: dict = {"tokenizer": adapter.name, "meta": adapter.meta, "vocab_size": adapter.vocab_size}
    table = rank_table(spec)
    vocab: dict[int, bytes] = {}
    if table is not None:
        ranks, offset = table
        vocab = {r + offset: t for t, r in ranks.items()}
        found = reachability(ranks)
        result["unreachable"] = [t.hex() for t in found["unreachable"]]
        result["irregular_reachable"] = [t.hex() for t in found["irregular_reachable"]]
        partial: dict[str, list[str]] = {}
        for t in ranks:  # the 128 single bytes above 0x7F are in every byte-level table: left out
            kind = partial_kind(t) if len(t) > 1 else None
            if kind:
                partial.setdefault(kind, []).append(t.hex())
        result["partial"] = partial
    else:
        result["not_byte_level"] = ("reachability and partial characters need a byte-level BPE rank table; "
                                    f"{adapter.name} is {adapter.meta.get('kind', 'another kind')}")
    if corpus is not None:
        used = np.zeros(adapter.vocab_size, dtype=bool)
        for lang in corpus.langs:
            docs = [unicodedata.normalize("NFC", d) for d in corpus.docs(lang)]
            for start in range(0, len(docs), 256):
                ids, _ = adapter.flat(docs[start:start + 256])
                used[ids[ids < len(used)]] = True
        unused = [int(i) for i in np.flatnonzero(~used)]
        result["corpus"] = corpus.name
        result["unused"] = unused
        if vocab:
            share = Counter(token_script(t) for t in vocab.values())
            dead = Counter(token_script(vocab[i]) for i in unused if i in vocab)
            result["scripts"] = {s: {"tokens": n, "unused": dead.get(s, 0)} for s, n in share.most_common()}
    if vocab:
        result["digits"] = digit_cuts(lambda s: [len(vocab[i]) for i in adapter.encode([s])[0]])
    elif adapter.spans is not None:  # digits are ASCII: a span's characters are its bytes
        result["digits"] = digit_cuts(lambda s: [b - a for a, b in adapter.spans(s)[1] if b > a])
    return result


def summary(result: dict) -> list[str]:
    """The audit's lines: one per finding."""
    name, n = result["tokenizer"], result["vocab_size"]
    lines = [f"{name}: {n:,} ids"]
    if "unreachable" in result:
        lines.append(f"unreachable: {len(result['unreachable']):,} tokens no text can produce (BPE on their "
                     "own bytes gives other tokens)")
        lines.append(f"irregular: {len(result['irregular_reachable']):,} reachable tokens lower ranks cannot "
                     "build in two parts (only through a higher-ranked part; no merge list expresses them)")
        partial = result["partial"]
        groups = sorted(partial.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        lines.append(f"partial characters: {sum(map(len, partial.values())):,} multi-byte tokens are not valid UTF-8 alone"
                     + "".join(f"; {len(v):,} {k}" for k, v in groups[:8])
                     + (f"; {len(groups) - 8} more groups in the JSON" if len(groups) > 8 else ""))
    else:
        lines.append(result["not_byte_level"])
    if "unused" in result:
        lines.append(f"unused on {result['corpus']}: {len(result['unused']):,} of {n:,} ids "
                     f"({len(result['unused']) / n:.1%})")
        if "scripts" in result:
            top = list(result["scripts"].items())[:8]
            lines.append("vocabulary by script (tokens, unused): " + ", ".join(
                f"{s} {v['tokens']:,} ({v['unused']:,})" for s, v in top))
    digits = result.get("digits", {})
    if digits:
        lines.append("numbers (the commonest cut of n digits; share of strings cut within place-value groups): " + ", ".join(
            f"{k}: {v['cut']} ({v['place_value_aligned']:.0%})" for k, v in digits.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qtok.analysis.audit", description=__doc__.splitlines()[0])
    p.add_argument("tokenizer", help="a name the study knows (qwen, qwen3.5, cl100k_base, o200k_base...) or a file")
    p.add_argument("--corpus", default="embedded", help="the corpus whose unused tokens are counted "
                                                        "(default: embedded; ntrex:DIR for NTREX-128; none to skip)")
    p.add_argument("--out", default="audit", help="where audit-NAME.json (every list) goes (default: audit)")
    args = p.parse_args(argv)
    from .corpora import CorpusError, load_corpus
    from .tokenizers import TokenizerError

    try:
        make_dir(args.out, "--out ")
        corpus = None if args.corpus == "none" else load_corpus(args.corpus)
        result = audit(args.tokenizer, corpus)
    except (CorpusError, TokenizerError, ValueError, OSError) as e:
        print(f"analysis.audit: error: {e}", file=sys.stderr)
        return 2
    for line in summary(result):
        print(line)
    path = atomic_write(Path(args.out) / f"audit-{result['tokenizer']}.json",
                        json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # python -m qtok.analysis.audit qwen | head
        code = reader_gone()
    sys.exit(code)
