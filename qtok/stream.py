"""Streaming decode: ids in, only complete text out.

Qwen's byte-level tokens often split a character (a token can be a space plus the first two
bytes of a CJK character), so decoding ids one at a time with ``decode`` prints U+FFFD halves.
A ``StreamDecoder`` keeps the bytes of an incomplete character until the ids that complete it
arrive; ``flush()`` ends the stream, applying ``errors`` to whatever is still incomplete.
"""

from __future__ import annotations

import codecs
import threading


class StreamDecoder:
    """Feed ids (one int or a list), get back the text they complete.

    >>> from qtok import get_tokenizer
    >>> tok = get_tokenizer("qwen")
    >>> ids = tok.encode(" 元")          # b" \xe5\x85" + b"\x83": the character is split
    >>> tok.decode(ids[:1])              # decoding token by token prints a broken character
    ' �'
    >>> stream = tok.decode_stream()
    >>> [stream.feed(i) for i in ids]
    [' ', '元']
    >>> stream.flush()
    ''

    One decoder is one stream, fed by one consumer: ids fed from two threads would interleave
    their bytes into wrong text, so a feed from another thread than the first one raises
    ``RuntimeError`` instead (give each stream its own ``decode_stream()``).
    """

    def __init__(self, tokenizer, errors: str = "replace"):
        if errors not in ("replace", "strict", "ignore"):
            raise ValueError(f"errors must be 'replace', 'strict' or 'ignore', not {errors!r}")
        self._tokenizer = tokenizer
        # Python's incremental UTF-8 decoder holds back exactly an incomplete trailing
        # sequence; invalid bytes in the middle follow `errors`, as decode() treats them.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors)
        self._owner: int | None = None  # the thread that feeds this stream

    def feed(self, ids) -> str:
        """The text completed by ``ids``: one id (an int, or the numpy or torch scalar an argmax
        returns) or a sequence of ids; may be ``""``."""
        if getattr(ids, "ndim", None) == 0:  # np.int64(5), torch.tensor(5)
            ids = [ids.item()]
        elif not isinstance(ids, (list, tuple)) and not hasattr(ids, "tolist"):
            ids = [ids]
        me = threading.get_ident()
        if self._owner != me:
            if self._owner is not None:
                raise RuntimeError("this StreamDecoder is fed from a second thread; two consumers "
                                   "would interleave their bytes: give each stream its own "
                                   "decode_stream()")
            self._owner = me
        return self._decoder.decode(self._tokenizer.decode_bytes(ids))

    def flush(self) -> str:
        """End of stream: the held bytes, decoded with ``errors`` (U+FFFD by default)."""
        out = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        self._owner = None  # the stream ended: another thread may start the next one
        return out

    @property
    def pending(self) -> bytes:
        """The bytes held back, waiting for the rest of their character."""
        return self._decoder.getstate()[0]
