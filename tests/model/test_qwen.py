"""The Qwen forward pass on the tiny preset, on the CPU."""

import math

import pytest
import torch

import qtok
from qtok.model import Qwen, QwenConfig, generate, n_params


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
