"""The engine layer: the declared interface, the registry, the fallback where fastokens is
missing, and the rank-file cache the fast engine reads."""

import os
import subprocess
import sys

import pytest

import qtok
from qtok import get_tokenizer
from qtok.core import Tokenizer
from qtok.encodings import QWEN_PATTERN, EncodingSpec
from qtok.engine import Engine, engine_class, register_engine


def test_engines_lists_what_runs_here_default_first():
    found = qtok.engines()
    assert list(found) == ["fast", "tiktoken", "reference"]  # fastokens is installed here
    assert found["fast"].startswith("fastokens ") and found["tiktoken"].startswith("tiktoken ")
    tok = get_tokenizer()
    assert tok.engine_name == "fast"
    assert "engine='fast' (fastokens" in repr(get_tokenizer(engine="fast"))  # asked by name: built
    assert get_tokenizer(engine="fast") is tok  # one tokenizer, whichever way it was asked for


def test_the_default_engine_stands_in_until_building_pays(monkeypatch):
    from qtok.encodings import cl100k_base
    from qtok.engine import StandIn

    monkeypatch.setattr(StandIn, "BUDGET", 1000)
    tok = Tokenizer(cl100k_base())  # the default engine, not asked for by name
    assert isinstance(tok.engine, StandIn) and "tiktoken" in repr(tok) and "standing in" in repr(tok)
    first = tok.encode("hello world")  # answered by tiktoken
    assert isinstance(tok.engine, StandIn) and tok.engine._thread is None
    stand_in = tok.engine
    text = "hello world, " * 100  # past the budget: fastokens is built in the background ...
    assert tok.encode(text) == get_tokenizer("cl100k_base", engine="tiktoken").encode(text)
    assert stand_in._thread is not None  # ... while the call was answered at once
    stand_in._thread.join(timeout=60)
    assert "fastokens" in repr(tok) and "standing in" not in repr(tok)
    assert tok.encode("hello world") == first == [15339, 1917]


def test_with_one_cpu_the_stand_in_answers_for_good(monkeypatch):
    import qtok.engine
    from qtok.encodings import cl100k_base
    from qtok.engine import StandIn

    monkeypatch.setattr(StandIn, "BUDGET", 1000)
    monkeypatch.setattr(qtok.engine, "usable_cpus", lambda: 1)
    tok = Tokenizer(cl100k_base())
    text = "hello world, " * 100
    want = get_tokenizer("cl100k_base", engine="tiktoken").encode(text)
    for _ in range(3):  # past the budget, and again: no build, no thread, tiktoken's ids
        assert tok.encode(text) == want and tok.encode_batch([text]) == [want]
    assert isinstance(tok.engine, StandIn) and tok.engine._thread is None
    assert "one CPU" in repr(tok)


def test_a_stand_in_keeps_answering_when_the_engine_cannot_be_built(monkeypatch):
    from qtok.encodings import cl100k_base
    from qtok.engine import StandIn

    class Broken:
        stand_in = "tiktoken"

        def __init__(self, spec):
            raise ValueError("cannot build")

    monkeypatch.setattr(StandIn, "BUDGET", 10)
    engine = StandIn(cl100k_base(), Broken, engine_class("tiktoken"), lambda e: None)
    assert engine.encode_ordinary("hello world, hello world") == [15339, 1917, 11, 24748, 1917]
    assert isinstance(engine.build_error, ValueError)
    with pytest.raises(ValueError, match="cannot build"):
        engine.build()  # asked for by name: the error, not the stand-in


@pytest.mark.parametrize("name", ["fast", "tiktoken", "reference"])
def test_every_builtin_engine_satisfies_the_protocol(name):
    assert isinstance(get_tokenizer("qwen", engine=name).engine, Engine)
    assert callable(engine_class(name).backend)


def test_a_fourth_engine_is_registered_not_patched_in(monkeypatch):
    import qtok.engine

    monkeypatch.setattr(qtok.engine, "_REGISTERED", {})  # leave no engine behind for other tests
    class Bytes:
        """Every byte its own token: a toy engine over a 256-byte spec."""

        def __init__(self, spec):
            self.spec = spec

        def encode_ordinary(self, text):
            return list(text.encode("utf-8"))

        def encode(self, text, allowed_special):
            return self.encode_ordinary(text)

        def encode_batch(self, texts, allowed_special, num_threads):
            return [self.encode(t, allowed_special) for t in texts]

        def decode_bytes(self, ids):
            return bytes(ids)

        def decode_single_token_bytes(self, token):
            return bytes([token])

    register_engine("bytes", Bytes)
    spec = EncodingSpec("bytes", QWEN_PATTERN, {bytes([i]): i for i in range(256)}, {"<|endoftext|>": 256})
    tok = Tokenizer(spec, engine="bytes")
    assert isinstance(tok.engine, Engine)
    assert tok.encode("hé") == [104, 195, 169]
    # Policy stays above the engine: bad ids are refused before the toy engine sees them.
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([300])
    assert "bytes" in qtok.engines()


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_without_fastokens_the_default_is_tiktoken():
    # As on Linux aarch64, where fastokens has no wheel: the import fails, qtok still works.
    r = _run("import sys; sys.modules['fastokens'] = None\n"
             "import qtok\n"
             "print(list(qtok.engines()), qtok.get_tokenizer().engine_name, qtok.encode('hello world'))\n"
             "try:\n    qtok.get_tokenizer(engine='fast')\n"
             "except ImportError as e:\n    print('ERR', e)\n")
    assert r.returncode == 0, r.stderr
    first, err = r.stdout.strip().splitlines()
    assert first == "['tiktoken', 'reference'] tiktoken [14990, 1879]"
    assert "pip install fastokens" in err and "engine='tiktoken'" in err


def test_rank_cache_is_hash_named_verified_and_rewritten(tmp_path):
    from qtok.files import cached_file
    from qtok.load import sha256_bytes

    code = ("import qtok; print(qtok.get_tokenizer('cl100k_base', engine='fast').encode('hello world'))")
    r = _run(code, QTOK_CACHE_DIR=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[15339, 1917]"
    (cached,) = tmp_path.glob("*.tiktoken")
    data = cached.read_bytes()
    # Found by a key of the vendored inputs, checked by the hash of its own bytes in its name.
    assert cached.name.endswith("-" + sha256_bytes(data) + ".tiktoken")
    # A truncated or edited cache file is never trusted: it is rewritten before use.
    cached.write_bytes(data[: len(data) // 2])
    r = _run(code, QTOK_CACHE_DIR=str(tmp_path))
    assert r.stdout.strip() == "[15339, 1917]", r.stderr
    assert cached.read_bytes() == data
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary left
    # An unwritable cache falls back to a temporary directory.
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    os.environ["QTOK_CACHE_DIR"] = str(blocked / "sub")
    try:
        path = cached_file(b"abc", ".bin")
    finally:
        del os.environ["QTOK_CACHE_DIR"]
    assert path.read_bytes() == b"abc" and blocked not in path.parents


def test_a_table_fastokens_refused_once_is_built_from_its_cached_json(tmp_path, monkeypatch):
    # "lmn" has no two parts below it ("mn" is above): fastokens' tiktoken reader refuses the
    # table, so the fast engine writes a tokenizer.json with tiktoken's merges and builds from it.
    # The next build goes to that file straight away, and still gives tiktoken's ids.
    import base64

    import fastokens
    tokens = [bytes([i]) for i in range(256)] + [b"ab", b"abc", b"lmn", b"mn"]
    path = tmp_path / "tiny.tiktoken"
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(tokens)))
    monkeypatch.setenv("QTOK_CACHE_DIR", str(tmp_path / "cache"))
    calls, real = [], fastokens.Tokenizer

    class Counting:  # fastokens.Tokenizer, its two constructors counted
        @staticmethod
        def from_tiktoken(*args, **kwargs):
            calls.append("tiktoken")
            return real.from_tiktoken(*args, **kwargs)

        @staticmethod
        def from_file(*args, **kwargs):
            calls.append("file")
            return real.from_file(*args, **kwargs)

    monkeypatch.setattr(fastokens, "Tokenizer", Counting)
    text = "lmn abc ab mn xyz"
    want = get_tokenizer(str(path), engine="tiktoken").encode(text)
    assert get_tokenizer(str(path), engine="fast").encode(text) == want
    assert calls == ["tiktoken", "file"]
    assert get_tokenizer(str(path), engine="fast").encode(text) == want
    assert calls == ["tiktoken", "file", "file"]


def test_a_process_that_exits_during_the_background_build_exits_cleanly(tmp_path):
    import subprocess
    import sys

    code = ("import qtok; from qtok.engine import StandIn; StandIn.BUDGET = 10; "
            "t = qtok.get_tokenizer('cl100k_base'); t.encode('hello world, ' * 5); print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok" and r.stderr == "", r.stderr


def test_a_forked_child_starts_over_with_the_stand_in(monkeypatch):
    import json
    import os

    from qtok.encodings import cl100k_base
    from qtok.engine import StandIn

    monkeypatch.setattr(StandIn, "BUDGET", 100)
    tok = Tokenizer(cl100k_base())
    text = "hello world, " * 20
    tok.encode(text)  # a build may now be running in a thread the child will not have
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: encodes past the budget again, on its own
        try:
            os.write(write, json.dumps(tok.encode(text * 3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        got = json.loads(f.read())
    os.waitpid(pid, 0)
    assert got == get_tokenizer("cl100k_base", engine="tiktoken").encode(text * 3)
    if isinstance(tok.engine, StandIn):
        tok.engine._thread.join(timeout=60)
