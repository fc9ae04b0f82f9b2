"""The examples in the study's and the playground's docstrings, run under the names they are
installed by (``qtok.analysis.metrics``). pytest's own doctest collection would import
``analysis/metrics.py`` as a top-level ``analysis`` package, a second copy of every module."""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    "qtok." + ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for folder in ("analysis", "model", "playground")
    for p in (ROOT / folder).rglob("*.py")
    if p.name != "__main__.py" and ">>>" in p.read_text(encoding="utf-8"))


def test_the_examples_are_found():
    assert "qtok.analysis" in MODULES and "qtok.analysis.metrics" in MODULES and len(MODULES) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted and not result.failed, f"{result.failed} of {name}'s examples failed (output above)"
