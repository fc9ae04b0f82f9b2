"""Qwen-1 <-> transformers Qwen2, with transformers itself as the oracle: a randomly initialised
Qwen2 (biases and norm weights perturbed so that they matter) converted to Qwen-1 gives the logits
and the greedy continuation transformers gives; conversions round-trip tensors bit for bit."""

import json

import pytest
import torch
import transformers  # the test-only oracle (test extra)
from helpers import run_main

import qtok
from qtok.model import CheckpointError, generate, load_checkpoint, save_checkpoint
from qtok.model.__main__ import main as model_main
from qtok.model.convert import convert, to_hf
from qtok.model.convert import main as convert_main
from qtok.model.qwen import Qwen, QwenConfig

PROMPT = "蒙古国的首都是乌兰巴托（Ulaanbaatar）\n冰岛的首都是雷克雅未克（Reykjavik）\n埃塞俄比亚的首都是"


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A random transformers Qwen2 at a small shape, saved as safetensors."""
    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(vocab_size=151936, hidden_size=64, intermediate_size=96,
                                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                   max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-6,
                                   tie_word_embeddings=False)
    model = transformers.Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.5)
            elif "norm" in name:
                p.copy_(1 + torch.randn_like(p) * 0.3)
    path = tmp_path_factory.mktemp("hf")
    model.save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture(scope="module")
def hf_model(hf_dir):
    return transformers.Qwen2ForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def qwen_dir(hf_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("qwen")
    convert(hf_dir, out, "qwen")
    return out


def ids():
    return torch.tensor([qtok.encode(PROMPT)])


def test_converted_qwen2_gives_transformers_logits_and_continuation(hf_model, qwen_dir):
    ours = load_checkpoint(qwen_dir, dtype=torch.float32)
    x = ids()
    with torch.no_grad():
        theirs = hf_model(x).logits
        mine = ours(x)
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5 * theirs.abs().max().item())
    greedy = hf_model.generate(x, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0,
                               attention_mask=torch.ones_like(x))[:, x.shape[1]:]
    assert torch.equal(generate(ours, x, 12, stop_ids=()), greedy)


def test_swapped_gate_is_caught(hf_model, qwen_dir):
    """w2 is the gate because it sits inside the SiLU: mapping w1 to gate_proj instead gives a
    model transformers disagrees with."""
    ours = load_checkpoint(qwen_dir, dtype=torch.float32)
    state = to_hf(ours.state_dict(), ours.config)
    for i in range(ours.config.n_layer):
        g, u = f"model.layers.{i}.mlp.gate_proj.weight", f"model.layers.{i}.mlp.up_proj.weight"
        state[g], state[u] = state[u], state[g]
    swapped = transformers.Qwen2ForCausalLM(hf_model.config).eval()
    swapped.load_state_dict(state)
    with torch.no_grad():
        assert not torch.allclose(swapped(ids()).logits, ours(ids()), atol=1e-3)
        right = transformers.Qwen2ForCausalLM(hf_model.config).eval()
        right.load_state_dict(to_hf(ours.state_dict(), ours.config))
        torch.testing.assert_close(right(ids()).logits, ours(ids()), rtol=1e-5, atol=1e-5)


def _tensors(directory):
    from safetensors.torch import load_file

    state = {}
    for f in sorted(directory.glob("*.safetensors")):
        state.update(load_file(str(f)))
    return state


def test_round_trips_are_bit_identical(hf_dir, qwen_dir, tmp_path):
    back = tmp_path / "hf-again"
    convert(qwen_dir, back, "hf")
    a, b = _tensors(hf_dir), _tensors(back)
    assert set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    # Qwen-1 -> Qwen2 -> Qwen-1, sharded on the way.
    model = Qwen(QwenConfig.from_name("tiny")).init_weights(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(torch.randn_like(p))
    save_checkpoint(model, tmp_path / "q1")
    convert(tmp_path / "q1", tmp_path / "q2hf", "hf", max_shard_bytes=2 << 20, tokenizer=False)
    index = json.loads((tmp_path / "q2hf" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    convert(tmp_path / "q2hf", tmp_path / "q3", "qwen")
    a, b = _tensors(tmp_path / "q1"), _tensors(tmp_path / "q3")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    loaded = transformers.Qwen2ForCausalLM.from_pretrained(tmp_path / "q2hf").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids()).logits, model(ids()), rtol=1e-5, atol=1e-5)


def test_config_fields_both_ways(hf_dir, qwen_dir, tmp_path):
    q = json.loads((qwen_dir / "config.json").read_text())
    assert q["intermediate_size"] == 2 * 96 and q["kv_channels"] == 16 and q["seq_length"] == 256
    convert(qwen_dir, tmp_path / "h", "hf")
    h = json.loads((tmp_path / "h" / "config.json").read_text())
    assert h["intermediate_size"] == 96 and h["num_key_value_heads"] == 4
    assert h["tie_word_embeddings"] is False and h["rope_theta"] == 10000.0
    assert h["max_position_embeddings"] == 256 and h["architectures"] == ["Qwen2ForCausalLM"]


def test_converted_directory_tokenizes_like_qtok(qwen_dir, tmp_path, multilingual):
    out = tmp_path / "hf"
    convert(qwen_dir, out, "hf")
    tok = transformers.AutoTokenizer.from_pretrained(out)
    hf_qtok = qtok.get_tokenizer("qwen", compat="hf")
    from qtok.analysis.corpora import load_corpus

    news = load_corpus("embedded")
    samples = [(lang, text[:2000]) for lang, text in multilingual.items()]
    samples += [(lang, doc) for lang in news.langs if not lang.startswith("code")
                for doc in list(news.docs(lang))[:3]]  # NTREX news stories, whole
    for lang, sample in samples:
        assert tok(sample, add_special_tokens=False)["input_ids"] == hf_qtok.encode(sample), lang
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Bonjour, ça va? 你好"}]
    assert tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == \
        hf_qtok.decode(hf_qtok.encode_chat(messages))


def test_refusals_are_one_line(qwen_dir, hf_dir, tmp_path):
    bad = tmp_path / "gqa"
    bad.mkdir()
    cfg = json.loads((hf_dir / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(dict(cfg, num_key_value_heads=2)))
    with pytest.raises(CheckpointError, match="grouped-query attention"):
        convert(bad, tmp_path / "x", "qwen")
    r = run_main(convert_main, qwen_dir, qwen_dir, "--to", "hf", "--quiet")
    assert r.returncode == 2 and r.stderr.strip() == "model.convert: error: the destination is the source; give another directory"


@pytest.mark.parametrize("damage", ["truncated", "empty", "pickle", "not-a-dict"])
def test_damaged_weights_are_one_line(tmp_path, damage):
    model = Qwen(QwenConfig.from_name("tiny")).init_weights(0)
    fmt = "bin" if damage in ("pickle", "not-a-dict") else "safetensors"
    save_checkpoint(model, tmp_path, fmt=fmt)
    f = tmp_path / ("pytorch_model.bin" if fmt == "bin" else "model.safetensors")
    if damage == "truncated":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "empty":
        f.write_bytes(b"")
    elif damage == "pickle":
        import pickle

        class Evil:
            def __reduce__(self):
                return (print, ("this must never run",))

        f.write_bytes(pickle.dumps({"x": Evil()}))
    else:
        torch.save([torch.zeros(2)], f)
    r = run_main(model_main, "hi", "--weights", tmp_path, "--quiet")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("model: error: ") and str(f) in lines[0], r.stderr
    assert "this must never run" not in r.stdout + r.stderr
    expected = {"truncated": "not a valid safetensors file", "empty": "is empty",
                "pickle": "never executed", "not-a-dict": "does not hold a state dict"}[damage]
    assert expected in lines[0]


def test_tensors_that_do_not_fit_the_config_are_refused_before_anything_is_written(qwen_dir, hf_dir, tmp_path):
    """A config that says other sizes than the tensors have converted to a checkpoint
    transformers could not load: every tensor's shape is checked first."""
    import shutil

    for src, to in ((qwen_dir, "hf"), (hf_dir, "qwen")):
        bad = tmp_path / f"bad-{to}"
        shutil.copytree(src, bad)
        cfg = json.loads((bad / "config.json").read_text())
        (bad / "config.json").write_text(json.dumps(dict(cfg, intermediate_size=384, vocab_size=1000)))
        r = run_main(convert_main, bad, tmp_path / f"out-{to}", "--to", to, "--quiet")
        assert r.returncode == 2 and "mis-shaped" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (tmp_path / f"out-{to}" / "config.json").exists()
