"""Shared helpers for the benchmark scripts: a mixed multilingual text available offline."""

from __future__ import annotations

import sys
import sysconfig
import time
from pathlib import Path

UDHR = Path(__file__).resolve().parent.parent / "analysis" / "data" / "udhr"


def mixed_documents(target_bytes: int) -> list[str]:
    """Documents totalling about ``target_bytes``: the 18-language UDHR, then Python's standard
    library source (code, English prose, many distinct pieces), then the UDHR again to fill."""
    udhr = [p.read_text(encoding="utf-8") for p in sorted(UDHR.glob("*.txt"))]
    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    docs, size = [], 0
    sources = iter(udhr + [p.read_text(encoding="utf-8", errors="replace") for p in stdlib])
    while size < target_bytes:
        doc = next(sources, None)
        if doc is None:
            sources = iter(udhr)
            continue
        docs.append(doc)
        size += len(doc.encode("utf-8"))
    return docs


def best_of(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def header(title: str) -> None:
    import platform

    print(f"# {title}")
    print(f"# python {sys.version.split()[0]}, {platform.machine()}, {__import__('os').cpu_count()} cpus")
