"""Derive qtok's vendored data from its sources. Not imported by qtok; run by hand.

    python qtok/data/derive.py extension QWEN_TIKTOKEN CL100K_TIKTOKEN   # -> qwen_extension.tiktoken
    python qtok/data/derive.py unicode                                  # -> unicode_classes.json

``extension`` checks that the official ``qwen.tiktoken`` really is cl100k_base minus its
multi-digit tokens, renumbered, plus appended tokens, and writes the appended tokens with their
Qwen ranks. ``unicode`` asks the installed tiktoken which code points its Rust regex counts as
``\\p{L}``, ``\\p{N}`` and ``\\s`` (see qtok/unicode.py for why). After either, update the sha256
in qtok/load.py:DATA_FILES.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from qtok.encodings import is_multi_digit  # noqa: E402
from qtok.load import dump_ranks, load_ranks_file, sha256_bytes  # noqa: E402


def derive_extension(qwen_path: str, cl100k_path: str) -> None:
    qwen = load_ranks_file(qwen_path)
    cl100k = load_ranks_file(cl100k_path)
    kept = [t for t, _ in sorted(cl100k.items(), key=lambda kv: kv[1]) if not is_multi_digit(t)]
    assert len(cl100k) - len(kept) == 1100, "cl100k_base should have 1,100 multi-digit tokens"
    for rank, token in enumerate(kept):
        if qwen.get(token) != rank:
            sys.exit(f"qwen.tiktoken does not keep cl100k token {token!r} at rank {rank}")
    extension = {t: r for t, r in qwen.items() if r >= len(kept)}
    assert sorted(extension.values()) == list(range(len(kept), len(qwen)))
    data = dump_ranks(extension)
    (HERE / "qwen_extension.tiktoken").write_bytes(data)
    print(f"wrote {len(extension)} tokens, sha256 {sha256_bytes(data)}")


def _ranges(code_points: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for cp in code_points:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def derive_unicode() -> None:
    import tiktoken

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    byte_ranks = {bytes([i]): i for i in range(256)}
    table = {"source": f"tiktoken {tiktoken.__version__} (Rust regex), probed by qtok/data/derive.py"}
    for name, pattern in [("L", r"\p{L}"), ("N", r"\p{N}"), ("White_Space", r"\s")]:
        # tiktoken encodes only what the pattern matches, so the decoded output is exactly the
        # set of code points in the class.
        enc = tiktoken.Encoding(f"probe-{name}", pat_str=pattern, mergeable_ranks=byte_ranks,
                                special_tokens={})
        members = sorted(map(ord, enc.decode(enc.encode_ordinary(every))))
        table[name] = _ranges(members)
        print(f"{name}: {len(members)} code points in {len(table[name])} ranges")
    data = (json.dumps(table, separators=(",", ":")) + "\n").encode()
    (HERE / "unicode_classes.json").write_bytes(data)
    print(f"sha256 {sha256_bytes(data)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["extension"] and len(sys.argv) == 4:
        derive_extension(sys.argv[2], sys.argv[3])
    elif sys.argv[1:] == ["unicode"]:
        derive_unicode()
    else:
        sys.exit(__doc__)
