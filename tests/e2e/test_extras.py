"""A plain install (no extras): every command that needs an extra says in one line which, and the
tokenizer itself works. Missing packages are simulated by stand-ins on PYTHONPATH that fail to
import the way an absent package does."""

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def without(tmp_path_factory):
    """PYTHONPATH under which the named top-level packages cannot be imported."""
    def env(*names):
        root = tmp_path_factory.mktemp("without")
        for name in names:
            (root / name).mkdir()
            (root / name / "__init__.py").write_text(
                f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n")
        return {**os.environ, "PYTHONPATH": str(root)}
    return env


@pytest.mark.parametrize("command, missing, says", [
    (["-m", "qtok.analysis", "--quiet"], "numpy", "python -m qtok.analysis: error: numpy is not installed; "
                                            "python -m qtok.analysis needs pip install 'qtok[analysis]'"),
    (["-m", "qtok", "serve"], "numpy", "qtok: error: numpy is not installed; qtok serve needs pip "
                                       "install 'qtok[analysis]'"),
    (["-m", "qtok.playground"], "numpy", "playground: error: numpy is not installed; qtok serve needs pip "
                                    "install 'qtok[analysis]'"),
    (["-m", "qtok.model"], "torch", "python -m qtok.model: error: torch is not installed; python -m qtok.model needs "
                               "pip install 'qtok[model]'"),
    (["-m", "qtok.model.convert", "--help"], "torch", "python -m qtok.model.convert: error: torch is not installed; "
                                                 "python -m qtok.model.convert needs pip install 'qtok[model]'"),
])
def test_a_missing_extra_is_one_line(without, tmp_path, command, missing, says):
    r = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=tmp_path,
                       env=without(missing), timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == says, r.stderr


def test_the_tokenizer_needs_no_extra(without, tmp_path):
    r = subprocess.run([sys.executable, "-c", "import qtok, qtok.analysis, qtok.model; print(qtok.encode('hello world'))"],
                       capture_output=True, text=True, cwd=tmp_path, env=without("numpy", "torch"), timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[14990, 1879]", r.stderr
    # The packages' names say what to install.
    for code, missing, says in (("from qtok.model import Qwen", "torch", "torch is not installed; the model needs "
                                                                    "pip install 'qtok[model]'"),
                                ("from qtok.analysis import run_study", "numpy", "numpy is not installed; the study "
                                                                            "needs pip install 'qtok[analysis]'")):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                           env=without(missing), timeout=120)
        assert r.returncode == 1 and r.stderr.strip().endswith(f"ImportError: {says}"), r.stderr
