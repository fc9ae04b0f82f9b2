"""qtok.progress: the wall clock a user's stopwatch would show, status lines on stderr only."""

import subprocess
import sys
import time

from qtok.progress import Status, process_seconds


def test_process_seconds_counts_from_the_process_start():
    # A child that sleeps before importing qtok: the time it reports includes the sleep.
    code = "import time; time.sleep(0.6); from qtok.progress import process_seconds; print(process_seconds())"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    assert 0.6 <= float(out) <= wall + 0.05
    assert process_seconds() > 0


def test_status_goes_to_stderr_and_is_silent_when_quiet(capsys):
    Status("demo")("loading")
    Status("demo", quiet=True)("hidden")
    bar = Status("demo", quiet=True).bar(total=3)
    bar.update(3)
    bar.close()
    out, err = capsys.readouterr()
    assert out == "" and err == "demo: loading\n"
