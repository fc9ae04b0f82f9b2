"""Counting over corpora of many gigabytes: cut files into blocks, count blocks on every core or
on a Ray cluster, merge the per-block results in block order.

One idea carries the exactness: a corpus is cut into the same ``Block``s whatever runs them, and
one function counts one block. The local backend (a pool of processes, or this process for one
worker) and the Ray backend (a Ray Data pipeline: ``from_items`` of the blocks, ``map_batches`` of
the counting function, the results streamed back) only decide *where* a block is counted, so the
merged counts are identical to the token.

Blocks of a text file are byte ranges cut just after a newline that is followed by a letter or a
digit. Documents are lines, so any newline would do for the study; the stricter cut also keeps
extension training exact: no pre-tokenization piece of Qwen's pattern (or cl100k's) spans such a
point, so counting pieces per block equals counting them over the whole file. A file with no such
point for a long stretch just gets a longer block. JSON Lines files are cut the same way (one
object per line); Parquet files are cut by row group.

Processes, not threads, for the local backend: measured on the 2-core machine, 2 threads counted
the qwen study 1.2x faster than 1 and 2 processes 1.9x (benchmarks/scale.py): normalization, word
splitting and the per-document bookkeeping hold the GIL even though the tokenizers' cores do not.
Each worker process builds its own tokenizers once (from their specs) and counts many blocks.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BLOCK_BYTES = 8 << 20  # a block's target size: small enough to balance 2..100 workers, large
# enough that the per-block overhead (a result of a few MB per tokenizer) stays small.
KINDS = ("text", "jsonl", "parquet")
BACKENDS = ("local", "ray")


class CorpusFileError(ValueError):
    """A corpus file that cannot be read as asked: the message names the file and the fix."""


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
    # Which documents of the block to count (their indices in the block), set by a sample or a
    # cap; None: all of them.
    select: list[int] | None = field(default=None, repr=False)


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
        raise CorpusFileError(f"unknown corpus file kind {kind!r} for {path}; use one of {', '.join(KINDS)}")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusFileError(f"corpus file {str(path)!r} does not exist") from None
    if size == 0:
        raise CorpusFileError(f"corpus file {str(path)!r} is empty")
    common = dict(group=group, kind=kind, path=str(path), text_field=text_field, errors=errors)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            n = pq.ParquetFile(path).metadata.num_row_groups
        except Exception as e:  # pyarrow.ArrowInvalid and friends
            raise CorpusFileError(f"{path} is not a Parquet file: {e}") from None
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


def decode_utf8(raw: bytes, path: str | Path, offset: int = 0, errors: str = "strict") -> str:
    """``raw`` (bytes of ``path`` from ``offset``) as text; invalid UTF-8 is one line naming the
    file, the byte offset and the fix, unless ``errors="replace"``."""
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise CorpusFileError(f"{path} is not valid UTF-8 at byte offset {offset + e.start}; fix the "
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
            raise CorpusFileError(f"{block.path} has no column {block.text_field!r}; columns: "
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
                raise CorpusFileError(f"{block.path}: the line at byte offset {offset} is not JSON "
                                      f"({e.msg}); a .jsonl corpus has one JSON object a line") from None
            if not isinstance(row, dict) or block.text_field not in row:
                fields = sorted(row) if isinstance(row, dict) else type(row).__name__
                raise CorpusFileError(f"{block.path}: the line at byte offset {offset} has no field "
                                      f"{block.text_field!r} ({fields}); choose one with --text-field")
            line = "" if row[block.text_field] is None else str(row[block.text_field])
        offset += len(raw)
        if line.strip():
            yield line


def selected(block: Block) -> Iterator[str]:
    """``read_docs`` restricted to ``block.select``."""
    docs = read_docs(block)
    if block.select is None:
        yield from docs
        return
    want = iter(block.select)
    nxt = next(want, None)
    for i, doc in enumerate(docs):
        if nxt is None:
            return
        if i == nxt:
            yield doc
            nxt = next(want, None)


# -- running blocks -------------------------------------------------------------------------------
#
# A task is a picklable factory: ``factory()`` returns a function ``block -> result``. Workers call
# the factory once (building tokenizers, compiling patterns) and the function for many blocks.

_WORKER: Callable | None = None
_STOP = threading.Event()  # set on Ctrl-C: threads counting blocks stop at their next batch


def stopping() -> bool:
    """True once a run was interrupted: long per-block loops check it between batches."""
    return _STOP.is_set()


def _init(factory, parent: int, pdeathsig: bool) -> None:
    global _WORKER

    # Ctrl-C goes to the whole process group: the parent stops the workers itself, so they
    # ignore it instead of each printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent, pdeathsig)
    _WORKER = factory()


def _exit_with_parent(parent: int, pdeathsig: bool) -> None:
    """A worker whose parent died (SIGKILL, the OOM killer) exits within a second instead of
    counting on as an orphan. On Linux the kernel sends SIGKILL when the parent dies
    (PR_SET_PDEATHSIG; only when the pool was made by the main thread, since the signal follows
    the creating *thread*); everywhere a thread watches the parent's pid as well."""
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="qtok: watch parent").start()


def _call(block: Block):
    return block.index, _WORKER(block)


class _RayCall:
    """Ray Data's callable-class UDF: built once per actor, counts one block per batch."""

    def __init__(self, factory):
        self.fn = factory()

    def __call__(self, batch):
        out_i, out_r = [], []
        for data in batch["block"]:
            block = pickle.loads(data)
            out_i.append(block.index)
            # A block's error travels back as data: Ray Data would re-raise it as its own
            # UserCodeException, without the original, and the message would differ from local.
            try:
                result = (True, self.fn(block))
            except Exception as e:
                result = (False, e)
            out_r.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return {"index": out_i, "result": out_r}


def run(factory, blocks: list[Block], *, backend: str = "local", jobs: int | None = None,
        address: str | None = None, progress: bool | None = None, desc: str = "blocks",
        threads: bool = False) -> Iterator:
    """``(block.index, result)`` for every block, in completion order. ``local``: ``jobs``
    processes (default: all cores; 1: this process; ``threads=True``: threads of this process,
    for small corpora where building tokenizers in each process would cost more than it saves);
    ``ray``: a Ray Data pipeline on a local Ray (``ray.init()``) or the cluster at ``address``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if backend == "ray":
        yield from _run_ray(factory, blocks, jobs, address)
        return
    from tqdm import tqdm

    _STOP.clear()
    jobs = min(jobs or os.cpu_count() or 1, max(1, len(blocks)))
    bar = tqdm(total=len(blocks), desc=desc, unit="block",
               disable=not (sys.stderr.isatty() if progress is None else progress))
    try:
        if jobs == 1:
            fn = factory()
            for b in blocks:
                yield b.index, fn(b)
                bar.update(1)
            return
        if threads:
            yield from _run_threads(factory, blocks, jobs, bar)
        else:
            yield from _run_processes(factory, blocks, jobs, bar)
    finally:
        bar.close()


def _run_threads(factory, blocks, jobs, bar):
    from concurrent.futures import ThreadPoolExecutor, as_completed

    fn = factory()
    pool = ThreadPoolExecutor(jobs)
    try:
        futures = [pool.submit(lambda b: (b.index, fn(b)), b) for b in blocks]
        for fut in as_completed(futures):
            yield fut.result()
            bar.update(1)
    except BaseException:
        _STOP.set()  # Ctrl-C: the other threads stop at their next batch instead of finishing
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _run_processes(factory, blocks, jobs, bar):
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn, not fork: the tokenizers' native thread pools do not survive a fork.
    main_thread = threading.current_thread() is threading.main_thread()
    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init,
                               initargs=(factory, os.getpid(), main_thread))
    todo = iter(blocks)
    pending = set()
    try:
        # At most 2 blocks a worker in flight: results are merged as they come, so memory does
        # not grow with the corpus. The workers start at the first submit.
        with _main_hidden():
            for b in todo:
                pending.add(pool.submit(_call, b))
                if len(pending) >= 2 * jobs:
                    break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                bar.update(1)
                nxt = next(todo, None)
                if nxt is not None:
                    pending.add(pool.submit(_call, nxt))
    except BaseException:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        _kill(pool)
        raise
    pool.shutdown()


class _main_hidden:
    """Workers need nothing from ``__main__``, but spawn re-runs the main script in each of them
    (a script without an ``if __name__ == "__main__"`` guard would run again; ``python -`` fails
    outright). Hiding its file and spec while the workers start makes spawn skip it."""

    def __enter__(self):
        self.main = sys.modules.get("__main__")
        self.saved = {k: getattr(self.main, k) for k in ("__file__", "__spec__") if hasattr(self.main, k)}
        if "__file__" in self.saved:
            del self.main.__file__
        if "__spec__" in self.saved:
            self.main.__spec__ = None

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            setattr(self.main, k, v)


def _kill(pool) -> None:
    """Stop the workers now (Ctrl-C or an error): their current blocks are not waited for."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            p.terminate()
        except Exception:
            pass


def ray_module():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ImportError("--backend ray needs Ray: pip install 'qtok[scale]' (or pip install "
                          "'ray[data]')") from None
    return ray


def _run_ray(factory, blocks, jobs, address):
    ray = ray_module()
    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": jobs} if jobs else {}
        if not address:
            # A Ray started here shares the machine with this driver: its workers at the default
            # nice 15 yield to the driver's polling (measured: 10-15% slower on 2 cores).
            os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        started = True
    try:
        items = [{"block": pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL)} for b in blocks]
        ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
        workers = jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        pool = ray.data.ActorPoolStrategy(size=min(workers, max(1, len(items))))
        out = ds.map_batches(_RayCall, fn_constructor_args=(factory,), batch_size=1, compute=pool,
                             num_cpus=1)
        for row in out.iter_rows():
            ok, result = pickle.loads(row["result"])
            if not ok:
                raise result
            yield row["index"], result
    finally:
        if started:
            ray.shutdown()
