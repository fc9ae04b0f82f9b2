"""Writers killed at random moments (SIGKILL: no cleanup runs) leave either the previous complete
output or nothing that loads: never a truncated file, never new ranks read with an old sidecar,
never a results directory whose files pass for one run when they are not."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qtok
from qtok.analysis import verify_results
from qtok.load import DataFileError

RNG = random.Random(13)


def run_killed(cmd, delay):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)  # a run that ends before its moment is not waited for further
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, multilingual):
    d = tmp_path_factory.mktemp("corpus")
    for lang, text in multilingual.items():
        (d / f"{lang}.txt").write_text(text * 4, encoding="utf-8")
    return d


def train_cmd(corpus, out, n):
    return [sys.executable, "-m", "qtok", "train", "--base", "cl100k_base", "--corpus", str(corpus),
            "--new-tokens", str(n), "--out", str(out)]


def test_train_killed_at_random_moments(corpus, tmp_path):
    out = tmp_path / "ext.tiktoken"
    side = tmp_path / "ext.tiktoken.json"
    subprocess.run(train_cmd(corpus, out, 50), check=True, capture_output=True)
    old = (out.read_bytes(), side.read_bytes())
    ref = tmp_path / "ref.tiktoken"
    t0 = time.perf_counter()
    subprocess.run(train_cmd(corpus, ref, 300), check=True, capture_output=True)
    runtime = time.perf_counter() - t0
    new = (ref.read_bytes(), (tmp_path / "ref.tiktoken.json").read_bytes().replace(b'"ref"', b'"ext"'))
    seen = set()
    for _ in range(8):
        run_killed(train_cmd(corpus, out, 300), RNG.uniform(0.2, runtime * 1.1))
        ranks, meta = out.read_bytes(), side.read_bytes()
        assert ranks in (old[0], new[0]), "truncated or foreign rank file"
        assert meta in (old[1], new[1]), "truncated or foreign sidecar"
        state = (ranks == new[0], meta == new[1])
        seen.add(state)
        if state == (True, False):  # new ranks beside the old sidecar: refused, never loaded
            with pytest.raises(DataFileError, match="sha256"):
                qtok.get_tokenizer(str(out))
        else:
            assert state in ((False, False), (True, True))
            assert qtok.get_tokenizer(str(out)).n_vocab > 100_000
        # Whatever state the kill left, put back the old pair for the next round.
        out.write_bytes(old[0])
        side.write_bytes(old[1])
    assert (False, False) in seen or (True, True) in seen


def study_args(out, langs):
    return ["--langs", langs, "--tokenizers", "qwen,xlm-r", "--bootstrap", "50", "--out", str(out)]


def test_study_killed_at_random_moments(tmp_path):
    out, saved, ref = tmp_path / "results", tmp_path / "saved", tmp_path / "ref"
    with Preloaded("qtok.analysis.cli", "matplotlib.pyplot") as study:
        assert study.run(study_args(saved, "en,zh")) == 0
        assert verify_results(saved)["languages"] == ["en", "zh"]
        t0 = time.perf_counter()
        assert study.run(study_args(ref, "en,zh,th")) == 0
        runtime = time.perf_counter() - t0
        # Moments over the run's second half, where the results are written, and just past its end.
        outcomes = [_study_killed(study, out, saved, ref, RNG.uniform(0.5, 1.1) * runtime) for _ in range(8)]
    assert set(outcomes) <= {"old", "new", "mixed, detected"}


def _study_killed(study, out, saved, ref, delay) -> str:
    """The study of en,zh,th into ``out`` (holding the en,zh run ``saved``) killed after
    ``delay`` s: the results are the old run's, the new run's (``ref``), or found to be a mix."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(saved, out)
    study.run(study_args(out, "en,zh,th"), delay)
    try:
        meta = verify_results(out)
    except ValueError as e:
        assert "does not match the manifest compression.json" in str(e)
        outcome = "mixed, detected"
    else:
        assert meta["languages"] in (["en", "zh"], ["en", "zh", "th"])
        outcome = "old" if meta["languages"] == ["en", "zh"] else "new"
    # The table is never half-written: it is the old run's or the new run's, whole.
    assert (out / "compression.csv").read_bytes() in ((saved / "compression.csv").read_bytes(),
                                                      (ref / "compression.csv").read_bytes())
    return outcome


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory):
    """``big_corpus(mb)``: a one-language corpus of ``mb`` MB (past the study's 64 MB it is
    counted in worker processes, below in threads), written once per size."""
    made = {}
    line = ("The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。 " * 20).strip() + "\n"
    block = line * 1000

    def make(mb: int) -> Path:
        if mb not in made:
            src = made[mb] = tmp_path_factory.mktemp(f"corpus{mb}")
            with open(src / "en.txt", "w", encoding="utf-8") as f:
                for _ in range(mb * 1_000_000 // len(block.encode()) + 1):
                    f.write(block)
        return made[mb]

    return make


def _ctrl_c_as_in_a_terminal() -> None:
    # A child inherits an ignored SIGINT (and Python then installs no KeyboardInterrupt for it):
    # code that ran earlier in this test worker (Ray's driver, say) may have left it ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_study(corpus, out):
    """The study of ``corpus``, once it says it is counting (so the tokenizers are loaded and
    blocks are being counted, however loaded the machine is)."""
    proc = subprocess.Popen([sys.executable, "-m", "qtok.analysis", "--corpus", str(corpus), "--tokenizers",
                             "qwen,xlm-r", "--reference-lang", "en", "--out", str(out), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    for line in proc.stderr:
        if line.startswith("analysis: counting"):
            return proc
    proc.wait()
    raise AssertionError(f"the study ended before counting (exit {proc.returncode})")


@pytest.mark.parametrize("mb", [40, 100])  # threads below 64 MB of text, worker processes above
def test_ctrl_c_stops_the_study_and_keeps_previous_results(tmp_path, big_corpus, mb):
    out = tmp_path / "results"
    out.mkdir()
    (out / "compression.csv").write_text("previous\n")
    proc = _start_study(big_corpus(mb), out)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    # A bound for a machine busy with other work: the uninterrupted run takes far longer, and the
    # interrupted one typically stops in 0.2-2 s (threads stop at their next batch of documents,
    # worker processes are terminated).
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "analysis: interrupted; the previous results (if any) are unchanged"
    assert "Traceback" not in err
    assert (out / "compression.csv").read_text() == "previous\n"
    assert not _wait_for_empty_group(proc.pid, 10), "a worker outlived the interrupted study"


def _wait_for_empty_group(pgid: int, seconds: float) -> list[int]:
    """The group's running processes after waiting up to ``seconds`` for it to empty (the
    multiprocessing resource tracker exits on its own once its parent has)."""
    deadline = time.monotonic() + seconds
    while (left := _alive_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that are still running (zombies do not count: they
    have exited, and only wait for a parent to collect them)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.parametrize("what", ["study", "train"])
def test_workers_exit_when_their_parent_is_killed(tmp_path, big_corpus, what):
    if what == "study":
        proc = _start_study(big_corpus(100), tmp_path / "out")
    else:
        part = tmp_path / "part.txt"
        with open(big_corpus(40) / "en.txt", encoding="utf-8") as f:
            part.write_text(f.read(30_000_000), encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "qtok", "train", "--corpus", str(part),
                                 "--new-tokens", "10", "--jobs", "2", "--out", str(tmp_path / "x.tiktoken")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        for line in proc.stderr:
            if line.startswith("qtok train: counting pieces"):
                break
    # Wait until the worker processes exist, then kill the parent as the OOM killer would.
    deadline = time.monotonic() + 60
    while len(_alive_in_group(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_alive_in_group(proc.pid)) >= 3, "the workers never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = _wait_for_empty_group(proc.pid, 10)
    for pid in left:  # leave nothing behind, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers still running 10 s after their parent died: {left}"


@pytest.mark.parametrize("cmd,expected", [
    (["-m", "qtok.analysis", "--langs", "en,zh", "--tokenizers", "qwen,xlm-r", "--bootstrap", "0", "--out",
      "/proc/qtok-results", "--quiet"], "analysis: error: cannot create --out /proc/qtok-results"),
    (["-m", "qtok", "train", "--base", "cl100k_base", "--corpus", "analysis/data/udhr/en.txt",
      "--new-tokens", "5", "--out", "/proc/self/x.tiktoken", "--quiet"], "qtok: error: cannot write /proc/self/x.tiktoken"),
    (["-m", "qtok", "export", "hf", "/proc/qtok-export", "--quiet"], "qtok: error: cannot create /proc/qtok-export"),
])
def test_unwritable_outputs_are_one_line(cmd, expected):
    from pathlib import Path

    r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), r.stderr


def test_results_directory_where_a_figure_should_be(tmp_path):
    (tmp_path / "compression.png").mkdir()
    r = subprocess.run([sys.executable, "-m", "qtok.analysis", "--langs", "en,zh", "--tokenizers", "qwen,xlm-r",
                        "--bootstrap", "0", "--out", str(tmp_path), "--quiet"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"analysis: error: {tmp_path / 'compression.png'} is a directory; remove it or choose another --out"]
    assert not (tmp_path / "compression.json").exists()


def _kill_rounds(cmd_new, outputs, restore, rounds=6, max_delay=2.0):
    """Run ``cmd_new`` killed at random moments; every output file must be, byte for byte, its
    old or its new content (``outputs``: path -> (old, new)) — never a truncated mix."""
    for _ in range(rounds):
        restore()
        run_killed(cmd_new, RNG.uniform(0.3, max_delay))
        for path, (old, new) in outputs.items():
            assert path.read_bytes() in (old, new), path.name


def test_export_killed_at_random_moments(tmp_path):
    out = tmp_path / "export"
    subprocess.run([sys.executable, "-m", "qtok", "--encoding", "cl100k_base", "export", "hf", str(out)],
                   check=True, capture_output=True)
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qtok", "export", "hf", str(tmp_path / "ref")], check=True,
                   capture_output=True)
    runtime = time.perf_counter() - t0
    new = {p.name: p.read_bytes() for p in (tmp_path / "ref").iterdir()}

    def restore():
        for name, data in old.items():
            (out / name).write_bytes(data)

    _kill_rounds([sys.executable, "-m", "qtok", "export", "hf", str(out)],
                 {out / n: (old[n], new[n]) for n in old}, restore, max_delay=runtime * 1.1)


# A process that has imported a command's modules once, then forks a child per run: a run is then
# the command's own work (the imports were most of a run, and a kill there tested nothing). It only
# imports (torch runs no op, numpy's BLAS handles a fork), so no thread pool is forked half-made.
_PRELOADED = r"""
import importlib, json, os, signal, sys
for name in sys.argv[2:]:
    importlib.import_module(name)
command = importlib.import_module(sys.argv[1])
child = None
for line in sys.stdin:
    if line.startswith("run "):
        child = os.fork()
        if child == 0:
            sys.stdin.close()
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 1)  # the child's output is not the parent's protocol
            os.dup2(quiet, 2)
            try:
                code = command.main(json.loads(line[4:]))
            except SystemExit as e:
                code = e.code
            except BaseException:
                code = 1
            os._exit(code if isinstance(code, int) else 1)
        print("started", flush=True)
    else:  # "wait" or "kill": the child is reaped only here, so its pid cannot be reused before
        done = os.waitpid(child, os.WNOHANG)
        if done == (0, 0):
            if line.startswith("kill"):
                os.kill(child, signal.SIGKILL)
            done = os.waitpid(child, 0)
        print(os.waitstatus_to_exitcode(done[1]), flush=True)
"""


class Preloaded:
    """``run(argv)`` (the exit code) and ``run(argv, delay)`` (killed after ``delay`` seconds
    unless it ended) of ``module.main(argv)``, forked from a process that imported ``module``
    and ``preload`` once; the process ends with the ``with`` block."""

    def __init__(self, module: str, *preload: str):
        self.args = [module, *preload]

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _PRELOADED, *self.args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        return self

    def _ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def run(self, argv, delay=None) -> int:
        assert self._ask("run " + json.dumps([str(a) for a in argv])) == "started"
        if delay is not None:
            time.sleep(delay)
        return int(self._ask("kill" if delay is not None else "wait"))

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def test_convert_killed_at_random_moments(tmp_path):
    from qtok.model import Qwen, QwenConfig, save_checkpoint

    save_checkpoint(Qwen(QwenConfig.from_name("tiny")).init_weights(0), tmp_path / "a")
    save_checkpoint(Qwen(QwenConfig.from_name("tiny")).init_weights(1), tmp_path / "b")

    def argv(src, dst):
        return [str(tmp_path / src), str(tmp_path / dst), "--to", "hf", "--no-tokenizer"]

    names = ["model.safetensors", "config.json"]
    # torch._dynamo: imported on a first conversion, 0.9 s of each run otherwise.
    with Preloaded("qtok.model.convert", "torch._dynamo") as converter:
        assert converter.run(argv("a", "out")) == 0
        t0 = time.perf_counter()
        assert converter.run(argv("b", "ref")) == 0
        runtime = time.perf_counter() - t0
        old = {n: (tmp_path / "out" / n).read_bytes() for n in names}
        new = {n: (tmp_path / "ref" / n).read_bytes() for n in names}
        assert old["model.safetensors"] != new["model.safetensors"]
        outcomes = set()
        for _ in range(12):  # moments spread over a whole run, its writes included
            for n in names:
                (tmp_path / "out" / n).write_bytes(old[n])
            outcomes.add(converter.run(argv("b", "out"), RNG.uniform(0.0, runtime * 1.1)))
            for n in names:
                assert (tmp_path / "out" / n).read_bytes() in (old[n], new[n]), n
    assert -signal.SIGKILL in outcomes  # some runs were really killed
