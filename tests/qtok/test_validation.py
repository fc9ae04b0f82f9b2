"""Rank files are validated on load: every corruption is one ValueError naming the file and the
problem, the same whichever engine is asked for, and none can take the machine's memory."""

import json

import pytest

from qtok import get_tokenizer
from qtok.load import DataFileError, dump_ranks
from qtok.train import extend, write_extension

ENGINES = ("fast", "tiktoken", "reference")
BYTES = {bytes([i]): i for i in range(256)}


def _load_everywhere(path, match):
    messages = set()
    for engine in ENGINES:
        with pytest.raises(DataFileError, match=match) as e:
            get_tokenizer(str(path), engine=engine)
        messages.add(str(e.value))
    assert len(messages) == 1  # the same error from every engine
    assert str(path) in messages.pop()


def test_duplicate_rank(tmp_path):
    p = tmp_path / "dup.tiktoken"
    p.write_bytes(dump_ranks(BYTES | {b"ab": 256}) + b"Y2Q= 256\n")  # "cd" also at 256
    _load_everywhere(p, r"line 258 repeats rank 256 of line 257")


def test_duplicate_token(tmp_path):
    p = tmp_path / "dup.tiktoken"
    p.write_bytes(dump_ranks(BYTES) + b"YQ== 256\n")
    _load_everywhere(p, r"line 257 repeats the token b'a'")


def test_a_huge_rank_is_refused_not_allocated(tmp_path):
    p = tmp_path / "huge.tiktoken"
    p.write_bytes(dump_ranks(BYTES) + b"YWI= 1000000000\n")
    _load_everywhere(p, r"rank 256 is missing and the largest is 1000000000")
    p.write_bytes(dump_ranks(BYTES) + b"YWI= " + str(2 ** 40).encode() + b"\n")
    _load_everywhere(p, r"without gaps")


def test_missing_single_bytes(tmp_path):
    p = tmp_path / "nobytes.tiktoken"
    p.write_bytes(dump_ranks({bytes([i]): i for i in range(200)}))
    _load_everywhere(p, r"56 of the 256 single bytes are not tokens \(the first is byte 200\)")


def test_cut_inside_a_number(tmp_path):
    data = dump_ranks(BYTES | {b"ab": 256, b"abc": 257, b"cd": 258})
    p = tmp_path / "cut.tiktoken"
    p.write_bytes(data[:-2])  # "Y2Q= 258\n" becomes "Y2Q= 25": rank 25 again
    _load_everywhere(p, r"line 259 repeats rank 25 of line 26")
    p.write_bytes(data[:-6])  # "Y2Q=" alone
    _load_everywhere(p, r"is not 'base64_token rank'")


def test_truncated_file_beside_its_sidecar(tmp_path, multilingual):
    path = tmp_path / "ext.tiktoken"
    write_extension(path, extend("cl100k_base", [multilingual["th"]], 30), base="cl100k_base",
                    n_new_requested=30)
    full = path.read_bytes()
    path.write_bytes(b"".join(full.splitlines(keepends=True)[:50_000]))  # head -n 50000
    _load_everywhere(path, r"does not match its sidecar")
    (tmp_path / "ext.tiktoken.json").unlink()
    # Without a sidecar, a prefix of ranks is a valid (smaller) vocabulary: all engines agree.
    text = multilingual["th"][:2000] + multilingual["en"][:2000]
    ids = {e: get_tokenizer(str(path), engine=e).encode(text) for e in ENGINES}
    assert ids["fast"] == ids["tiktoken"] == ids["reference"]


@pytest.mark.parametrize("specials,match", [
    ({"<|endoftext|>": 10}, r"special token '<\|endoftext\|>' has id 10, which is a rank"),
    ({"": 300}, r"a special token has an empty text"),
    ({"<|a|>": 300, "<|b|>": 300}, r"two special tokens share an id"),
    ({"<|a|>": "x"}, r"special_tokens that are not"),
    ({"<|a|>": 10 ** 9}, r"more than 1,048,576 ids past the last rank"),
])
def test_bad_sidecar_specials(tmp_path, specials, match):
    p = tmp_path / "s.tiktoken"
    p.write_bytes(dump_ranks(BYTES | {b"ab": 256}))
    (tmp_path / "s.tiktoken.json").write_text(json.dumps({"special_tokens": specials}))
    _load_everywhere(p, match)


def test_an_empty_special_cannot_hang_encode():
    from qtok.core import Tokenizer
    from qtok.encodings import QWEN_PATTERN, EncodingSpec

    with pytest.raises(DataFileError, match="empty text"):
        Tokenizer(EncodingSpec("x", QWEN_PATTERN, BYTES, {"": 256}))


@pytest.mark.parametrize("pattern,match", [
    ("[a-z]+", "pieces do not cover the text"),   # " 42 " would be lost from "hello 42 ab"
    ("a*", "can match the empty string"),          # the tiktoken engine panicked on it
    ("", "the pattern is empty"),                  # the reference engine returned [] for any text
    ("(unclosed", "does not compile"),
    # Python's regex alone knows these: tiktoken and fastokens failed with a 15-line traceback.
    (r"\X|\s+", "cannot compile the pattern"),
    (r"(?V1)[\p{L}--\p{Lu}]+|\p{Lu}+|\s+|[^\s\p{L}]+", "cannot compile the pattern"),
])
def test_a_pattern_that_loses_text_is_refused_on_load_and_on_train(tmp_path, pattern, match):
    from helpers import run_main
    from qtok.cli import main

    path = tmp_path / "mine.tiktoken"
    write_extension(path, extend(BYTES, ["hello hello world"], 2), base=BYTES, n_new_requested=2)
    meta = json.loads((tmp_path / "mine.tiktoken.json").read_text())
    (tmp_path / "mine.tiktoken.json").write_text(json.dumps(dict(meta, pat_str=pattern)))
    _load_everywhere(path, match)
    with pytest.raises(DataFileError, match=match):
        extend(BYTES, ["hello 42 ab"], 2, pat_str=pattern)
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello 42 ab\n" * 10)
    r = run_main(main, "train", "--corpus", corpus, "--new-tokens", "2", "--pattern", pattern,
                 "--out", tmp_path / "o.tiktoken", "--quiet")
    assert r.returncode == 2 and match in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_token_no_merge_reaches_is_encoded_alike_by_every_engine_and_the_export(tmp_path):
    # "abc" with no "ab" or "bc": tiktoken finds it only as a whole piece; so do fastokens and
    # an HF export through the whole-piece lookup (ignore_merges). Once refused, now a real table.
    from tokenizers import Tokenizer as HF

    from helpers import run_main
    from qtok.cli import main

    p = tmp_path / "open.tiktoken"
    p.write_bytes(dump_ranks(BYTES | {b"abc": 256}))
    texts = ["abc", "xabc abc abcabc", "abc.abc", " abc\nabc"]
    want = [get_tokenizer(str(p), engine="tiktoken").encode(t) for t in texts]
    assert want[0] == [256] and 256 not in want[1][:4]
    for engine in ENGINES:
        tok = get_tokenizer(str(p), engine=engine)
        assert [tok.encode(t) for t in texts] == want, engine
    r = run_main(main, "export", "hf", tmp_path / "out", "--encoding", p, "--quiet")
    assert r.returncode == 0, r.stderr
    hf = HF.from_file(str(tmp_path / "out" / "tokenizer.json"))
    assert [hf.encode(t).ids for t in texts] == want
