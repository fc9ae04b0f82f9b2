"""The one thing pyproject.toml cannot say: qtok._native, the trainer's C loops, is optional.

A machine without a C compiler still installs qtok; qtok.train then runs its pure-Python path,
which gives the same tables (tests/qtok/test_native.py proves it where the extension is built).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("qtok._native", ["qtok/_native.c"], optional=True)])
