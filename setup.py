"""The one thing pyproject.toml cannot say: qtok's two C extensions are optional.

qtok._native holds the trainer's loops, qtok._call the short-call path of ``encode``. A machine
without a C compiler still installs qtok: qtok.train then runs its pure-Python path, which gives
the same tables (tests/qtok/test_native.py proves it where the extension is built), and
``encode`` is the Python method, with the same ids (tests/qtok/test_call.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("qtok._native", ["qtok/_native.c"], optional=True),
                   Extension("qtok._call", ["qtok/_call.c"], optional=True)])
