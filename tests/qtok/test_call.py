"""``tok.encode(text)`` and ``qtok.encode(text)`` call the engine's own function directly
(qtok/_call.c): the same ids and the same errors as the Python method, on every engine, through
the stand-in's hand-over and a fork, and never when the method has work to do."""

import inspect
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qtok
from qtok import get_tokenizer
from qtok.core import Tokenizer
from qtok.encodings import cl100k_base, get_spec
from qtok.engine import StandIn

from qtok._call import Call  # built by pip install (a C compiler is there wherever the tests run)

method = Tokenizer.encode  # the checked Python path every Call falls back to


@pytest.mark.parametrize("engine", ["fast", "tiktoken", "reference"])
def test_encode_is_the_engines_own_function_with_the_methods_ids(engine):
    tok = get_tokenizer("qwen", engine=engine)
    assert isinstance(tok.encode, Call)
    expected = {"fast": lambda e: e._fk.encode_ordinary, "tiktoken": lambda e: e._enc._core_bpe.encode_ordinary,
                "reference": lambda e: e.encode_ordinary}[engine]
    assert tok.encode.target == expected(tok.engine)
    texts = ["hello world", "", "你好，世界", "1234567 dollars", "<|endoftext|> is text here",
             "a\ud800b", "\udfff", "x" * 5000]
    for text in texts:
        assert tok.encode(text) == method(tok, text), text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=60))
def test_every_text_gives_the_methods_ids(text):
    tok = get_tokenizer("qwen", engine="fast")
    assert tok.encode(text) == method(tok, text) == get_tokenizer("qwen", engine="tiktoken").encode(text)


def test_options_subclasses_and_wrong_types_go_to_the_method():
    tok = get_tokenizer("qwen", engine="fast")

    class Str(str):
        pass

    assert tok.encode(Str("hello world")) == tok.encode("hello world") == [14990, 1879]
    assert tok.encode("<|endoftext|>", allowed_special="all") == [151643]
    assert tok.encode("<|endoftext|>") == method(tok, "<|endoftext|>") != [151643]
    for bad in (b"hello", None, 3, ["a"]):
        with pytest.raises(TypeError) as ours:
            tok.encode(bad)
        with pytest.raises(TypeError) as theirs:
            method(tok, bad)
        assert str(ours.value) == str(theirs.value) and "str" in str(ours.value)
    with pytest.raises(TypeError):
        tok.encode("a", "b")  # the method's own signature refuses a second positional
    with pytest.raises(ValueError, match="disallowed_special"):
        tok.encode("<|endoftext|>", disallowed_special="all")


def test_it_reads_as_the_method():
    tok = get_tokenizer("qwen", engine="fast")
    assert tok.encode.__doc__ == method.__doc__ and tok.encode.__name__ == "encode"
    assert str(inspect.signature(tok.encode)) == str(inspect.signature(method.__get__(tok)))
    assert qtok.encode.__doc__.startswith("Qwen's ids") and qtok.encode.__module__ == "qtok"  # doctest finds it


def test_normalizing_tokenizers_always_take_the_method():
    tok = get_tokenizer("qwen", compat="hf")  # NFC first, then every special recognised
    assert isinstance(tok.encode, Call) and tok.encode.target is None
    assert tok.encode("e\u0301") == get_tokenizer("qwen").encode("\u00e9") != get_tokenizer("qwen").encode("e\u0301")
    assert tok.encode("<|endoftext|>") == [151643]


def test_a_subclass_that_overrides_encode_keeps_it():
    class Mine(Tokenizer):
        def encode(self, text, **kwargs):
            return [len(text)]

    assert Mine(cl100k_base()).encode("hello") == [5]


def test_without_the_extension_encode_is_the_method(monkeypatch):
    import qtok.core

    monkeypatch.setattr(qtok.core, "Call", None)
    tok = Tokenizer(get_spec("qwen"), engine="fast")
    assert "encode" not in vars(tok) and tok.encode("hello world") == [14990, 1879]


def test_the_call_follows_the_stand_in_to_the_fast_engine(monkeypatch):
    monkeypatch.setattr(StandIn, "BUDGET", 1000)
    tok = Tokenizer(cl100k_base())
    stand_in = tok.engine
    # Counting characters: tiktoken's core answers for the characters the stand-in lends ...
    assert tok.encode.target == stand_in._engine._enc._core_bpe.encode_ordinary
    assert tok.encode.budget == 1000
    assert tok.encode("hello world") == [15339, 1917] and tok.encode.budget == 989
    assert stand_in._spent == 0 and stand_in._thread is None
    # ... and a call past them reports them, is counted by the stand-in, which starts the build.
    want = get_tokenizer("cl100k_base", engine="tiktoken").encode("hello world, " * 100)
    assert tok.encode("hello world, " * 100) == want
    assert stand_in._spent == 11 + 1300 and stand_in._thread is not None and tok.encode.budget == -1
    assert tok.encode("hello world, " * 100) == want
    stand_in._thread.join(timeout=60)
    # Built and swapped in: the call now goes to fastokens itself.
    assert tok.engine is not stand_in and tok.encode.target == tok.engine._fk.encode_ordinary
    assert tok.encode("hello world, " * 100) == want


def test_qtok_encode_follows_the_default_tokenizer():
    assert isinstance(qtok.encode, Call)
    assert qtok.encode("你好，世界") == [108386, 3837, 99489]  # builds the default tokenizer
    default = qtok._default
    assert qtok.encode.target == default.encode.target is not None
    default._full_engine()
    assert qtok.encode.target == default.engine._fk.encode_ordinary
    assert qtok.encode("<|im_start|>", allowed_special="all") == [151644]
    assert qtok.count("hello world") == 2


def test_a_forked_child_counts_again_from_the_stand_in(monkeypatch):
    monkeypatch.setattr(StandIn, "BUDGET", 100)
    tok = Tokenizer(cl100k_base())
    text = "hello world, " * 20
    tok.encode(text)  # the build started: the call skips counting in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child has no build thread: its calls must count (and build) again
        try:
            built = getattr(tok.engine, "_built", None) is not None or not isinstance(tok.engine, StandIn)
            counting = tok.encode.budget >= 0
            os.write(write, json.dumps([built, counting, tok.encode(text)]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        built, counting, ids = json.loads(f.read())
    os.waitpid(pid, 0)
    if isinstance(tok.engine, StandIn):
        tok.engine._thread.join(timeout=60)
    assert ids == get_tokenizer("cl100k_base", engine="tiktoken").encode(text)
    assert counting != built  # unless the build had finished before the fork: the child has it too
    assert tok.encode.budget == -1  # the parent counts no more
