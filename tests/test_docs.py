"""The README and the docs/ pages cannot go stale. Their ``>>>`` examples run as doctests
(pytest collects every .md under the test paths); here, every command they show — in a bash block
or in inline code — names a program that exists and only options that program's ``--help``
lists, the commands whose output a comment shows give that output, and docs/layout.md names every
module of the project."""

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
# What a command starts with, and the program its --help belongs to.
PROGRAM = re.compile(r"^(qtok export \w+|qtok \w+|python -m qtok(?:\.\w+)*|python benchmarks/\w+\.py)(?=\s|$)")
INLINE = re.compile(r"`((?:qtok [a-z]|python -m qtok|python benchmarks/)[^`]*)`")


def commands() -> list[tuple[str, str]]:
    """(page, command line) for every command shown."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                if PROGRAM.match(line.strip()):
                    out.append((page.name, line.strip()))
        for span in INLINE.findall(text.replace("\n", " ")):
            if PROGRAM.match(span):
                out.append((page.name, span))
    return out


def words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote in an inline mention cut by the prose
        return command.split()


COMMANDS = commands()
PROGRAMS = sorted({PROGRAM.match(c).group(1) for _, c in COMMANDS})


@cache
def help_text(program: str) -> str:
    if program == "qtok":
        cmd = [sys.executable, "-m", "qtok", "--help"]
    elif program.startswith("qtok "):
        cmd = [sys.executable, "-m", "qtok", *program.split()[1:], "--help"]
    elif program.startswith("python -m "):
        cmd = [sys.executable, "-m", program.split()[2], "--help"]
    else:
        cmd = [sys.executable, program.split()[1], "--help"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, f"{program} --help exited {r.returncode}: {r.stderr[-500:]}"
    # qtok's own options (--encoding, --engine, --compat, --json) go before or after a command.
    return r.stdout + (help_text("qtok") if program.startswith("qtok ") else "")


def test_the_pages_show_commands():
    assert len(COMMANDS) > 50 and "qtok train" in PROGRAMS and "python -m qtok.analysis" in PROGRAMS


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_option_shown_is_the_programs(program):
    helped = help_text(program)
    stale = [f"{page}: {command}  ({option})"
             for page, command in COMMANDS if PROGRAM.match(command).group(1) == program
             for option in {w.split("=")[0] for w in words(command)[len(program.split()):] if w.startswith("--")}
             if option != "--help" and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", helped)]
    assert not stale, "options the program does not have:\n" + "\n".join(stale)


def test_the_outputs_shown_are_the_outputs():
    """``qtok encode "hello world"  # 14990 1879``: the comment is what the command prints."""
    shown = [(page, c) for page, c in COMMANDS if re.match(r"qtok (encode|decode) \S.*#", c)]
    assert shown
    for page, command in shown:
        expected = command.split("#", 1)[1].strip().split("  ")[0]
        r = subprocess.run([sys.executable, "-m", *words(command)], capture_output=True, text=True, cwd=ROOT,
                           timeout=60)
        assert r.stdout.strip() == expected, (page, command, r.stdout, r.stderr)


def test_the_layout_names_every_module():
    text = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    listing = text[text.index("```"):]
    files = [p for folder in ("qtok", "qtok/engine", "analysis", "model", "playground", "benchmarks",
                              "tiktoken_ext", "notebooks", "docs")
             for p in sorted((ROOT / folder).glob("*")) if p.suffix in (".py", ".c", ".ipynb")]
    unnamed = [str(p.relative_to(ROOT)) for p in files
               if p.name not in ("__init__.py", "__main__.py")
               and not re.search(rf"(?<![\w.]){re.escape(p.name)}(?![\w])", listing)]
    assert len(files) > 60 and not unnamed, f"docs/layout.md does not name: {unnamed}"


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to "-"."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_pages_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"(https?:|mailto:)", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", file.read_text(encoding="utf-8"), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
