"""``python -m qtok.analysis``: the compression study (default: the embedded corpus). See --help."""

import gc
import os
import sys

from qtok.progress import missing_extra, reader_gone

# numpy's OpenBLAS starts a thread per core that spins, waiting for work, for a while after
# numpy is imported: ~0.12 s of a core in this process and again in each one it starts (the
# figure worker), taken from the counting. The study multiplies no matrix worth a thread. Set
# before numpy is imported (qtok.analysis imports it only on first use).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    from .cli import main
except ImportError as e:  # numpy, matplotlib, tokenizers...: the [analysis] extra
    print(missing_extra("python -m qtok.analysis", e, "analysis"), file=sys.stderr)
    sys.exit(2)

try:
    code = main()
    sys.stdout.flush()
except KeyboardInterrupt:
    # Ctrl-C: the workers are stopped and no result was renamed into place, so the previous
    # run's files are still whole.
    print("analysis: interrupted; the previous results (if any) are unchanged", file=sys.stderr)
    code = 130
except BrokenPipeError:  # python -m qtok.analysis | head
    code = reader_gone()
# The run is over: its objects (the tables, the counts) need no cyclic collection on the way out,
# which took ~0.2 s of the 128-language study's exit; they are freed as usual.
gc.freeze()
sys.exit(code)
