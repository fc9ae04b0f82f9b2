"""analysis.audit on a tiny hand-made vocabulary where every answer is known, and on real ones."""

import base64
import json

import pytest
from helpers import run_main

from qtok.analysis.audit import audit, digit_cuts, main, partial_kind, summary
from qtok.encodings import CL100K_PATTERN

# After the 256 bytes: ab and abc are built by merges; xyz has no two parts at all (no text makes
# it); lmn has no two parts below it, but "mn" above it makes it reachable (l + mn); a piece of
# 你; and 12 / 123, digit groups that cl100k's pattern cuts three at a time from the left.
EXTRA = [b"ab", b"abc", b"xyz", b"lmn", b"mn", "你".encode()[:2], b"12", b"123"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    tokens = [bytes([i]) for i in range(256)] + EXTRA
    path = d / "tiny.tiktoken"
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(tokens)))
    (d / "tiny.tiktoken.json").write_text(json.dumps({"pat_str": CL100K_PATTERN}))
    return path


def test_every_section_on_a_vocabulary_with_known_answers(tiny, tmp_path):
    (tmp_path / "corpus" / "en").mkdir(parents=True)
    (tmp_path / "corpus" / "en" / "a.txt").write_text("abc ab 123\nlmn abc\n", encoding="utf-8")
    from qtok.analysis.corpora import load_corpus

    corpus = load_corpus(f"{tmp_path}/corpus/{{lang}}/*.txt", langs=["en"])
    result = audit(str(tiny), corpus)
    assert [bytes.fromhex(t) for t in result["unreachable"]] == [b"xyz"]
    assert [bytes.fromhex(t) for t in result["irregular_reachable"]] == [b"lmn"]
    assert result["partial"] == {"Han": ["e4bd"]}
    used = {256 + EXTRA.index(t) for t in (b"ab", b"abc", b"123", b"lmn")} | {ord(" ")}  # a line is a document
    assert set(range(len(EXTRA) + 256)) - set(result["unused"]) == used
    # Random digits mostly find no digit token: one a digit, aligned; "12" and "123" now and then are not.
    assert result["digits"][4]["cut"] == "1+1+1+1" and 0.9 < result["digits"][4]["place_value_aligned"] < 1
    lines = summary(result)
    assert any(line.startswith("unreachable: 1 tokens") for line in lines)
    assert any("unused on" in line and f"{len(result['unused'])} of {len(EXTRA) + 257}" in line for line in lines)


def test_place_value_alignment_of_digit_cuts():
    left = lambda s: [3] * (len(s) // 3) + ([len(s) % 3] if len(s) % 3 else [])  # noqa: E731 - cl100k's grouping
    right = lambda s: ([len(s) % 3] if len(s) % 3 else []) + [3] * (len(s) // 3)  # noqa: E731 - thousands
    cuts = digit_cuts(left)
    assert cuts[4] == {"cut": "3+1", "share": 1.0, "place_value_aligned": 0.0, "tokens": 2}
    assert cuts[6]["cut"] == "3+3" and cuts[6]["place_value_aligned"] == 1.0
    assert digit_cuts(right)[7] == {"cut": "1+3+3", "share": 1.0, "place_value_aligned": 1.0, "tokens": 3}
    assert digit_cuts(lambda s: [1] * len(s))[12]["place_value_aligned"] == 1.0


def test_partial_characters_by_the_script_of_the_character_they_begin():
    assert partial_kind("é".encode()) is None and partial_kind(b"ab") is None
    assert partial_kind("é".encode()[:1]) == "Latin" and partial_kind("ж".encode()[:1]) == "Cyrillic"
    assert partial_kind("한".encode()[:2]) == "Hangul" and partial_kind(b" " + "अ".encode()[:2]) == "Devanagari"
    assert partial_kind("😀".encode()[:3]) == "emoji and symbols"
    assert partial_kind(b"\x80\x81") == "continuation bytes only" and partial_kind(b"\xc0\x80") == "invalid lead byte"


def test_qwen_splits_every_digit_and_the_command_writes_its_lists(tmp_path):
    r = run_main(main, "qwen", "--corpus", "none", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "unreachable: 0 tokens" in r.stdout and "12: 1+1+1+1+1+1+1+1+1+1+1+1 (100%)" in r.stdout
    data = json.loads((tmp_path / "audit-qwen.json").read_text(encoding="utf-8"))
    assert data["unreachable"] == [] and data["digits"]["7"]["cut"] == "1+1+1+1+1+1+1"
    r = run_main(main, "no-such-tokenizer", "--corpus", "none", "--out", tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("analysis.audit: error: unknown tokenizer")


def test_a_closed_pipe_is_a_quiet_end(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(f"{sys.executable} -m analysis.audit qwen --corpus none --out {tmp_path} | head -1",
                       shell=True, capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("qwen: 151,851 ids") and r.stderr == "", r.stderr
