"""Named encodings: each is a function returning one ``EncodingSpec`` that every engine takes.

Qwen's vocabulary is built here, not copied: cl100k_base minus its 1,100 tokens made only of
ASCII digits, renumbered in order, plus the 52,487 tokens Qwen appended. A test proves the built
table is byte-for-byte the official ``qwen.tiktoken``.
"""

from __future__ import annotations

import difflib
import functools
import json
import marshal
from dataclasses import dataclass, field
from pathlib import Path

from .family import ENDOFTEXT, IM_END, IM_START, MEMBERS, resolve
from .files import read_cached
from .load import (
    DATA_FILES,
    DataFileError,
    load_ranks_file,
    parse_ranks,
    read_data_file,
    read_unpacked,
    sha256_bytes,
    sha256_file,
)

# cl100k_base's pattern; numbers are split into runs of up to three digits.
CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen's pattern: cl100k's with \p{N} for \p{N}{1,3}, so every digit is a piece of its own.
QWEN_PATTERN = CL100K_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")
# Qwen3.5/3.6's: combining marks (\p{M}) join letters, so a word in Devanagari or Thai with its
# vowel signs is one piece, not broken at every mark.
QWEN3_5_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"""
    r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# qtok's own patterns, each swept on every code point on every engine by the tests; any other
# pattern is checked once before an engine uses it (engine/check.py).
OWN_PATTERNS = frozenset({CL100K_PATTERN, QWEN_PATTERN, QWEN3_5_PATTERN})

N_QWEN_EXTRA = 205  # <|extra_0|> .. <|extra_204|>


@dataclass(frozen=True)
class EncodingSpec:
    """Everything that defines an encoding; every engine is built from one of these."""

    name: str
    pat_str: str
    mergeable_ranks: dict[bytes, int] = field(repr=False)  # token bytes -> rank (= id)
    special_tokens: dict[str, int] = field(repr=False)  # special-token text -> id
    # A hash naming the ranks (set for the vendored encodings): engines key what they derive from
    # the ranks by it in the user cache instead of hashing the table in every process.
    cache_key: str = field(default="", repr=False, compare=False)
    # Where it came from, for error messages (a rank file's path); "" for the named encodings.
    origin: str = field(default="", repr=False, compare=False)
    # The Qwen family member (qtok.family.MEMBERS) this is, "" otherwise. A member's compat="hf"
    # is Hugging Face tokenizers' order: added tokens are cut out of the raw text first, then each
    # piece between them is NFC-normalized (Qwen-1's remote code normalizes the whole text first).
    family: str = field(default="", repr=False, compare=False)
    # Added tokens that decode(skip_special_tokens=True) keeps (tokenizer.json's special: false).
    not_special: frozenset = field(default=frozenset(), repr=False, compare=False)
    # What generation stops at.
    stop_tokens: tuple = field(default=(), repr=False, compare=False)

    @property
    def n_vocab(self) -> int:
        return 1 + max(max(self.mergeable_ranks.values()), max(self.special_tokens.values(), default=-1))


def is_multi_digit(token: bytes) -> bool:
    """Tokens Qwen dropped from cl100k_base: two or more ASCII digits and nothing else."""
    return len(token) >= 2 and token.isdigit()


def build_qwen_ranks(cl100k: dict[bytes, int], extension: dict[bytes, int]) -> dict[bytes, int]:
    """cl100k_base minus multi-digit tokens, renumbered in rank order, then the extension."""
    kept = [t for t, _ in sorted(cl100k.items(), key=lambda kv: kv[1]) if not is_multi_digit(t)]
    ranks = {token: rank for rank, token in enumerate(kept)}
    if min(extension.values()) != len(ranks):
        raise DataFileError(
            f"the Qwen extension starts at rank {min(extension.values())}, expected {len(ranks)}"
        )
    ranks.update(extension)
    return ranks


# Bumped when the way a table is built from its files changes, so stale cache entries are unused.
_BUILD_VERSION = "1"


def _ranks_key(name: str, files: tuple[str, ...]) -> str:
    """The cache key of a vendored table: the pinned hashes of its inputs and how it is built."""
    parts = [name, _BUILD_VERSION, f"marshal{marshal.version}", *(DATA_FILES[f] for f in files)]
    return sha256_bytes("|".join(parts).encode())


def _vendored_ranks(name: str, files: tuple[str, ...], build) -> dict[bytes, int]:
    """``build(*parsed files)``, read from the user cache when an earlier process built it.

    Parsing 150,000 base64 lines costs ~0.3 s; the cached table loads in ~0.03 s. The vendored
    files are still read and hash-checked every time, so a tampered file is refused either way;
    a compressed one is decompressed only to parse it (its pinned hash fixes what it holds, and
    the cache key holds that hash): Qwen3.5's costs 0.15 s.
    """
    for f in files:
        read_data_file(f)

    def make() -> bytes:
        return marshal.dumps(build(*(parse_ranks(read_unpacked(f), f"qtok/data/{f}") for f in files)))

    try:
        ranks = marshal.loads(read_cached(_ranks_key(name, files), ".ranks", make))
    except (ValueError, EOFError, TypeError):  # a cache entry from an incompatible Python
        ranks = marshal.loads(make())
    return ranks


@functools.lru_cache(maxsize=None)
def _cl100k_ranks() -> dict[bytes, int]:
    return _vendored_ranks("cl100k_base", ("cl100k_base.tiktoken",), lambda cl: cl)


_QWEN_FILES = ("cl100k_base.tiktoken", "qwen_extension.tiktoken")


def qwen_extension_start() -> int:
    """The first rank of Qwen's own tokens: the number of cl100k_base tokens it kept (99,156)."""
    return sum(1 for t in _cl100k_ranks() if not is_multi_digit(t))


def _qwen_ranks() -> dict[bytes, int]:
    return _vendored_ranks("qwen", _QWEN_FILES, build_qwen_ranks)


def qwen() -> EncodingSpec:
    ranks = _qwen_ranks()
    n = len(ranks)  # 151643
    specials = [ENDOFTEXT, IM_START, IM_END] + [f"<|extra_{i}|>" for i in range(N_QWEN_EXTRA)]
    return EncodingSpec(
        name="qwen",
        pat_str=QWEN_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={tok: n + i for i, tok in enumerate(specials)},
        cache_key=_ranks_key("qwen", _QWEN_FILES),
        stop_tokens=(ENDOFTEXT, IM_END),  # Qwen-Chat's generation config stops at both
    )


_QWEN3_5_FILES = ("qwen3_5.tiktoken.xz",)


def _member(name: str) -> EncodingSpec:
    """A Qwen family member: Qwen-1's ranks (``_vendored_ranks`` makes a new dict each call, so
    no two encodings share one) or Qwen3.5's, then the member's added tokens."""
    m = MEMBERS[name]
    if m.ranks == "qwen":
        ranks, pattern, key = _qwen_ranks(), QWEN_PATTERN, _ranks_key("qwen", _QWEN_FILES)
    else:
        ranks = _vendored_ranks("qwen3.5", _QWEN3_5_FILES, lambda r: r)
        pattern, key = QWEN3_5_PATTERN, _ranks_key("qwen3.5", _QWEN3_5_FILES)
    n = len(ranks)
    return EncodingSpec(
        name=name,
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens={tok: n + i for i, tok in enumerate(m.added)},
        cache_key=key,
        family=name,
        not_special=m.not_special,
        stop_tokens=m.stop_tokens,
    )


def cl100k_base() -> EncodingSpec:
    return EncodingSpec(
        name="cl100k_base",
        pat_str=CL100K_PATTERN,
        mergeable_ranks=dict(_cl100k_ranks()),
        special_tokens={
            ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        cache_key=_ranks_key("cl100k_base", ("cl100k_base.tiktoken",)),
    )


ENCODINGS = {"qwen": qwen, "cl100k_base": cl100k_base,
             **{name: functools.partial(_member, name) for name in MEMBERS}}

# What each named encoding is, for list_encodings() and the family table of docs/family.md.
DESCRIPTIONS = {
    "qwen": "Qwen-1 (Qwen-1.8B/7B/14B/72B and -Chat): 151,643 ranks + 208 specials",
    "cl100k_base": "OpenAI's cl100k_base (GPT-3.5/4), Qwen-1's starting point",
    **{name: f"{m.models}: {'Qwen-1' if m.ranks == 'qwen' else 'a new 248,044'} ranks + "
             f"{len(m.added)} added tokens" for name, m in MEMBERS.items()},
}


def from_file(path: str | Path, pat_str: str | None = None) -> EncodingSpec:
    """An encoding from a ``.tiktoken`` rank file, such as one written by ``qtok train``.

    The pattern and special tokens come from the JSON sidecar ``FILE.json`` when it exists
    (``qtok train`` writes one); otherwise the pattern is ``pat_str`` (default: Qwen's) and
    ``<|endoftext|>`` follows the last rank.
    """
    path = Path(path)
    ranks = load_ranks_file(path)
    sidecar = path.with_name(path.name + ".json")
    meta = {}
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise DataFileError(f"cannot read the sidecar {str(sidecar)!r}: {e}") from None
        # A sidecar describes one rank file: a rank file changed after it was written (cut,
        # edited, or a new one beside an old sidecar) would get the wrong special tokens.
        if "sha256" in meta and meta["sha256"] != sha256_file(path):
            raise DataFileError(
                f"{path} does not match its sidecar {sidecar.name} (sha256 {sha256_file(path)}, the "
                f"sidecar says {meta['sha256']}): the rank file was changed or replaced after it was "
                "written; restore it, or delete the sidecar to load the ranks alone"
            )
    specials = meta.get("special_tokens") or {ENDOFTEXT: max(ranks.values()) + 1}
    try:
        specials = {str(k): int(v) for k, v in specials.items()}
    except (TypeError, ValueError, AttributeError):
        raise DataFileError(f"the sidecar {str(sidecar)!r} has special_tokens that are not "
                            "{text: id}") from None
    # Validated once, by the Tokenizer built from it (check_table), whichever engine runs it.
    return EncodingSpec(
        name=meta.get("name", path.stem),
        pat_str=pat_str or meta.get("pat_str", QWEN_PATTERN),
        mergeable_ranks=ranks,
        special_tokens=specials,
        origin=str(path),
    )


def canonical_name(name) -> str | None:
    """The encoding a name stands for: an encoding's own name, or a Hugging Face model id of the
    Qwen family (``Qwen/Qwen3-8B`` -> ``qwen3``); None for anything else.

    >>> canonical_name("Qwen/Qwen2.5-7B-Instruct"), canonical_name("cl100k_base")
    ('qwen2.5', 'cl100k_base')
    """
    if not isinstance(name, str):
        return None
    if name in ENCODINGS:
        return name
    return resolve(name)


# The names the study (qtok.analysis) and the playground take beyond qtok's encodings: XLM-R and
# Qwen's peers, whose files come with the [analysis] and [peers] extras. qtok cannot load them;
# its error says where they are. tests/playground/test_server.py checks this list is the study's.
STUDY_ONLY = ("xlm-r", "xlm-r-hf", "o200k_base", "deepseek-v4", "tekken")


def get_spec(name: str | Path, pat_str: str | None = None) -> EncodingSpec:
    """A named encoding (``qwen``, ``qwen3``, ``cl100k_base``...; a Qwen model id such as
    ``Qwen/Qwen3-8B``) or a path to a ``.tiktoken`` file."""
    if (canonical := canonical_name(name)) is not None:
        return ENCODINGS[canonical]()
    if isinstance(name, (str, Path)) and str(name).endswith(".tiktoken"):
        return from_file(name, pat_str)
    close = difflib.get_close_matches(str(name).lower(), sorted(ENCODINGS), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if str(name) in STUDY_ONLY:
        hint = (f" ({name} is one of the tokenizers the study compares Qwen with, not an encoding of "
                f"qtok's: python -m qtok.analysis --tokenizers qwen,{name} or qtok serve --tokenizers {name})")
    raise ValueError(
        f"unknown encoding {name!r}{hint}: use one of {sorted(ENCODINGS)}, a Qwen model id such as "
        "'Qwen/Qwen3-8B', or the path of a .tiktoken file"
    )
