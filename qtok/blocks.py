"""Corpora of any size as blocks: byte ranges of text and JSON Lines files, row groups of Parquet
files, or groups of documents already in memory, each read back as documents; one UTF-8 reader
for every corpus file, with one error (``CorpusError``) that names the file, the byte offset and
the fix.

One idea carries the exactness of counting at scale (``qtok.runner``): a corpus is cut into the
same ``Block``s whatever counts them, and one function counts one block, so merged counts are
identical however many workers, processes or Ray actors did the work.

Blocks of a text file are byte ranges cut just after a newline that is followed by a letter or a
digit. Documents are lines, so any newline would do for the study; the stricter cut also keeps
extension training exact: no pre-tokenization piece of Qwen's pattern (or cl100k's) spans such a
point, so counting pieces per block equals counting them over the whole file. A file with no such
point for a long stretch just gets a longer block. JSON Lines files are cut the same way (one
object per line); Parquet files are cut by row group.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BLOCK_BYTES = 8 << 20  # a block's target size: small enough to balance 2..100 workers, large
# enough that the per-block overhead (a result of a few MB per tokenizer) stays small.
KINDS = ("text", "jsonl", "parquet")


class CorpusError(ValueError):
    """A corpus that cannot be read as asked: the message names the file (and the byte offset)
    and the fix."""


@dataclass
class Block:
    """A unit of counting: a byte range of a text/JSON Lines file, a row group of a Parquet file,
    or documents already in memory (``kind="docs"``, for the small vendored corpora)."""

    index: int
    group: str  # what the results are merged by: a language, or "" for training
    kind: str  # text | jsonl | parquet | docs
    path: str = ""
    start: int = 0  # byte offset, or the row group
    stop: int = 0
    docs: list[str] | None = field(default=None, repr=False)
    text_field: str = "text"
    errors: str = "strict"


def kind_of(path: str | Path, kind: str | None = None) -> str:
    """``parquet`` for ``*.parquet``, ``jsonl`` for ``*.jsonl``/``*.json``, else ``text``."""
    if kind:
        return {"json": "jsonl"}.get(kind, kind)
    suffix = Path(path).suffix.lower()
    return {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "text")


def _safe_cut(f, pos: int, size: int) -> int:
    """The first offset at or after ``pos`` that follows a newline and precedes a letter or digit
    (``size`` if none)."""
    while pos < size:
        f.seek(pos)
        buf = f.read(1 << 16)
        i = buf.find(b"\n")
        while i != -1:
            nxt = buf[i + 1:i + 5]
            if len(nxt) < 4 and pos + i + 1 + len(nxt) < size:
                break  # the next character may be cut: the next read starts 4 bytes back
            ch = nxt.decode("utf-8", errors="ignore")[:1]
            if ch.isalnum():
                return pos + i + 1
            i = buf.find(b"\n", i + 1)
        if pos + len(buf) >= size:
            return size
        pos += max(1, len(buf) - 4)
    return size


def plan_file(path: str | Path, group: str, kind: str | None = None, *, text_field: str = "text",
              errors: str = "strict", block_bytes: int = BLOCK_BYTES) -> list[Block]:
    """The blocks of one file (``index`` is set by ``plan``)."""
    path = Path(path)
    kind = kind_of(path, kind)
    if kind not in KINDS:
        raise CorpusError(f"unknown corpus file kind {kind!r} for {path}; use one of {', '.join(KINDS)}")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusError(f"corpus file {str(path)!r} does not exist") from None
    if size == 0:
        raise CorpusError(f"corpus file {str(path)!r} is empty")
    common = dict(group=group, kind=kind, path=str(path), text_field=text_field, errors=errors)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            n = pq.ParquetFile(path).metadata.num_row_groups
        except Exception as e:  # pyarrow.ArrowInvalid and friends
            raise CorpusError(f"{path} is not a Parquet file: {e}") from None
        return [Block(0, start=g, stop=g + 1, **common) for g in range(n)]
    blocks, start = [], 0
    with open(path, "rb") as f:
        while start < size:
            stop = size if size - start <= block_bytes else _safe_cut(f, start + block_bytes, size)
            blocks.append(Block(0, start=start, stop=stop, **common))
            start = stop
    return blocks


def docs_blocks(docs: Iterable[str], group: str, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """In-memory documents as blocks of about ``block_bytes`` (UTF-8) each."""
    batch, size = [], 0
    for doc in docs:
        batch.append(doc)
        size += len(doc) * 2  # a cheap estimate; blocks only need to be roughly even
        if size >= block_bytes:
            yield Block(0, group, "docs", docs=batch)
            batch, size = [], 0
    if batch:
        yield Block(0, group, "docs", docs=batch)


def number(blocks: Iterable[Block]) -> list[Block]:
    """The blocks with ``index`` 0, 1, ... in order: the order results are merged in."""
    out = list(blocks)
    for i, b in enumerate(out):
        b.index = i
    return out


def text_lines(data: bytes, source: str, errors: str = "strict") -> list[str]:
    """The lines of a small file already in memory (``decode_utf8``'s rule for invalid UTF-8)."""
    return decode_utf8(data, source, 0, errors).splitlines()


def decode_utf8(raw: bytes, path: str | Path, offset: int = 0, errors: str = "strict") -> str:
    """``raw`` (bytes of ``path`` from ``offset``) as text; invalid UTF-8 is one line naming the
    file, the byte offset and the fix, unless ``errors="replace"``."""
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not valid UTF-8 at byte offset {offset + e.start}; fix the "
                              "file or pass --errors replace to replace invalid bytes with U+FFFD") from None


def read_text(block: Block) -> str:
    """A text block's bytes as one string (what extension training counts pieces in)."""
    with open(block.path, "rb") as f:
        f.seek(block.start)
        raw = f.read(block.stop - block.start)
    return decode_utf8(raw, block.path, block.start, block.errors)


def read_docs(block: Block) -> Iterator[str]:
    """A block's documents: the non-blank lines of a text file, the ``text_field`` of each JSON
    line or Parquet row (blank ones skipped), or the block's own documents."""
    if block.kind == "docs":
        yield from block.docs or []
        return
    if block.kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(block.path).read_row_group(block.start)
        if block.text_field not in table.column_names:
            raise CorpusError(f"{block.path} has no column {block.text_field!r}; columns: "
                                  f"{table.column_names} (choose one with --text-field)")
        for value in table.column(block.text_field).to_pylist():
            if value is not None and str(value).strip():
                yield str(value)
        return
    with open(block.path, "rb") as f:
        f.seek(block.start)
        data = f.read(block.stop - block.start)
    offset = block.start
    for raw in data.splitlines(keepends=True):
        line = decode_utf8(raw, block.path, offset, block.errors).rstrip("\r\n")
        if block.kind == "jsonl" and line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{block.path}: the line at byte offset {offset} is not JSON "
                                      f"({e.msg}); a .jsonl corpus has one JSON object a line") from None
            if not isinstance(row, dict) or block.text_field not in row:
                fields = sorted(row) if isinstance(row, dict) else type(row).__name__
                raise CorpusError(f"{block.path}: the line at byte offset {offset} has no field "
                                      f"{block.text_field!r} ({fields}); choose one with --text-field")
            line = "" if row[block.text_field] is None else str(row[block.text_field])
        offset += len(raw)
        if line.strip():
            yield line
