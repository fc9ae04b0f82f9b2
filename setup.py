"""The one thing pyproject.toml cannot say: qtok's C extensions are optional.

qtok._native holds the trainer's loops and the study's token counter (qtok.tally), qtok._call the
short-call path of ``encode``, and qtok.analysis._unigram the study's SentencePiece Unigram
encoder (XLM-R). A machine without a C compiler still installs qtok: qtok.train then runs its
pure-Python path, which gives the same tables (tests/qtok/test_native.py proves it where the
extension is built), the study counts from the engine's ids, which the counter reproduces
(tests/qtok/test_tally.py), ``encode`` is the Python method, with the same ids
(tests/qtok/test_call.py), and the study's XLM-R runs in sentencepiece, whose ids the C encoder
reproduces (tests/analysis/test_unigram.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("qtok._native", ["qtok/_native.c"], optional=True),
                   Extension("qtok._call", ["qtok/_call.c"], optional=True),
                   # No fused multiply-add: the Viterbi's scores must round as sentencepiece's do.
                   Extension("qtok.analysis._unigram", ["analysis/_unigram.c"], optional=True,
                             extra_compile_args=["-ffp-contract=off"])])
