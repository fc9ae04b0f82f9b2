"""The wheel, as a user outside this project gets it: built from the sources, installed into a
fresh virtual environment, and run from a directory that holds the user's own ``analysis.py`` and
``model/`` package. It installs nothing beside ``qtok`` (and tiktoken's plugin folder), so the
user's files and qtok's packages never shadow each other.

Nothing is downloaded: the wheel is built without build isolation (this environment's
setuptools), installed without dependencies, and the fresh environment sees this one's
dependencies through a ``.pth`` line placed after its own site-packages (so its ``qtok`` is the
wheel's, not this checkout's editable one).
"""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("qtok", "analysis", "model", "playground", "tiktoken_ext", "setup.py", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh environment's python, the wheel) with the wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for name in SOURCES:  # a copy: the build writes build/ and *.egg-info beside the sources
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = base / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(dist), str(src)], cwd=base, timeout=300)
    (wheel,) = dist.glob("qtok-*.whl")
    env = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(env)], cwd=base)
    python = env / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)], cwd=base, timeout=300)
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=base).stdout.strip())
    # This environment's packages after the wheel's: numpy, tiktoken, torch... (a .pth line adds a
    # path without running the .pth files there, so this checkout's editable finder stays out).
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, wheel


@pytest.fixture()
def user_dir(tmp_path):
    """A researcher's working directory: their own analysis.py and model/."""
    (tmp_path / "analysis.py").write_text("MINE = 'the user analysis.py'\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "__init__.py").write_text("MINE = 'the user model'\n")
    return tmp_path


def run(cmd, cwd, timeout=180, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def test_the_wheel_installs_only_qtok(installed):
    _, wheel = installed
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"qtok", "tiktoken_ext"}
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("qtok/analysis/study.py", "qtok/analysis/data/udhr/en.txt", "qtok/analysis/data/ntrex-chart.tar.xz",
                   "qtok/model/qwen.py", "qtok/playground/server.py", "qtok/data/qwen_extension.tiktoken",
                   "tiktoken_ext/qtok_qwen.py"):
        assert module in names, module


def test_a_users_analysis_and_model_and_qtoks_side_by_side(installed, user_dir):
    python, _ = installed
    r = run([python, "-c", "import analysis, model, qtok, qtok.analysis, qtok.model, qtok.playground; "
                           "print(analysis.MINE); print(model.MINE); print(qtok.analysis.__file__); "
                           "print(qtok.__file__); print(qtok.analysis.run_study.__module__)"], cwd=user_dir)
    mine_a, mine_m, study_file, qtok_file, where = r.stdout.splitlines()
    assert (mine_a, mine_m) == ("the user analysis.py", "the user model")
    assert str(ROOT) not in study_file and str(ROOT) not in qtok_file and "site-packages" in study_file
    assert where == "qtok.analysis.study"


def test_the_main_commands_run_from_the_users_directory(installed, user_dir):
    python, _ = installed
    args = ["--langs", "en,zh", "--tokenizers", "qwen,xlm-r", "--bootstrap", "0", "--quiet"]
    r = run([python, "-m", "qtok.analysis", *args, "--out", user_dir / "res"], cwd=user_dir)
    assert "zh" in r.stdout and (user_dir / "res" / "report.html").is_file()
    # The same study from this checkout (in this process): the same CSV, byte for byte.
    from helpers import run_main

    from qtok.analysis.cli import main

    assert run_main(main, *args, "--out", user_dir / "here").returncode == 0
    assert (user_dir / "res" / "compression.csv").read_bytes() == (user_dir / "here" / "compression.csv").read_bytes()
    helps = run([Path(python).parent / "qtok", "--help"], cwd=user_dir).stdout
    assert "serve" in helps and "encode" in helps
    assert "--tokenizers" in run([Path(python).parent / "qtok", "serve", "--help"], cwd=user_dir).stdout
    assert "--port" in run([python, "-m", "qtok.playground", "--help"], cwd=user_dir).stdout
    assert "--weights" in run([python, "-m", "qtok.model", "--help"], cwd=user_dir).stdout
    assert run([Path(python).parent / "qtok", "encode", "hello world"], cwd=user_dir).stdout.split() == ["14990", "1879"]


def test_a_checkout_finds_its_own_packages_without_an_install(tmp_path):
    """From a checkout, without the editable install's finder (site-packages on PYTHONPATH, so no
    .pth file runs): qtok.analysis, qtok.model and qtok.playground are the checkout's folders."""
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])}
    r = subprocess.run([sys.executable, "-S", "-c", "import sys, qtok.analysis, qtok.model, qtok.playground; "
                        "print(any('editable' in type(f).__name__.lower() for f in sys.meta_path)); "
                        "print(qtok.analysis.__file__, qtok.model.__file__, qtok.playground.__file__)"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    editable, files = r.stdout.splitlines()
    assert editable == "False"
    assert files.split() == [str(ROOT / p / "__init__.py") for p in ("analysis", "model", "playground")]
