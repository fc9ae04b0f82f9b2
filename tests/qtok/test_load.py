"""The vocabulary is built from cl100k_base plus the extension, and proven to be Qwen's."""

import pytest

from qtok import load
from qtok.encodings import build_qwen_ranks, cl100k_base, is_multi_digit, qwen
from qtok.load import DataFileError, dump_ranks, parse_ranks, sha256_bytes

OFFICIAL_QWEN_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"


def test_built_qwen_table_is_the_official_file():
    # Written in tiktoken's format, the table we build is byte for byte the official qwen.tiktoken.
    assert sha256_bytes(dump_ranks(qwen().mergeable_ranks)) == OFFICIAL_QWEN_SHA256


def test_cl100k_table_is_tiktokens_file():
    data = dump_ranks(cl100k_base().mergeable_ranks)
    assert sha256_bytes(data) == load.DATA_FILES["cl100k_base.tiktoken"]


def test_qwen_construction_counts():
    cl = cl100k_base().mergeable_ranks
    spec = qwen()
    assert sum(map(is_multi_digit, cl)) == 1100
    assert len(spec.mergeable_ranks) == 151_643
    assert spec.n_vocab == 151_851
    kept = [t for t, _ in sorted(cl.items(), key=lambda kv: kv[1]) if not is_multi_digit(t)]
    assert [spec.mergeable_ranks[t] for t in kept] == list(range(99_156))
    assert not any(is_multi_digit(t) for t in spec.mergeable_ranks)
    # Single digits survive: Qwen's pattern splits numbers into them.
    assert all(bytes([d]) in spec.mergeable_ranks for d in b"0123456789")


def test_special_tokens():
    sp = qwen().special_tokens
    assert sp["<|endoftext|>"] == 151643
    assert sp["<|im_start|>"] == 151644
    assert sp["<|im_end|>"] == 151645
    assert sp["<|extra_0|>"] == 151646
    assert sp["<|extra_204|>"] == 151850
    assert len(sp) == 208


def test_extension_must_follow_the_pruned_base():
    cl = cl100k_base().mergeable_ranks
    with pytest.raises(DataFileError, match="starts at rank 5"):
        build_qwen_ranks(cl, {b"\xff\xfe": 5})


def test_tampered_file_names_file_and_both_hashes(tmp_path, monkeypatch):
    real = load.resources.files("qtok.data").joinpath("cl100k_base.tiktoken").read_bytes()
    (tmp_path / "cl100k_base.tiktoken").write_bytes(real.replace(b"IQ== 0", b"Ig== 0", 1))
    monkeypatch.setattr(load.resources, "files", lambda package: tmp_path)
    with pytest.raises(DataFileError) as info:
        load.read_data_file("cl100k_base.tiktoken")
    msg = str(info.value)
    assert "cl100k_base.tiktoken" in msg
    assert load.DATA_FILES["cl100k_base.tiktoken"] in msg
    assert sha256_bytes(real.replace(b"IQ== 0", b"Ig== 0", 1)) in msg


def test_missing_file_says_reinstall(tmp_path, monkeypatch):
    monkeypatch.setattr(load.resources, "files", lambda package: tmp_path)
    with pytest.raises(DataFileError, match="missing.*reinstall"):
        load.read_data_file("qwen_extension.tiktoken")


def test_parse_errors_name_the_line():
    assert parse_ranks(b"YQ== 0\n\nYg== 1\n") == {b"a": 0, b"b": 1}
    with pytest.raises(DataFileError, match="line 2"):
        parse_ranks(b"YQ== 0\nnot-base64!! x\n", source="f.tiktoken")


def test_unknown_data_file():
    with pytest.raises(DataFileError, match="not a qtok data file"):
        load.read_data_file("../../etc/passwd")


def test_a_tampered_table_is_refused_even_when_its_ranks_are_cached(tmp_path, monkeypatch):
    # The ranks built from a vendored file are cached under its pinned hash; the file itself is
    # still checked on every load (Qwen3.5's compressed one without decompressing it).
    from qtok.encodings import get_spec

    assert len(get_spec("qwen3.5").mergeable_ranks) == 248_044  # cached now, if it was not
    data = load.resources.files("qtok.data").joinpath("qwen3_5.tiktoken.xz").read_bytes()
    (tmp_path / "qwen3_5.tiktoken.xz").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setattr(load.resources, "files", lambda package: tmp_path)
    with pytest.raises(DataFileError, match=r"qwen3_5\.tiktoken\.xz.*failed its hash check"):
        get_spec("qwen3.5")
