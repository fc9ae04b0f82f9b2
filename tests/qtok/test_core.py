"""The Tokenizer API: known answers, special-token policy, bad input, every engine."""

import pytest

import qtok
from qtok import get_tokenizer

ENGINES = ["fast", "tiktoken", "reference"]


@pytest.fixture(params=ENGINES)
def tok(request):
    return get_tokenizer("qwen", engine=request.param)


def test_known_answers(tok):
    assert tok.encode("hello world") == [14990, 1879]
    assert tok.encode("你好，世界") == [108386, 3837, 99489]
    assert tok.encode("12345") == [16, 17, 18, 19, 20]  # one token per digit
    assert tok.encode("") == []
    # As Qwen-1_8B-Chat's own tokenizer gives it (a third-party published example).
    assert tok.encode("杭州是个好地方") == [104130, 104104, 52801, 100371]


def test_cl100k_known_answers():
    for engine in ENGINES:
        cl = get_tokenizer("cl100k_base", engine=engine)
        assert cl.encode("hello world") == [15339, 1917]
        assert cl.encode("12345") == [4513, 1774]  # cl100k keeps runs of up to three digits
        assert cl.n_vocab == 100277


def test_module_level_functions():
    assert qtok.encode("hello world") == [14990, 1879]
    assert qtok.decode([14990, 1879]) == "hello world"
    assert qtok.count("hello world") == 2
    assert qtok.list_encodings()[:2] == ["cl100k_base", "qwen"]


def test_vocabulary_attributes(tok):
    assert tok.n_vocab == 151851
    assert tok.eot_token == 151643
    assert len(tok.special_tokens_set) == 208
    assert tok.mergeable_ranks[b"hello"] == 14990
    assert tok.pat_str.count(r"\p{N}") == 3 and r"\p{N}{1,3}" not in tok.pat_str


def test_special_text_is_plain_by_default(tok):
    text = 'print("<|endoftext|>")'
    assert tok.encode(text) == [1350, 9639, 91, 8691, 723, 427, 91, 82598]
    assert 151643 not in tok.encode("<|endoftext|><|im_start|>")
    assert tok.encode(text, allowed_special="all") == [1350, 445, 151643, 899]
    assert tok.encode(text, allowed_special={"<|endoftext|>"}) == [1350, 445, 151643, 899]


def test_hf_compat_is_the_official_behaviour():
    for engine in ENGINES:
        hf = get_tokenizer("qwen", engine=engine, compat="hf")
        assert hf.encode('print("<|endoftext|>")') == [1350, 445, 151643, 899]
        # NFC: a decomposed é encodes as the composed one.
        assert hf.encode("e\u0301") == hf.encode("\u00e9")
        assert get_tokenizer("qwen", engine=engine).encode("e\u0301") != hf.encode("\u00e9")


def test_disallowed_special_names_token_and_fix(tok):
    with pytest.raises(ValueError, match=r"'<\|im_end\|>'.*allowed_special"):
        tok.encode("a<|im_end|>b", disallowed_special="all")
    with pytest.raises(ValueError, match="im_start"):
        tok.encode("<|im_start|>", disallowed_special={"<|im_start|>"})
    # Allowed wins over disallowed.
    assert tok.encode("<|im_end|>", allowed_special="all", disallowed_special="all") == [151645]
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|nope|>"})


def test_encode_rejects_non_str(tok):
    with pytest.raises(TypeError, match="got bytes; decode the bytes first"):
        tok.encode(b"hello")
    with pytest.raises(TypeError, match="got list; for many texts use encode_batch"):
        tok.encode(["a"])
    with pytest.raises(TypeError, match="got NoneType"):
        tok.encode(None)
    with pytest.raises(TypeError, match="one str"):
        tok.encode_batch("abc")


@pytest.mark.parametrize("bad,match", [
    ([1, 151851], r"151851 at position 1 is outside.*\[0, 151851\)"),
    ([-1], r"-1 at position 0 is outside"),
    ([1, 2.5], r"2\.5 \(float\), not an integer"),
    (["7"], r"'7' \(str\), not an integer"),
])
def test_decode_bad_ids(tok, bad, match):
    with pytest.raises(ValueError, match=match):
        tok.decode(bad)


def test_decode_unassigned_cl100k_id():
    with pytest.raises(ValueError, match="100256 at position 0 is not assigned"):
        get_tokenizer("cl100k_base").decode([100256])


def test_decode_not_a_sequence(tok):
    with pytest.raises(TypeError, match="sequence of int ids"):
        tok.decode(5)


def test_decode_errors_modes(tok):
    ids = tok.encode("你")  # one token, three bytes
    partial = tok.encode("é")
    assert tok.decode_bytes(ids)[:2] != b""
    cut = [t for t in tok.encode(" 元")]  # ' 元' is two tokens splitting the character
    assert len(cut) == 2
    assert tok.decode(cut[:1]) == " \ufffd"
    assert tok.decode(cut[:1], errors="ignore") == " "
    with pytest.raises(UnicodeDecodeError):
        tok.decode(cut[:1], errors="strict")
    with pytest.raises(ValueError, match="errors must be"):
        tok.decode(partial, errors="bogus")


def test_lone_surrogates_become_replacement_character(tok):
    # Lone surrogates cannot be UTF-8; like tiktoken, they are encoded as U+FFFD.
    assert tok.encode("a\ud800b") == tok.encode("a\ufffdb")
    # A surrogate pair spelled as two code units is the character it stands for.
    assert tok.encode("\ud83d\ude00") == tok.encode("\U0001F600")


def test_decode_helpers(tok):
    assert tok.decode_tokens_bytes([14990, 1879]) == [b"hello", b" world"]
    assert tok.decode_single_token_bytes(151645) == b"<|im_end|>"
    with pytest.raises(ValueError, match="outside"):
        tok.decode_single_token_bytes(10**9)


def test_encode_batch_matches_encode(tok, multilingual):
    texts = list(multilingual.values())
    assert tok.encode_batch(texts, num_threads=2) == [tok.encode(t) for t in texts]
    assert tok.encode_batch(["<|endoftext|>"], allowed_special="all") == [[151643]]


def test_explain_pieces_add_up(tok, multilingual):
    text = multilingual["ja"][:500] + " 42 <|endoftext|>"
    pieces = tok.explain(text)
    assert "".join(p.text for p in pieces) == text
    assert [i for p in pieces for i in p.ids] == tok.encode(text)
    assert [(p.text, p.ids) for p in tok.explain("Hi 42")] == [
        ("Hi", (13048,)), (" ", (220,)), ("4", (19,)), ("2", (17,))]
    special = tok.explain("a<|endoftext|>", allowed_special="all")
    assert special[-1].special and special[-1].ids == (151643,)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown encoding 'gpt5'.*cl100k_base"):
        get_tokenizer("gpt5")
    with pytest.raises(ValueError, match="unknown engine 'turbo'"):
        get_tokenizer("qwen", engine="turbo")
    with pytest.raises(ValueError, match="unknown compat"):
        get_tokenizer("qwen", compat="transformers")


def test_tokenizer_from_tiktoken_file(tmp_path):
    from qtok.load import dump_ranks

    ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256}
    path = tmp_path / "tiny.tiktoken"
    path.write_bytes(dump_ranks(ranks))
    for engine in ENGINES:
        t = get_tokenizer(str(path), engine=engine)
        assert t.encode("abab") == [256, 256]
        assert t.eot_token == 257


def test_tokenizer_needs_neither_torch_nor_analysis_extras():
    import subprocess
    import sys

    # Block the heavy optional packages: qtok must import and encode without them.
    code = ("import sys\nfor m in ('torch', 'numpy', 'matplotlib', 'datasets', 'tokenizers', 'sentencepiece'):\n"
            "    sys.modules[m] = None\nimport qtok\nprint(qtok.encode('hello world'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[14990, 1879]"


def test_explain_takes_encodes_arguments_and_nothing_else(tok):
    with pytest.raises(ValueError, match="disallowed_special forbids"):
        tok.explain("a<|endoftext|>", disallowed_special="all")
    with pytest.raises(TypeError):
        tok.explain("a", alowed_special="all")  # a misspelled keyword is not ignored
    pieces = tok.explain("a<|endoftext|>", allowed_special={"<|endoftext|>"})
    assert [i for p in pieces for i in p.ids] == tok.encode("a<|endoftext|>", allowed_special="all")


def test_special_arguments_are_sets_not_strings(tok):
    for arg in ("allowed_special", "disallowed_special"):
        with pytest.raises(TypeError, match=r"write \{'<\|endoftext\|>'\}"):
            tok.encode("x", **{arg: "<|endoftext|>"})
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", disallowed_special={"<|nope|>"})
