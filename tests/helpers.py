"""What several test files need: a command's ``main(argv)`` run in the test process as a shell
would run it, and the text a string decodes back to."""

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace
from unittest import mock


def run_main(main, *args, stdin: str | bytes | None = None) -> SimpleNamespace:
    """``main(list(args))`` with ``stdin`` as standard input; its ``returncode``, ``stdout`` and
    ``stderr`` as ``subprocess.run(..., text=True)`` gives them."""
    out, err = io.StringIO(), io.StringIO()
    data = stdin if isinstance(stdin, bytes) else (stdin or "").encode("utf-8")
    fake_stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    with mock.patch.object(sys, "stdin", fake_stdin), redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse: --help, --version, usage errors
            code = e.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def clean(s: str) -> str:
    """What a text decodes back to: lone surrogates become U+FFFD (they cannot be UTF-8), written
    here independently of qtok's own ``replace_surrogates``."""
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def plain_tensors(t) -> list:
    """A tensor, or the plain tensors inside a torchao tensor subclass, for exact comparison."""
    import torch  # the model tests only

    if type(t) not in (torch.Tensor, torch.nn.Parameter) and hasattr(t, "__tensor_flatten__"):
        names, _ = t.__tensor_flatten__()
        return [x for n in names for x in plain_tensors(getattr(t, n))]
    return [t.detach()]


def assert_same(a, b):
    """Two models with the same parameters and buffers, exactly (torchao subclasses opened)."""
    import torch

    sa, sb = dict(a.named_parameters()) | dict(a.named_buffers()), dict(b.named_parameters()) | dict(b.named_buffers())
    assert sa.keys() == sb.keys()
    for name in sa:
        xs, ys = plain_tensors(sa[name]), plain_tensors(sb[name])
        assert len(xs) == len(ys) and all(torch.equal(x, y) for x, y in zip(xs, ys)), name
