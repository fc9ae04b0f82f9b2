"""tiktoken plugin: ``tiktoken.get_encoding("qwen")`` works offline once qtok is installed.

tiktoken finds every module in the ``tiktoken_ext`` namespace package and reads its
``ENCODING_CONSTRUCTORS``. The encoding is built from qtok's vendored, hash-checked files, the
same table as ``qtok.get_tokenizer("qwen")`` (byte-identical to the official ``qwen.tiktoken``);
nothing is downloaded. Only ``qwen`` is registered: ``cl100k_base`` is tiktoken's own name, and
registering it twice makes tiktoken refuse every encoding.
"""


def qwen():
    # Imported when the encoding is asked for, not when tiktoken scans its plugins: every
    # tiktoken.get_encoding(...) imports this module, and most never want Qwen.
    from qtok.encodings import qwen as qwen_spec

    spec = qwen_spec()
    return {
        "name": "qwen",
        "pat_str": spec.pat_str,
        "mergeable_ranks": spec.mergeable_ranks,
        "special_tokens": spec.special_tokens,
    }


ENCODING_CONSTRUCTORS = {"qwen": qwen}
