"""A minimal Qwen forward pass in PyTorch for the family's dense layouts (Qwen-1, Qwen1.5/2/2.5,
Qwen3), with Qwen-1's own parameter names so that a Qwen-1 checkpoint loads as is (a transformers
Qwen2/Qwen3 directory is read through a renaming view: model/checkpoint.py).

    embeddings -> N x [RMSNorm -> causal self-attention with RoPE -> + ; RMSNorm -> SwiGLU MLP -> +]
               -> RMSNorm -> lm_head

One model, configured: a fused ``c_attn`` projection (q, then k, then v rows) with or without a
bias (Qwen-1/2 have one, Qwen3 not), grouped-query attention (``n_kv_head`` key/value heads, each
serving ``n_head / n_kv_head`` consecutive query heads), Qwen3's RMSNorm over each head's queries
and keys before RoPE (``qk_norm``), a ``head_dim`` of its own (Qwen3: 128 at every size), and the
output layer tied to the embeddings or not. RoPE over the whole head dim in the split-half
(``rotate_half``) form, an MLP computing ``c_proj(w1(x) * silu(w2(x)))`` (w2 is the gate),
RMSNorm in float32. Qwen-1's dynamic-NTK and log-n attention only act beyond ``max_positions``,
which this file refuses instead.
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


# The layouts load_checkpoint reads, by config.json's model_type, and those it refuses.
DENSE_TYPES = ("qwen", "qwen2", "qwen3")
REFUSED_TYPES = {
    "qwen2_moe": "a mixture-of-experts model (Qwen1.5/2-MoE)",
    "qwen3_moe": "a mixture-of-experts model (Qwen3-MoE)",
    "qwen3_next": "Qwen3-Next's hybrid attention and experts",
    "qwen3_5": "Qwen3.5's hybrid linear-attention layers",
    "qwen3_5_moe": "Qwen3.5's hybrid linear-attention layers and experts",
}


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
    n_kv_head: int | None = None  # key/value heads (grouped-query attention); None: n_head
    qkv_bias: bool = True  # Qwen-1, Qwen2: yes; Qwen3: no (attention_bias)
    out_bias: bool = False  # a bias on the attention's output projection (Qwen3's attention_bias)
    qk_norm: bool = False  # Qwen3: RMSNorm over each head's queries and keys
    tie_embeddings: bool = False  # lm_head is the embedding table (Qwen2.5-0.5B/1.5B/3B, Qwen3-0.6B...)

    def __post_init__(self):
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ValueError(f"n_head ({self.n_head}) must be a multiple of n_kv_head ({self.n_kv_head})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim ({self.head_dim}) must be even: RoPE rotates pairs")

    @property
    def qwen1(self) -> bool:
        """Whether Qwen-1's config and tensor names can express this model."""
        return (self.n_kv_head == self.n_head and self.qkv_bias and not self.qk_norm
                and not self.out_bias and not self.tie_embeddings and self.n_head * self.head_dim == self.d_model)

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

    @classmethod
    def from_hf_config(cls, cfg: dict) -> "QwenConfig":
        """From a transformers ``config.json`` of ``model_type`` qwen2 (Qwen1.5/2/2.5) or qwen3
        (dense); what this model cannot run is refused in one line."""
        kind = cfg.get("model_type")
        if kind not in ("qwen2", "qwen3"):
            raise ValueError(f"model_type {kind!r} is not a transformers Qwen2/Qwen3 config")
        check_sizes(cfg, ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                          "vocab_size"), ("num_key_value_heads", "head_dim", "max_position_embeddings"),
                    f"a transformers {kind}")
        # transformers 4 writes rope_theta and rope_scaling; transformers 5 one rope_parameters.
        for key in ("rope_scaling", "rope_parameters"):
            rope = cfg.get(key) or {}
            if not isinstance(rope, dict) or (rope.get("rope_type") or rope.get("type") or "default") != "default":
                raise ValueError(f"RoPE scaling ({key} {rope}) is not supported: only plain RoPE "
                                 f"(remove it to run within max_position_embeddings)")
        theta = cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0))
        if cfg.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {cfg['hidden_act']!r} is not supported: Qwen uses silu")
        if cfg.get("use_sliding_window") or "sliding_attention" in (cfg.get("layer_types") or ()):
            raise ValueError("sliding-window attention is on (use_sliding_window / layer_types): "
                             "not supported, every layer attends to the whole context here")
        nh, d = cfg["num_attention_heads"], cfg["hidden_size"]
        qwen3 = kind == "qwen3"
        return cls(
            vocab_size=cfg["vocab_size"], n_layer=cfg["num_hidden_layers"], n_head=nh, d_model=d,
            # Qwen3's transformers config defaults head_dim to 128; Qwen2's to hidden / heads.
            head_dim=cfg.get("head_dim") or (128 if qwen3 else d // nh),
            ffn_dim=cfg["intermediate_size"], rope_base=float(theta),
            norm_eps=cfg.get("rms_norm_eps", 1e-6), max_positions=cfg.get("max_position_embeddings", 8192),
            n_kv_head=cfg.get("num_key_value_heads") or nh,
            qkv_bias=bool(cfg.get("attention_bias", False)) if qwen3 else True,
            out_bias=bool(cfg.get("attention_bias", False)) if qwen3 else False,
            qk_norm=qwen3, tie_embeddings=bool(cfg.get("tie_word_embeddings", False)))

    def to_hf_config(self, dtype: str = "bfloat16", eos: int | None = None) -> dict:
        """The transformers ``config.json`` of this shape: qwen3 with q/k norms, else qwen2."""
        qwen3 = self.qk_norm
        if (qwen3 and self.qkv_bias != self.out_bias) or (not qwen3 and (not self.qkv_bias or self.out_bias)):
            raise ValueError("this combination of biases and q/k norms has no transformers Qwen layout "
                             "(Qwen2: q/k/v biases, no norms; Qwen3: norms, all attention biases or none)")
        cfg = {
            "architectures": ["Qwen3ForCausalLM" if qwen3 else "Qwen2ForCausalLM"],
            "model_type": "qwen3" if qwen3 else "qwen2",
            "hidden_size": self.d_model, "intermediate_size": self.ffn_dim,  # the MLP width itself
            "num_hidden_layers": self.n_layer, "num_attention_heads": self.n_head,
            "num_key_value_heads": self.n_kv_head, "head_dim": self.head_dim,
            "hidden_act": "silu", "rms_norm_eps": self.norm_eps, "rope_theta": self.rope_base,
            "max_position_embeddings": self.max_positions, "vocab_size": self.vocab_size,
            "tie_word_embeddings": self.tie_embeddings, "use_sliding_window": False,
            "attention_dropout": 0.0, "torch_dtype": dtype,
        }
        if qwen3:
            cfg["attention_bias"] = self.qkv_bias
        if eos is not None:
            cfg["bos_token_id"] = cfg["eos_token_id"] = eos
        return cfg

    def to_qwen_config(self) -> dict:
        if not self.qwen1:
            raise ValueError("this configuration (grouped-query attention, q/k norms, no qkv bias, tied "
                             "embeddings or head_dim * n_head != d_model) has no Qwen-1 form; save it "
                             "in the transformers layout (layout='hf')")
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
    # The modern counterparts of the card's 1.8B (their config.json's shapes).
    "qwen2.5-1.5b": dict(n_layer=28, n_head=12, n_kv_head=2, d_model=1536, head_dim=128, ffn_dim=8960,
                         rope_base=1000000.0, max_positions=32768, tie_embeddings=True),
    "qwen3-1.7b": dict(n_layer=28, n_head=16, n_kv_head=8, d_model=2048, head_dim=128, ffn_dim=6144,
                       rope_base=1000000.0, max_positions=40960, qkv_bias=False, qk_norm=True,
                       tie_embeddings=True),
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
        self.n_head, self.n_kv_head, self.head_dim = c.n_head, c.n_kv_head, c.head_dim
        self.sizes = (c.n_head * c.head_dim, c.n_kv_head * c.head_dim, c.n_kv_head * c.head_dim)
        self.c_attn = nn.Linear(c.d_model, sum(self.sizes), bias=c.qkv_bias)
        self.c_proj = nn.Linear(c.n_head * c.head_dim, c.d_model, bias=c.out_bias)
        if c.qk_norm:  # Qwen3: over each head's vector, before RoPE
            self.q_norm = RMSNorm(c.head_dim, c.norm_eps)
            self.k_norm = RMSNorm(c.head_dim, c.norm_eps)
        else:
            self.q_norm = self.k_norm = None
        # The static KV cache (B, nh, L, hd), set up by Qwen.setup_cache: buffers (fixed
        # addresses, which CUDA graphs need), written in place at the positions given, so a
        # decode step is the same graph every time. Not saved with the weights.
        self.register_buffer("k_cache", None, persistent=False)
        self.register_buffer("v_cache", None, persistent=False)

    def forward(self, x, cos, sin, input_pos, mask):
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).split(self.sizes, dim=-1)  # (B, T, nh*hd), 2 x (B, T, nkv*hd)
        q = q.view(B, T, self.n_head, self.head_dim)
        k = k.view(B, T, self.n_kv_head, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)  # (B, nh, T, hd), (B, nkv, T, hd)
        v = v.view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if mask is not None:  # write this step's keys/values, attend over the whole cache
            self.k_cache.index_copy_(2, input_pos, k)
            self.v_cache.index_copy_(2, input_pos, v)
            k, v = self.k_cache, self.v_cache
        # Grouped: query head i reads key/value head i // (nh / nkv), inside SDPA (no copies of
        # the keys and values per query head).
        gqa = self.n_kv_head != self.n_head
        if mask is None:  # no cache: the whole sequence at once
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
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
        if config.tie_embeddings:  # one table: the state dict lists it under both names
            self.lm_head.weight = self.transformer.wte.weight
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
        shape = (batch, c.n_kv_head, max_len, c.head_dim)  # grouped: the key/value heads only
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
                if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight", "_norm.weight")):
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
    q_width, kv_width = c.n_head * c.head_dim, c.n_kv_head * c.head_dim
    matmul = c.n_layer * (c.d_model * (q_width + 2 * kv_width) + q_width * c.d_model + 3 * c.d_model * c.ffn_dim)
    matmul += c.d_model * c.vocab_size
    attn = c.n_layer * 2 * 2 * q_width * seq_len / 2  # QK^T and AV over half the context on average
    return 2 * matmul + attn


__all__ = ["QwenConfig", "Qwen", "RMSNorm", "apply_rope", "rope_tables", "n_params",
           "flops_per_token", "PRESETS", "DENSE_TYPES", "REFUSED_TYPES"]
