"""The family's dense layouts (Qwen2/2.5: grouped-query attention, tied embeddings; Qwen3: q/k
norms, no qkv bias, head_dim of its own) read from transformers directories as they are saved,
with transformers as the oracle: logits within 1e-4 on the member's ids, the static-cache decode
equal to the uncached forward, int8/int4 loading equal to quantizing after, the chat end to end,
and what cannot run refused in one line."""

import json

import pytest
import torch
import transformers  # the test-only oracle (test extra)
from helpers import assert_same, run_main

import qtok
from qtok.model import CheckpointError, load_checkpoint, save_checkpoint
from qtok.model.__main__ import main as model_main
from qtok.model.generate import generate
from qtok.model.quantize import quantize
from qtok.model.qwen import Qwen, QwenConfig

PROMPT = "蒙古国的首都是乌兰巴托（Ulaanbaatar）\n冰岛的首都是雷克雅未克（Reykjavik）\n埃塞俄比亚的首都是"

# name -> (transformers class, config keywords, the member whose ids it reads)
LAYOUTS = {
    "qwen2-gqa-tied": ("Qwen2", dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True), "qwen2.5"),
    "qwen2-mqa": ("Qwen2", dict(num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=False), "qwen2"),
    "qwen3-tied": ("Qwen3", dict(num_attention_heads=4, num_key_value_heads=2, head_dim=24,
                                 tie_word_embeddings=True, attention_bias=False), "qwen3"),
    "qwen3-bias": ("Qwen3", dict(num_attention_heads=4, num_key_value_heads=4, head_dim=8,
                                 tie_word_embeddings=False, attention_bias=True), "qwen3"),
}


def make_checkpoint(path, name, shard=False):
    kind, extra, member = LAYOUTS[name]
    torch.manual_seed(hash(name) % 1000)
    cfg = getattr(transformers, f"{kind}Config")(
        vocab_size=151936, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        max_position_embeddings=256, rope_theta=50000.0, rms_norm_eps=1e-6, **extra)
    model = getattr(transformers, f"{kind}ForCausalLM")(cfg).eval()
    with torch.no_grad():  # biases and norms that matter: not zeros and ones
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.5)
            elif "norm" in pname:
                p.copy_(1 + torch.randn_like(p) * 0.3)
    model.save_pretrained(path, safe_serialization=True, **({"max_shard_size": "20MB"} if shard else {}))
    return model, member


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """name -> (name, directory, the transformers model, member), each made once."""
    made = {}

    def get(name):
        if name not in made:
            path = tmp_path_factory.mktemp(name)
            hf, member = make_checkpoint(path, name, shard=name == "qwen2-gqa-tied")
            made[name] = (name, path, hf, member)
        return made[name]

    return get


@pytest.fixture(params=list(LAYOUTS))
def layout(request, checkpoints):
    return checkpoints(request.param)


def test_logits_equal_transformers_on_the_members_ids(layout):
    name, path, hf, member = layout
    ours = load_checkpoint(path, dtype=torch.float32)
    c = ours.config
    assert (c.n_kv_head < c.n_head) == (name != "qwen3-bias")
    assert c.tie_embeddings == name.endswith("tied") and c.qk_norm == name.startswith("qwen3")
    if c.tie_embeddings:  # one table, not a copy
        assert ours.lm_head.weight.data_ptr() == ours.transformer.wte.weight.data_ptr()
    x = torch.tensor([qtok.get_tokenizer(member).encode(PROMPT)])
    with torch.no_grad():
        theirs, mine = hf(x).logits, ours(x)
    assert (mine - theirs).abs().max().item() < 1e-4
    greedy = hf.generate(x, max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0,
                         attention_mask=torch.ones_like(x))[:, x.shape[1]:]
    assert torch.equal(generate(ours, x, 8, stop_ids=()), greedy)


def test_the_static_cache_decode_equals_the_uncached_forward(layout):
    _, path, _, member = layout
    model = load_checkpoint(path, dtype=torch.float32)
    ids = torch.tensor([qtok.get_tokenizer(member).encode("The quick brown fox jumps over the lazy dog")])
    T = ids.shape[1]
    with torch.no_grad():
        full = model(ids)
        model.setup_cache(1, 64)
        steps = [model(ids[:, :5], torch.arange(5))]  # a prefill, then one token at a time
        steps += [model(ids[:, t:t + 1], torch.tensor([t])) for t in range(5, T)]
        model.clear_cache()
    assert (torch.cat(steps, dim=1) - full).abs().max().item() < 1e-4


@pytest.mark.parametrize("mode", ["int8", "int4"])
@pytest.mark.parametrize("name", ["qwen2-mqa", "qwen3-tied"])  # each layout; tied and untied
def test_quantized_loading_equals_quantizing_after(checkpoints, name, mode):
    _, path, _, _ = checkpoints(name)
    streamed = load_checkpoint(path, dtype=torch.bfloat16, quantize=mode)
    after = quantize(load_checkpoint(path, dtype=torch.bfloat16), mode)
    assert_same(streamed, after)
    x = torch.tensor([[1, 50, 900, 7000, 151643]])
    with torch.inference_mode():
        assert torch.equal(streamed(x), after(x))


def test_saved_in_the_transformers_layout_it_loads_in_transformers(tmp_path):
    for preset in ("qwen2.5-1.5b", "qwen3-1.7b"):  # the modern shapes, shrunk
        shape = dict(QwenConfig.from_name(preset).__dict__, n_layer=1, d_model=64, ffn_dim=96,
                     vocab_size=152000, max_positions=128)
        model = Qwen(QwenConfig(**shape)).init_weights(1).eval()
        with pytest.raises(ValueError, match="no Qwen-1 form"):
            save_checkpoint(model, tmp_path / preset)
        save_checkpoint(model, tmp_path / preset, layout="hf")
        kind = "Qwen3" if model.config.qk_norm else "Qwen2"
        hf = getattr(transformers, f"{kind}ForCausalLM").from_pretrained(tmp_path / preset, dtype=torch.float32).eval()
        x = torch.tensor([[9707, 11, 1879, 0, 151643]])
        with torch.no_grad():
            assert (hf(x).logits - model(x)).abs().max().item() < 1e-4
        again = load_checkpoint(tmp_path / preset)
        assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())


def test_chat_end_to_end_with_the_members_template_and_stop_tokens(layout, tmp_path):
    name, path, _, member = layout
    # A tokenizer_config.json names the member by its added tokens; without one, the model_type.
    added = {str(151643 + i): {"content": t} for i, t in enumerate(qtok.family.MEMBERS[member].added)}
    (path / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": added}))
    r = run_main(model_main, "What is 2+2?", "--weights", path, "--chat", "--max-new-tokens", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    tok = qtok.get_tokenizer(member)
    expected = tok.encode_chat([{"role": "user", "content": "What is 2+2?"}])
    assert f"tokenizer: {member} (tokenizer_config.json's added tokens)" in r.stdout
    assert f"ids ({len(expected)}): {expected}" in r.stdout and "continuation: " in r.stdout
    (path / "tokenizer_config.json").unlink()
    r = run_main(model_main, "hi", "--weights", path, "--max-new-tokens", "1", "--quiet")
    guessed = "qwen3" if name.startswith("qwen3") else "qwen2.5"
    assert r.returncode == 0 and f"tokenizer: {guessed} (config.json's model_type" in r.stdout, r.stderr
    r = run_main(model_main, "hi", "--weights", path, "--encoding", "Qwen/Qwen2-7B", "--max-new-tokens", "1")
    assert r.returncode == 0 and "tokenizer: qwen2 (--encoding)" in r.stdout


@pytest.mark.parametrize("change,message", [
    ({"model_type": "qwen2_moe"}, "mixture-of-experts"),
    ({"model_type": "qwen3_5"}, "hybrid linear-attention"),
    ({"model_type": "llama"}, "not a Qwen layout"),
    ({"use_sliding_window": True}, "sliding-window attention"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "RoPE scaling"),
    ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6}}, "RoPE scaling"),
    ({"num_key_value_heads": 3}, "multiple of n_kv_head"),
])
def test_what_cannot_run_is_refused_in_one_line(change, message, tmp_path):
    cfg = transformers.Qwen3Config(vocab_size=1000, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2).to_dict()
    (tmp_path / "config.json").write_text(json.dumps(dict(cfg, **change)))  # refused before any weights are read
    with pytest.raises((CheckpointError, ValueError), match=message):
        load_checkpoint(tmp_path)
    r = run_main(model_main, "hi", "--weights", tmp_path, "--quiet")
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
