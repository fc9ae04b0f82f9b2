"""qtok.blocks: files cut into blocks that read back as the whole file, one UTF-8 rule."""

import pytest

from qtok.blocks import (
    CorpusError,
    decode_utf8,
    docs_blocks,
    number,
    plan_file,
    read_docs,
    read_text,
    text_lines,
)


def test_a_text_file_cut_into_blocks_reads_back_whole(tmp_path):
    f = tmp_path / "c.txt"
    lines = [f"line {i} of the corpus, 元 and ไทย" for i in range(3000)]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    blocks = number(plan_file(f, "xx", block_bytes=4096))
    assert len(blocks) > 10 and [b.index for b in blocks] == list(range(len(blocks)))
    assert blocks[0].start == 0 and blocks[-1].stop == f.stat().st_size
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
    assert "".join(read_text(b) for b in blocks) == f.read_text(encoding="utf-8")
    assert [d for b in blocks for d in read_docs(b)] == lines


def test_documents_in_memory_and_their_blocks():
    docs = [f"document {i}" for i in range(100)]
    blocks = list(docs_blocks(docs, "en", block_bytes=200))
    assert len(blocks) > 1 and [d for b in blocks for d in read_docs(b)] == docs


def test_invalid_utf8_names_the_file_the_offset_and_the_fix(tmp_path):
    with pytest.raises(CorpusError, match=r"x.txt is not valid UTF-8 at byte offset 13; .*--errors replace"):
        decode_utf8(b"ab\xff", "x.txt", 11)  # offset of the block + position in it
    assert decode_utf8(b"a\xffb", "x.txt", errors="replace") == "a\ufffdb"
    assert text_lines(b"a\nb\n", "x") == ["a", "b"]
    with pytest.raises(CorpusError, match="does not exist"):
        plan_file(tmp_path / "missing.txt", "xx")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match="is empty"):
        plan_file(tmp_path / "empty.txt", "xx")
