"""The Qwen forward pass on the tiny preset, on the CPU."""

import json
import math
import subprocess
import sys

import pytest
import torch

import qtok
from model import CheckpointError, Qwen, QwenConfig, generate, generate_stream, load_checkpoint, n_params, save_checkpoint
from model.__main__ import main as model_main
from model.generate import sample_next
from clirun import run_main


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Qwen(QwenConfig.from_name("tiny")).init_weights(0).eval()


def ids_of(text):
    return torch.tensor([qtok.encode(text)])


def naive_forward(model, ids):
    """An independent reading of the architecture: RoPE as complex rotation of the pairs
    (i, i + hd/2), attention with an explicit mask and softmax, no SDPA."""
    c, sd = model.config, model.state_dict()
    T, hd = ids.shape[1], c.head_dim

    def norm(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + c.norm_eps) * w

    def rope(x):  # x (T, nh, hd)
        theta = c.rope_base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        angle = torch.arange(T, dtype=torch.float64)[:, None] * theta[None]  # (T, hd/2)
        z = torch.complex(x[..., : hd // 2].double(), x[..., hd // 2 :].double()) * torch.polar(
            torch.ones_like(angle), angle)[:, None]
        return torch.cat([z.real, z.imag], -1).float()

    x = sd["transformer.wte.weight"][ids[0]]
    for i in range(c.n_layer):
        p = f"transformer.h.{i}."
        h = norm(x, sd[p + "ln_1.weight"])
        qkv = h @ sd[p + "attn.c_attn.weight"].T + sd[p + "attn.c_attn.bias"]
        q, k, v = (t.reshape(T, c.n_head, hd) for t in qkv.split(c.d_model, -1))
        q, k = rope(q), rope(k)
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
        scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        att = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(T, c.d_model)
        x = x + att @ sd[p + "attn.c_proj.weight"].T
        h = norm(x, sd[p + "ln_2.weight"])
        a1, a2 = h @ sd[p + "mlp.w1.weight"].T, h @ sd[p + "mlp.w2.weight"].T
        x = x + (a1 * torch.nn.functional.silu(a2)) @ sd[p + "mlp.c_proj.weight"].T
    return norm(x, sd["transformer.ln_f.weight"]) @ sd["lm_head.weight"].T


def test_shapes_and_naive_reference(tiny):
    ids = ids_of("蒙古国的首都是乌兰巴托（Ulaanbaatar）")
    with torch.no_grad():
        logits = tiny(ids)
        assert logits.shape == (1, ids.shape[1], 151936)
        torch.testing.assert_close(logits[0], naive_forward(tiny, ids), atol=1e-4, rtol=1e-4)


def test_causality(tiny):
    ids = ids_of("hello world, this is a causal test of the model")
    other = ids.clone()
    t = 4
    other[0, t + 1 :] = torch.randint(0, 151851, (ids.shape[1] - t - 1,))
    with torch.no_grad():
        a, b = tiny(ids), tiny(other)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_static_cache_equals_full_forward_in_chunks(tiny):
    ids = ids_of("The quick brown fox jumps over the lazy dog. 你好世界")
    T = ids.shape[1]
    with torch.no_grad():
        full = tiny(ids)
        tiny.setup_cache(1, T + 7)  # a cache longer than needed: the mask hides the rest
        try:
            pieces = [tiny(ids[:, :5], torch.arange(5))]  # a prefix chunk,
            pieces.append(tiny(ids[:, 5:9], torch.arange(5, 9)))  # a middle chunk,
            for t in range(9, T):  # then one token at a time
                pieces.append(tiny(ids[:, t : t + 1], torch.tensor([t])))
        finally:
            tiny.clear_cache()
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("compile", [False, True])
def test_static_decode_equals_full_forward_batch_2(tiny, compile):
    """Prefill, then 20 decode steps through the (compiled) static path, for 2 sequences: every
    step's logits equal the full forward over the sequence so far. fullgraph=True compiles only
    if forward reads nothing back to the host."""
    from model.generate import decode_step

    torch._dynamo.reset()
    a, b = ids_of("first sequence here, in English"), ids_of("第二个序列，中文的，长度一样吗")
    n = min(a.shape[1], b.shape[1])
    ids = torch.cat([a[:, :n], b[:, :n]])
    step = decode_step(tiny, compile=compile)
    with torch.inference_mode():
        tiny.setup_cache(2, n + 20)
        try:
            logits = tiny(ids, torch.arange(n), last_only=True)[:, -1]
            seq = ids
            for t in range(20):
                torch.testing.assert_close(logits, tiny(seq)[:, -1], atol=1e-5, rtol=1e-5)
                nxt = logits.argmax(-1)[:, None]
                seq = torch.cat([seq, nxt], dim=1)
                logits = step(nxt.clone(), torch.tensor([n + t]))
        finally:
            tiny.clear_cache()
    gen = generate(tiny, ids, 20, compile=compile)
    assert torch.equal(gen, seq[:, n:]) or torch.isin(gen, torch.tensor([151643, 151645])).any()


def test_generate_streams_the_ids_generate_returns(tiny):
    ids = ids_of("stream me")
    steps = list(generate_stream(tiny, ids, 6, temperature=0.8, seed=1))
    assert all(s.shape == (1,) for s in steps)
    assert torch.equal(torch.stack(steps, 1), generate(tiny, ids, 6, temperature=0.8, seed=1))


def test_exponential_race_samples_the_distribution():
    probs = torch.tensor([[0.5, 0.3, 0.2]])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_next(probs.log().expand(1000, 3), 1.0, generator=g) for _ in range(10)])
    freq = torch.bincount(draws.flatten(), minlength=3).float() / draws.numel()
    assert torch.allclose(freq, probs[0], atol=0.02), freq


def test_batch_equals_separate_runs(tiny):
    a, b = ids_of("first sequence here"), ids_of("second one, same len")
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    with torch.no_grad():
        batch = tiny(torch.cat([a, b]))
        torch.testing.assert_close(batch[0:1], tiny(a), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch[1:2], tiny(b), atol=1e-5, rtol=1e-5)
    gen = generate(tiny, torch.cat([a, b]), 5)
    assert torch.equal(gen[0], generate(tiny, a, 5)[0]) and torch.equal(gen[1], generate(tiny, b, 5)[0])


def test_bfloat16_path_close_to_float32(tiny):
    ids = ids_of("bfloat16 should roughly agree")
    bf = Qwen(tiny.config).to(torch.bfloat16).eval()
    bf.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        out = bf(ids)
        ref = tiny(ids)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_generation_greedy_and_sampled(tiny):
    ids = ids_of("埃塞俄比亚的首都是")
    greedy = generate(tiny, ids, 8)
    with torch.no_grad():
        assert greedy[0, 0] == tiny(ids)[0, -1].argmax()
    assert torch.equal(generate(tiny, ids, 8, temperature=1.0, top_k=50, seed=3),
                       generate(tiny, ids, 8, temperature=1.0, top_k=50, seed=3))
    assert greedy.shape == (1, 8)
    with pytest.raises(ValueError, match="exceeds max_positions 256"):
        generate(tiny, ids, 1000)


def test_sampling_filters():
    logits = torch.tensor([[5.0, 4.0, 1.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next(logits, 1.0, top_k=2, generator=g)) for _ in range(200)}
    assert draws == {0, 1}
    draws = {int(sample_next(logits, 1.0, top_p=0.5, generator=g)) for _ in range(100)}
    assert draws == {0}
    assert int(sample_next(logits)) == 0


def test_generation_stops_at_end_of_text(tiny):
    # Make <|endoftext|> the model's certain next token: generation stops right there.
    model = Qwen(tiny.config).eval()
    model.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.weight[151643] = 1.0
        model.transformer.ln_f.weight.fill_(1.0)
        model.transformer.h[-1].mlp.c_proj.weight.zero_()
        model.transformer.h[-1].attn.c_proj.weight.zero_()
        model.transformer.wte.weight.abs_()
    out = generate(model, ids_of("hi"), 10)
    assert out[0].tolist() == [151643]


@pytest.mark.parametrize("fmt,shards", [("safetensors", 1), ("safetensors", 2), ("bin", 1), ("bin", 3)])
def test_checkpoint_round_trip(tiny, tmp_path, fmt, shards):
    save_checkpoint(tiny, tmp_path, fmt=fmt, shards=shards)
    if fmt == "bin" and shards == 1:  # an export that also stored RoPE's derived buffer still loads
        state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
        state["transformer.rotary_emb.inv_freq"] = torch.ones(8)
        torch.save(state, tmp_path / "pytorch_model.bin")
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["intermediate_size"] == 2 * tiny.config.ffn_dim and cfg["kv_channels"] == 16
    loaded = load_checkpoint(tmp_path)
    ids = ids_of("round trip")
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), tiny(ids))
    assert "transformer.h.1.attn.c_attn.bias" in loaded.state_dict()


def test_bad_checkpoints(tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    save_checkpoint(tiny, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    del state["lm_head.weight"]
    state["transformer.extra.weight"] = torch.zeros(1)
    state["transformer.h.0.mlp.w1.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    msg = str(info.value)
    assert "missing (1): lm_head.weight" in msg and "transformer.extra.weight" in msg
    assert "transformer.h.0.mlp.w1.weight: (3, 3) (expected (96, 64))" in msg


def test_bad_ids(tiny):
    """Checked at the entry points (check_ids, generate), not in forward (no host sync there)."""
    for check in (tiny.check_ids, lambda ids: generate(tiny, ids, 2)):
        with pytest.raises(ValueError, match="token id 151936 is outside"):
            check(torch.tensor([[1, 151936]]))
        with pytest.raises(ValueError, match="token id -1"):
            check(torch.tensor([[-1, 2]]))
        with pytest.raises(ValueError, match="exceeds the model's max_positions 256"):
            check(torch.zeros(1, 257, dtype=torch.long))
        with pytest.raises(TypeError, match="int64 or int32 tensor, got torch.float32"):
            check(torch.zeros(1, 3))
        with pytest.raises(TypeError, match="int64 or int32 tensor, got torch.uint8"):
            check(torch.zeros(1, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="must be 2-D"):
        tiny.check_ids(torch.zeros(2, 1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_positions 256"):
        tiny(torch.zeros(1, 257, dtype=torch.long))  # forward still refuses what has no RoPE row


def test_qwen_1_8b_parameter_count():
    with torch.device("meta"):
        model = Qwen(QwenConfig.from_name("qwen-1.8b"))
    assert n_params(model) == 1_836_828_672
    c = model.config
    assert (c.n_layer, c.n_head, c.d_model, c.head_dim, c.ffn_dim) == (24, 16, 2048, 128, 5504)


def test_config_from_qwen_config_json():
    cfg = QwenConfig.from_qwen_config({"hidden_size": 2048, "num_attention_heads": 16, "num_hidden_layers": 24,
                                       "intermediate_size": 11008, "kv_channels": 128, "rotary_emb_base": 10000,
                                       "layer_norm_epsilon": 1e-6, "vocab_size": 151936, "seq_length": 8192})
    assert cfg == QwenConfig.from_name("qwen-1.8b")
    with pytest.raises(ValueError, match="lacks"):
        QwenConfig.from_qwen_config({"hidden_size": 8})


def test_cli_end_to_end(tiny, tmp_path):
    r = subprocess.run([sys.executable, "-m", "model", "--max-new-tokens", "4"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "seeded random weights" in r.stdout and "top-5" in r.stdout and "continuation:" in r.stdout
    save_checkpoint(tiny, tmp_path)
    r = run_main(model_main, "hello", "--weights", tmp_path, "--dtype", "bfloat16")
    assert r.returncode == 0 and f"weights: {tmp_path}" in r.stdout
    r = run_main(model_main, "x", "--weights", tmp_path / "missing", "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    # Without --quiet: what it is doing on stderr, never on stdout.
    r = run_main(model_main, "hello", "--weights", tmp_path, "--max-new-tokens", "1")
    assert r.returncode == 0 and "model: loading the weights of" in r.stderr and "loading" not in r.stdout


@pytest.mark.parametrize("args,message", [
    (["hi", "--max-new-tokens", "-5"], "--max-new-tokens must be >= 0"),
    (["hi", "--temperature", "nan"], "--temperature must be a finite number"),
    (["hi", "--top-k", "0"], "--top-k must be a positive int"),
    (["hi", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    ([""], "the prompt is empty"),
])
def test_cli_bad_arguments_are_one_line(args, message):
    r = run_main(model_main, *args)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_cli_chat_streams_and_compiles():
    """--chat wraps the text in ChatML (as encode_chat) and stops at <|im_end|>; --compile runs
    the compiled decode step end to end."""
    r = subprocess.run([sys.executable, "-m", "model", "What is 2+2?", "--chat", "--compile",
                        "--max-new-tokens", "4"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    tok = qtok.get_tokenizer("qwen")
    expected = tok.encode_chat([{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": "What is 2+2?"}])
    assert f"ids ({len(expected)}): {expected}" in r.stdout
    assert "continuation: " in r.stdout
