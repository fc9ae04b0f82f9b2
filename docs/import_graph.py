"""Draw the project's import graph, module by module, in its floors (docs/import-graph.png).

    python docs/import_graph.py [--out docs/import-graph.png]

Every import counts, inside functions too (the same walk as tests/test_layers.py). Modules are
placed by floor: the tokenizer (qtok) at the bottom, the study and the model above it, the
playground on top; an arrow points from the importer to what it imports, so every arrow between
floors points down.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = [("qtok", 0), ("model", 1), ("analysis", 1), ("playground", 2)]


def floor(module: str) -> str:
    """The folder a module lives in: ``qtok.analysis.count`` -> ``analysis`` (the study's folder,
    installed under qtok's name), ``qtok.core`` -> ``qtok``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in dict(FLOORS) else parts[0]


def modules() -> dict[str, Path]:
    """Every module by its installed name (``analysis/count.py`` is ``qtok.analysis.count``)."""
    out = {}
    for package, _ in FLOORS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "data" in path.relative_to(ROOT).parts or path.name == "__main__.py":
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if package != "qtok":
                parts = ["qtok", *parts]
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def edges(mods: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) between this project's modules."""
    out = set()
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{up}.{node.module}" if node.module else up
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                # the longest module name the import refers to
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    out.add((name, t))
    return out


def draw(mods: dict[str, Path], links: set[tuple[str, str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor_of = dict(FLOORS)
    rows: dict[int, list[str]] = {}
    for m in mods:
        rows.setdefault(floor_of[floor(m)], []).append(m)
    pos = {}
    for level, names in rows.items():
        names.sort(key=lambda m: (floor(m), m))
        for i, m in enumerate(names):
            # two lines per floor when a floor is wide, so labels do not collide
            pos[m] = ((i // 2) / max(1, (len(names) + 1) // 2 - 1) * 20, level * 3 + (i % 2) * 1.1)
    fig, ax = plt.subplots(figsize=(16, 8), layout="constrained")
    colours = {"qtok": "#4c72b0", "analysis": "#dd8452", "model": "#55a868", "playground": "#c44e52"}
    for a, b in sorted(links):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        up = floor_of[floor(b)] > floor_of[floor(a)]
        ax.annotate("", (x2, y2), (x1, y1), arrowprops=dict(arrowstyle="->", lw=0.5, alpha=0.35,
                                                             color="red" if up else "grey"))
    for m, (x, y) in pos.items():
        ax.text(x, y, m, ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.25", fc="white", ec=colours[floor(m)]))
    for name, level in FLOORS:
        ax.text(-1.5, level * 3 + 0.5, {0: "tokenizer", 1: "study / model", 2: "playground"}[level],
                ha="right", va="center", fontsize=10, weight="bold")
    ax.set_xlim(-5, 21.5)
    ax.set_ylim(-1, 8.5)
    ax.axis("off")
    ax.set_title(f"qtok's imports: {len(mods)} modules, {len(links)} arrows (importer -> imported); "
                 "an arrow up a floor would be red")
    fig.savefig(out, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "import-graph.png")
    args = p.parse_args()
    mods = modules()
    links = edges(mods)
    floor_of = dict(FLOORS)
    upward = [(a, b) for a, b in links if floor_of[floor(b)] > floor_of[floor(a)]
              or (floor_of[floor(b)] == floor_of[floor(a)] and floor(a) != floor(b))]
    draw(mods, links, args.out)
    print(f"{len(mods)} modules, {len(links)} imports, {len(upward)} across or up a floor: {upward}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
