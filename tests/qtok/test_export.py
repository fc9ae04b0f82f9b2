"""Where users already work: the Hugging Face export (tokenizers and transformers give qtok's ids)
and the tiktoken plugin (tiktoken.get_encoding("qwen") offline)."""

import json
import os
import subprocess
import sys

import pytest
from helpers import clean, run_main
from hypothesis import given
from hypothesis import strategies as st

from qtok import get_tokenizer
from qtok.cli import main as qtok_main
from qtok.export import export_hf, merges_from_ranks

# Scripts whose characters Qwen often splits across tokens (CJK, Thai, emoji, combining marks).
SPLITTY = st.text(alphabet=st.sampled_from(list("元价格是你好世界สวัสดี😀👍🏽é\u0301 \n9a")), max_size=60)
TEXTS = st.one_of(st.text(), SPLITTY)




# --- streaming decode --------------------------------------------------------------------------


# --- offsets and truncation --------------------------------------------------------------------


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
