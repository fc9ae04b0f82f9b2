"""Shared helpers for the benchmark scripts: a mixed multilingual text available offline."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

UDHR = Path(__file__).resolve().parent.parent / "analysis" / "data" / "udhr"


def mixed_documents(target_bytes: int, distinct: bool = False) -> list[str]:
    """Documents totalling about ``target_bytes``: the 18-language UDHR, then Python's standard
    library source (code, English prose, many distinct pieces), then the UDHR again to fill.

    ``distinct=True`` reads the whole standard library (sub-packages too, tests and
    site-packages excluded) so that nothing repeats: about 0.2 MB UDHR + the rest code."""
    udhr = [p.read_text(encoding="utf-8") for p in sorted(UDHR.glob("*.txt"))]
    root = Path(sysconfig.get_paths()["stdlib"])
    if distinct:
        stdlib = sorted(p for p in root.rglob("*.py")
                        if not {"site-packages", "test", "tests", "idle_test"} & set(p.relative_to(root).parts))
    else:
        stdlib = sorted(root.glob("*.py"))
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


def header(title: str) -> None:
    import platform

    print(f"# {title}")
    print(f"# python {sys.version.split()[0]}, {platform.machine()}, {__import__('os').cpu_count()} cpus")
