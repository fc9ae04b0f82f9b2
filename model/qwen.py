"""A minimal Qwen (v1: Qwen-1.8B/7B/14B/72B) forward pass in PyTorch, with Qwen's own parameter
names so that a real checkpoint loads as is.

    embeddings -> N x [RMSNorm -> causal self-attention with RoPE -> + ; RMSNorm -> SwiGLU MLP -> +]
               -> RMSNorm -> lm_head

Qwen specifics kept here: one fused ``c_attn`` projection with a bias, RoPE over the whole head
dim in the split-half (``rotate_half``) form, an MLP computing ``c_proj(w1(x) * silu(w2(x)))``
(w2 is the gate), RMSNorm in float32, untied embedding and ``lm_head``. Qwen's dynamic-NTK and
log-n attention only act beyond ``max_positions``, which this file refuses instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


# Larger than any vocabulary or width a config could mean: a bound before anything is allocated.
MAX_SIZE = 1 << 24


def check_sizes(cfg, required: tuple[str, ...], optional: tuple[str, ...], kind: str) -> None:
    """Refuse a ``config.json`` whose sizes are missing or are not positive integers (``"64"``,
    ``64.0``, ``null``, ``0``, ``-5``, ``1e13``), in one line that names the key."""
    if not isinstance(cfg, dict):
        raise ValueError(f"config.json holds a {type(cfg).__name__}, not an object: is this {kind} checkpoint?")
    missing = [k for k in required if k not in cfg]
    if missing:
        raise ValueError(f"config.json lacks {missing}: is this {kind} checkpoint?")
    for key in required + tuple(k for k in optional if k in cfg):
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= MAX_SIZE:
            raise ValueError(f"config.json: {key} is {v!r}; it must be a positive integer "
                             f"(at most {MAX_SIZE:,})")


@dataclass
class QwenConfig:
    vocab_size: int = 151936  # 151,851 ids padded to a multiple of 128
    n_layer: int = 24
    n_head: int = 16
    d_model: int = 2048
    head_dim: int = 128  # Qwen's kv_channels
    ffn_dim: int = 5504  # width of w1 and of w2: Qwen's intermediate_size // 2
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    max_positions: int = 8192  # Qwen's seq_length

    def __post_init__(self):
        if self.n_head * self.head_dim != self.d_model:
            raise ValueError(f"n_head * head_dim ({self.n_head} * {self.head_dim}) must equal d_model ({self.d_model})")

    @classmethod
    def from_name(cls, name: str) -> "QwenConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: use one of {sorted(PRESETS)}")
        return cls(**PRESETS[name])

    @classmethod
    def from_qwen_config(cls, cfg: dict) -> "QwenConfig":
        """From the keys of a Qwen checkpoint's ``config.json``."""
        check_sizes(cfg, ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                          "vocab_size"), ("kv_channels", "seq_length"), "a Qwen (v1)")
        d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
        return cls(
            vocab_size=cfg["vocab_size"],
            n_layer=cfg["num_hidden_layers"],
            n_head=nh,
            d_model=d,
            head_dim=cfg.get("kv_channels", d // nh),
            ffn_dim=cfg["intermediate_size"] // 2,
            rope_base=float(cfg.get("rotary_emb_base", 10000)),
            norm_eps=cfg.get("layer_norm_epsilon", 1e-6),
            max_positions=cfg.get("seq_length", 8192),
        )

    def to_qwen_config(self) -> dict:
        return {
            "architectures": ["QWenLMHeadModel"], "model_type": "qwen",
            "hidden_size": self.d_model, "num_attention_heads": self.n_head,
            "num_hidden_layers": self.n_layer, "intermediate_size": 2 * self.ffn_dim,
            "kv_channels": self.head_dim, "rotary_emb_base": self.rope_base,
            "layer_norm_epsilon": self.norm_eps, "vocab_size": self.vocab_size,
            "seq_length": self.max_positions, "rotary_pct": 1.0, "no_bias": True,
        }


PRESETS = {
    "qwen-1.8b": {},
    "tiny": dict(n_layer=2, n_head=4, d_model=64, head_dim=16, ffn_dim=96, max_positions=256),
}


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # In float32 whatever the model's dtype: the mean of squares overflows/loses bits in bf16.
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(positions: torch.Tensor, head_dim: int, base: float):
    """cos, sin of shape (T, head_dim) in split-half layout: [f0..f(d/2-1), f0..f(d/2-1)]."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    freqs = torch.outer(positions.float(), inv_freq)  # (T, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, hd)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    """x: (B, nh, T, hd); rotate pairs (i, i + hd/2), computed in float32 as Qwen does."""
    x32 = x.float()
    x1, x2 = x32.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)  # rotate_half
    return (x32 * cos + rotated * sin).type_as(x)


class Attention(nn.Module):
    def __init__(self, c: QwenConfig):
        super().__init__()
        self.n_head, self.head_dim = c.n_head, c.head_dim
        self.c_attn = nn.Linear(c.d_model, 3 * c.n_head * c.head_dim, bias=True)
        self.c_proj = nn.Linear(c.n_head * c.head_dim, c.d_model, bias=False)
        # The static KV cache (B, nh, L, hd), set up by Qwen.setup_cache: buffers (fixed
        # addresses, which CUDA graphs need), written in place at the positions given, so a
        # decode step is the same graph every time. Not saved with the weights.
        self.register_buffer("k_cache", None, persistent=False)
        self.register_buffer("v_cache", None, persistent=False)

    def forward(self, x, cos, sin, input_pos, mask):
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).split(self.n_head * self.head_dim, dim=-1)  # 3 x (B, T, nh*hd)
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if mask is None:  # no cache: the whole sequence at once
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # write this step's keys/values, attend over the whole cache through the mask
            self.k_cache.index_copy_(2, input_pos, k)
            self.v_cache.index_copy_(2, input_pos, v)
            y = F.scaled_dot_product_attention(q, self.k_cache, self.v_cache, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)  # (B, T, nh*hd)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c: QwenConfig):
        super().__init__()
        self.w1 = nn.Linear(c.d_model, c.ffn_dim, bias=False)
        self.w2 = nn.Linear(c.d_model, c.ffn_dim, bias=False)  # the gate
        self.c_proj = nn.Linear(c.ffn_dim, c.d_model, bias=False)

    def forward(self, x):
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class Block(nn.Module):
    def __init__(self, c: QwenConfig):
        super().__init__()
        self.ln_1 = RMSNorm(c.d_model, c.norm_eps)
        self.attn = Attention(c)
        self.ln_2 = RMSNorm(c.d_model, c.norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, input_pos, mask):
        x = x + self.attn(self.ln_1(x), cos, sin, input_pos, mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, c: QwenConfig):
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.d_model)
        self.h = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = RMSNorm(c.d_model, c.norm_eps)


class Qwen(nn.Module):
    """``Qwen(config)(ids) -> logits``; ``ids`` (B, T) int64, logits (B, T, vocab_size).

    Incremental decoding (gpt-fast's static form): ``setup_cache(B, L)`` allocates every layer's
    keys and values for L positions; ``model(ids, input_pos)`` then writes the new ones at
    ``input_pos`` (a tensor) and attends through a mask over all L. Shapes depend only on (B, T,
    L), never on how far decoding has gone, and ``forward`` never reads a value back to the host,
    so a decode step can be compiled (``torch.compile(mode="reduce-overhead")``: CUDA graphs).
    ``forward`` does not check ids (that would sync): the entry points do (``check_ids``)."""

    def __init__(self, config: QwenConfig):
        super().__init__()
        self.config = config
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        # RoPE for every position, computed once; kept in float32 by _apply whatever the weights'
        # dtype, as Qwen computes it.
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.register_buffer("cache_pos", torch.empty(0, dtype=torch.long), persistent=False)
        self._init_rope()

    def _init_rope(self) -> None:
        device = self.transformer.ln_f.weight.device
        positions = torch.arange(self.config.max_positions, device=device)
        self.rope_cos, self.rope_sin = rope_tables(positions, self.config.head_dim, self.config.rope_base)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        # .to(bfloat16) would round the tables and to_empty() leaves them uninitialised:
        # recompute them on the new device instead.
        self._init_rope()
        return self

    def setup_cache(self, batch: int, max_len: int, dtype: torch.dtype | None = None) -> None:
        """Allocate the static KV cache for ``batch`` sequences of up to ``max_len`` positions."""
        c = self.config
        if max_len > c.max_positions:
            raise ValueError(f"a cache of {max_len} positions exceeds max_positions {c.max_positions}")
        device = self.transformer.ln_f.weight.device
        dtype = dtype or self.transformer.ln_f.weight.dtype  # never quantized
        shape = (batch, c.n_head, max_len, c.head_dim)
        for block in self.transformer.h:
            attn = block.attn
            if attn.k_cache is not None and attn.k_cache.shape == shape and attn.k_cache.dtype == dtype:
                attn.k_cache.zero_()  # the same buffers again: a compiled step's graph stays valid
                attn.v_cache.zero_()
            else:
                attn.k_cache = torch.zeros(shape, dtype=dtype, device=device)
                attn.v_cache = torch.zeros(shape, dtype=dtype, device=device)
        if self.cache_pos.numel() != max_len:
            self.cache_pos = torch.arange(max_len, device=device)

    def clear_cache(self) -> None:
        for block in self.transformer.h:
            block.attn.k_cache = block.attn.v_cache = None
        self.cache_pos = torch.empty(0, dtype=torch.long, device=self.transformer.ln_f.weight.device)

    def check_ids(self, ids: torch.Tensor, start: int = 0) -> None:
        """What ``forward`` does not check: integer dtype, 2-D, ids inside the vocabulary, length
        within ``max_positions``. Called by ``generate``, the CLI and the benchmarks."""
        c = self.config
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"ids must be a torch tensor, got {type(ids).__name__}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"ids must be an int64 or int32 tensor, got {ids.dtype}")
        if ids.dim() != 2:
            raise ValueError(f"ids must be 2-D (batch, time), got shape {tuple(ids.shape)}")
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            bad = lo if lo < 0 else hi if hi >= c.vocab_size else None
            if bad is not None:
                raise ValueError(f"token id {bad} is outside the model's vocabulary [0, {c.vocab_size})")
        if start + ids.shape[-1] > c.max_positions:
            raise ValueError(f"sequence of {start + ids.shape[-1]} positions exceeds the model's "
                             f"max_positions {c.max_positions}; shorten the input")

    def forward(self, ids: torch.Tensor, input_pos: torch.Tensor | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits for ``ids`` (B, T). Without ``input_pos``: the sequence alone, causal. With
        ``input_pos`` (T,) and a cache (``setup_cache``): ``ids`` sit at those positions, after
        what the cache holds. ``last_only`` computes the logits of the last position only."""
        T = ids.shape[1]
        if input_pos is None:
            if T > self.config.max_positions:
                raise ValueError(f"sequence of {T} positions exceeds max_positions {self.config.max_positions}")
            cos, sin, mask = self.rope_cos[:T], self.rope_sin[:T], None
        else:
            if self.transformer.h[0].attn.k_cache is None:
                raise RuntimeError("input_pos needs a KV cache: call model.setup_cache(batch, max_len) first")
            cos, sin = self.rope_cos[input_pos], self.rope_sin[input_pos]  # (T, hd)
            mask = self.cache_pos[None, :] <= input_pos[:, None]  # (T, L): causal over the cache
        x = self.transformer.wte(ids)  # (B, T, d)
        for block in self.transformer.h:
            x = block(x, cos, sin, input_pos, mask)
        x = self.transformer.ln_f(x)
        if last_only:
            x = x[:, -1:]  # (B, 1, d)
        return self.lm_head(x)  # (B, T, vocab)

    def init_weights(self, seed: int = 0) -> "Qwen":
        """Seeded random weights (std 0.02, norms at 1), for runs without a checkpoint."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                    p.fill_(1.0)
                elif name.endswith(".bias"):
                    p.zero_()
                else:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        return self


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_token(config: QwenConfig, seq_len: int) -> float:
    """Forward FLOPs per token: 2 x matmul parameters plus attention scores (causal, averaged)."""
    c = config
    matmul = c.n_layer * (c.d_model * 3 * c.d_model + c.d_model * c.d_model + 3 * c.d_model * c.ffn_dim)
    matmul += c.d_model * c.vocab_size
    attn = c.n_layer * 2 * 2 * c.d_model * seq_len / 2  # QK^T and AV over half the context on average
    return 2 * matmul + attn


__all__ = ["QwenConfig", "Qwen", "RMSNorm", "apply_rope", "rope_tables", "n_params",
           "flops_per_token", "PRESETS"]
