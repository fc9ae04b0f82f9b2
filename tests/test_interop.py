"""Where users already work: streaming decode, offsets, truncation, the Hugging Face export,
the tiktoken plugin, and a package without import cycles."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given
from hypothesis import strategies as st

from qtok import get_tokenizer
from qtok.cli import main as qtok_main
from qtok.export import export_hf, merges_from_ranks
from clirun import run_main

ROOT = Path(__file__).resolve().parent.parent
# Scripts whose characters Qwen often splits across tokens (CJK, Thai, emoji, combining marks).
SPLITTY = st.text(alphabet=st.sampled_from(list("元价格是你好世界สวัสดี😀👍🏽é\u0301 \n9a")), max_size=60)
TEXTS = st.one_of(st.text(), SPLITTY)


def clean(s):
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# --- streaming decode --------------------------------------------------------------------------

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


# --- offsets and truncation --------------------------------------------------------------------

@given(TEXTS)
def test_spans_tile_the_text_in_order(s):
    tok = get_tokenizer("qwen")
    text = clean(s)
    ids, spans = tok.encode_with_offsets(s)
    assert ids == tok.encode(s) and len(spans) == len(ids)
    if not ids:
        return
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (a, b), (c, d) in zip(spans, spans[1:]):
        assert a < b and c < d
        # The next token starts where this one ends, or inside the character they share.
        assert c == b or (c == b - 1 and a <= c)
    # Each token's bytes lie inside its span's text.
    data = text.encode()
    pos = 0
    for t, (a, b) in zip(tok.decode_tokens_bytes(ids), spans):
        start = len(text[:a].encode())
        assert start <= pos and pos + len(t) <= len(text[:b].encode())
        pos += len(t)


@pytest.fixture(scope="module")
def raw_qwen():
    spec = get_tokenizer("qwen").spec
    return tiktoken.Encoding("raw", pat_str=spec.pat_str, mergeable_ranks=spec.mergeable_ranks,
                             special_tokens=spec.special_tokens)


@given(TEXTS)
def test_decode_with_offsets_equals_tiktoken(raw_qwen, s):
    tok = get_tokenizer("qwen")
    ids = tok.encode(s)
    assert tok.decode_with_offsets(ids) == raw_qwen.decode_with_offsets(ids)


@given(TEXTS, st.integers(0, 30))
def test_truncate_is_the_longest_fitting_prefix(s, n):
    tok = get_tokenizer("qwen")
    cut = tok.truncate(s, n)
    assert s.startswith(cut) and tok.count(cut) <= n
    if cut != s:
        assert tok.count(s[: len(cut) + 1]) > n  # one more character would not fit
    if tok.count(s) <= n:
        assert cut == s


def test_truncate_never_cuts_a_character_and_checks_its_budget():
    tok = get_tokenizer("qwen")
    assert tok.truncate("价格是 42 元", 3) in ("价格是", "价格是 ")
    with pytest.raises(ValueError, match="max_tokens"):
        tok.truncate("x", -1)


# --- Hugging Face export ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory, multilingual):
    """Exports of qwen (hf and safe), cl100k_base (safe) and a trained extension (hf)."""
    from qtok.train import extend, write_extension

    out = {}
    for name, compat in (("qwen", "hf"), ("qwen", None), ("cl100k_base", None)):
        d = tmp_path_factory.mktemp(f"{name}-{compat}")
        tok = get_tokenizer(name, compat=compat)
        export_hf(tok, d)
        out[(name, compat)] = (tok, d)
    ext = tmp_path_factory.mktemp("ext") / "ext.tiktoken"
    write_extension(ext, extend("cl100k_base", [multilingual[lang] for lang in ("th", "ko")], 150),
                    base="cl100k_base", n_new_requested=150)
    d = tmp_path_factory.mktemp("ext-export")
    tok = get_tokenizer(str(ext), compat="hf")
    export_hf(tok, d)
    out[("ext", "hf")] = (tok, d)
    return out


_LOADED = {}


def _hf_ids(directory, compat):
    """tokenizers' encoder of an export (loaded once: a 150k-token file takes a while)."""
    from tokenizers import Tokenizer as HF

    if directory not in _LOADED:
        hf = HF.from_file(str(directory / "tokenizer.json"))
        hf.encode_special_tokens = compat is None  # the safe export: special-token text is text
        _LOADED[directory] = lambda s: hf.encode(s, add_special_tokens=False).ids
    return _LOADED[directory]


def test_export_equals_qtok_on_real_text(exported, multilingual):
    from transformers import PreTrainedTokenizerFast

    for (name, compat), (tok, d) in exported.items():
        hf = _hf_ids(d, compat)
        fast = PreTrainedTokenizerFast.from_pretrained(str(d))
        for lang, text in multilingual.items():
            sample = text[:2000] + ' print("<|endoftext|>") e\u0301 12345'
            want = tok.encode(sample)
            assert hf(sample) == want, (name, compat, lang)
            assert fast.encode(sample, add_special_tokens=False) == want, (name, compat, lang)
        assert fast.decode(tok.encode("你好 world")) == "你好 world"


@given(TEXTS)
def test_export_equals_qtok_on_generated_text(exported, s):
    s = clean(s)
    for (name, compat), (tok, d) in exported.items():
        assert _hf_ids(d, compat)(s) == tok.encode(s), (name, compat)


def test_apply_chat_template_equals_encode_chat(exported):
    from transformers import PreTrainedTokenizerFast

    tok, d = exported[("qwen", "hf")]
    fast = PreTrainedTokenizerFast.from_pretrained(str(d))
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "You are a helpful assistant."},
         {"role": "user", "content": "你好，请用一句话介绍杭州。"},
         {"role": "assistant", "content": "杭州是浙江省的省会，以西湖闻名。"},
         {"role": "user", "content": "What is 12 + 30? Answer in Thai: ตอบเป็นภาษาไทย"}],
    ]
    for messages in conversations:
        for gen in (True, False):
            got = fast.apply_chat_template(messages, add_generation_prompt=gen, tokenize=True)
            if not isinstance(got, list):
                got = got["input_ids"]
            assert got == tok.encode_chat(messages, add_generation_prompt=gen)
    assert "chat_template" not in json.loads((exported[("qwen", None)][1] / "tokenizer_config.json").read_text())


def test_merges_are_recovered_in_rank_order():
    ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256, b"bc": 257, b"abc": 258}
    assert merges_from_ranks(ranks)[-1] == (b"ab", b"c")  # ab (256) merges before bc (257)


def test_export_cli(tmp_path):
    r = run_main(qtok_main, "export", "hf", tmp_path / "out", "--encoding", "cl100k_base", "--compat", "safe")
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["split_special_tokens"] is True and config["eos_token"] == "<|endoftext|>"
    (tmp_path / "file").write_text("x")
    r = run_main(qtok_main, "export", "hf", tmp_path / "file", "--quiet")
    assert r.returncode == 2 and "not a directory" in r.stderr and r.stderr.count("\n") == 1
    # Without --quiet it says what it is doing, on stderr only.
    r = run_main(qtok_main, "export", "hf", tmp_path / "out2")
    assert r.returncode == 0 and "qtok export: recovering" in r.stderr and "recovering" not in r.stdout


# --- tiktoken plugin ---------------------------------------------------------------------------

def test_tiktoken_get_encoding_qwen_offline_in_a_fresh_process(tmp_path):
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network is off in this test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "sys.modules['requests'] = None; sys.modules['blobfile'] = None\n"
        "import tiktoken\n"
        "enc = tiktoken.get_encoding('qwen')\n"
        "print(enc.encode('你好，世界'), enc.n_vocab, enc.encode('<|im_start|>', allowed_special='all'))\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path)}  # an empty cache
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[108386, 3837, 99489] 151851 [151644]"


# --- structure ----------------------------------------------------------------------------------

def test_qtok_has_no_import_cycles():
    graph = {}
    for path in (ROOT / "qtok").glob("*.py"):
        module = path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qtok."):
                deps.add(node.module.split(".")[1])
        graph[module] = deps - {module, "data"}
    graph.pop("__init__", None)
    graph.pop("__main__", None)
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            pytest.fail("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
        if m in seen or m not in graph:
            return
        stack.append(m)
        for d in graph[m]:
            visit(d)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)
