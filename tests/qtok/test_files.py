"""qtok.files: atomic writes, output directories, and the user cache that is checked on reuse."""

import os

import pytest

from qtok.files import WriteError, atomic_write, cache_dir, cached_derived, make_dir, read_cached
from qtok.load import sha256_bytes


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write(path, "old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with pytest.raises(WriteError, match="is a directory"):
        atomic_write(tmp_path, "x")
    with pytest.raises(WriteError, match="cannot write"):
        atomic_write(tmp_path / "missing-dir" / "x.txt", "x")


def test_make_dir_refuses_a_file_in_the_way(tmp_path):
    assert make_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="--out .* exists and is not a directory"):
        make_dir(tmp_path / "f", "--out ")


def test_cache_is_keyed_checked_and_remade(tmp_path, monkeypatch):
    monkeypatch.setenv("QTOK_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    calls = []

    def make():
        calls.append(1)
        return b"derived bytes"

    path = cached_derived("k" * 64, ".bin", make)
    assert path.name == f"{'k' * 64}-{sha256_bytes(b'derived bytes')}.bin" and path.read_bytes() == b"derived bytes"
    assert cached_derived("k" * 64, ".bin", make) == path and len(calls) == 1  # found, not made again
    assert read_cached("k" * 64, ".bin", make) == b"derived bytes" and len(calls) == 1
    path.write_bytes(b"derived")  # truncated: its name no longer matches its hash
    assert read_cached("k" * 64, ".bin", make) == b"derived bytes" and len(calls) == 2
    assert path.read_bytes() == b"derived bytes"  # and it was made again, whole


def test_unwritable_cache_still_gives_the_bytes(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    monkeypatch.setenv("QTOK_CACHE_DIR", str(blocked / "sub"))
    assert read_cached("a" * 64, ".bin", lambda: b"abc") == b"abc"
    path = cached_derived("a" * 64, ".bin", lambda: b"abc")  # a temporary directory instead
    assert path.read_bytes() == b"abc" and blocked not in path.parents
    assert os.access(path, os.R_OK)
