"""Streaming decode: whole characters only, whatever the ids arrive in."""

import pytest
from helpers import clean
from hypothesis import given
from hypothesis import strategies as st

from qtok import get_tokenizer

# Scripts whose characters Qwen often splits across tokens (CJK, Thai, emoji, combining marks).
SPLITTY = st.text(alphabet=st.sampled_from(list("元价格是你好世界สวัสดี😀👍🏽é\u0301 \n9a")), max_size=60)
TEXTS = st.one_of(st.text(), SPLITTY)




@given(TEXTS)
def test_stream_one_id_at_a_time_gives_whole_characters(s):
    tok = get_tokenizer("qwen")
    ids = tok.encode(s)
    stream = tok.decode_stream()
    chunks = [stream.feed(i) for i in ids] + [stream.flush()]
    assert "".join(chunks) == tok.decode(ids) == clean(s)
    if "\ufffd" not in clean(s):
        assert not any("\ufffd" in c for c in chunks)


@given(TEXTS, st.integers(1, 5))
def test_stream_in_chunks_and_arrays(s, size):
    import numpy as np
    tok = get_tokenizer("qwen")
    ids = tok.encode(s)
    stream = tok.decode_stream()
    out = "".join(stream.feed(np.array(ids[i : i + size])) for i in range(0, len(ids), size))
    assert out + stream.flush() == clean(s)


def test_stream_flush_applies_errors():
    tok = get_tokenizer("qwen")
    head = tok.encode(" 元")[:1]  # a space and two of the character's three bytes
    stream = tok.decode_stream()
    assert stream.feed(head) == " " and stream.pending == b"\xe5\x85"
    assert stream.flush() == "\ufffd"
    strict = tok.decode_stream(errors="strict")
    strict.feed(head)
    with pytest.raises(UnicodeDecodeError):
        strict.flush()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode_stream().feed(10**9)
    with pytest.raises(ValueError, match="errors must be"):
        tok.decode_stream(errors="bogus")


def test_stream_takes_the_scalars_an_argmax_returns_and_refuses_a_second_thread():
    import threading

    import numpy as np
    import torch

    tok = get_tokenizer("qwen")
    ids = tok.encode("价格 42 元")
    stream = tok.decode_stream()
    fed = [stream.feed(np.int64(i)) for i in ids[:2]] + [stream.feed(torch.tensor(i)) for i in ids[2:]]
    assert "".join(fed) + stream.flush() == "价格 42 元"
    with pytest.raises(ValueError, match="not an integer"):
        stream.feed(np.float32(3))
    shared = tok.decode_stream()
    shared.feed(ids[0])
    errors = []

    def other():
        try:
            shared.feed(ids[1])
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "second thread" in errors[0]
