"""Running a function over blocks (``qtok.blocks``), on every core or on a Ray cluster, results
back in completion order for the caller to merge in block order.

A task is a picklable factory: ``factory()`` returns a function ``block -> result``. Workers call
the factory once (building tokenizers, compiling patterns) and the function for many blocks. The
local backend (a pool of processes, threads of this process, or this process alone) and the Ray
backend (a Ray Data pipeline: ``from_items`` of the blocks, ``map_batches`` of the function) only
decide *where* a block is counted.

Processes, not threads, for large local runs: normalization, word splitting and the
per-document bookkeeping hold the GIL even though the tokenizers' cores do not, so a second
thread gains little and a second process almost 2x (measured: benchmarks/README.md, "At scale").
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait

from .blocks import Block
from .progress import Status

BACKENDS = ("local", "ray")

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
    _STOP.clear()
    jobs = min(jobs or os.cpu_count() or 1, max(1, len(blocks)))
    bar = Status().bar(total=len(blocks), desc=desc, unit="block", show=progress)
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


def _spawn_pool(factory, jobs: int) -> ProcessPoolExecutor:
    # spawn, not fork: the tokenizers' native thread pools do not survive a fork.
    main_thread = threading.current_thread() is threading.main_thread()
    return ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init,
                               initargs=(factory, os.getpid(), main_thread))


def _apply(item):
    return _WORKER(item)


class Workers:
    """``jobs`` worker processes beside this one, each holding ``factory()``, under the rules of
    ``run``'s pool (spawned with the main script hidden, Ctrl-C left to this process, gone within
    a second of its death); ``submit(item)`` gives a Future of ``factory()(item)``. A context
    manager: leaving it stops the workers at once (what was not collected by then is not
    wanted: a command that fails early does not wait for a worker still starting)."""

    def __init__(self, factory, jobs: int = 1):
        self.pool = _spawn_pool(factory, jobs)

    def submit(self, item):
        with _main_hidden():  # the workers start at the first submit
            return self.pool.submit(_apply, item)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=False, cancel_futures=True)
        _kill(self.pool)


def _run_processes(factory, blocks, jobs, bar):
    pool = _spawn_pool(factory, jobs)
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
    """Stop the workers now (Ctrl-C or an error): their current blocks are not waited for, but
    their exit is (up to a second each, then SIGKILL), so none outlives the command."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        try:
            p.terminate()
        except Exception:
            pass
    for p in procs:
        try:
            p.join(1.0)
            if p.is_alive():
                p.kill()
                p.join(1.0)
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
