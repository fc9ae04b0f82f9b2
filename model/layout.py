"""The two names of every tensor: Qwen-1's (this package's model) and transformers' Qwen2/Qwen3.

Qwen2 and Qwen3 are Qwen-1's architecture with separate q/k/v projections (of other widths under
grouped-query attention), Qwen3 adding an RMSNorm over each head's queries and keys and dropping
the qkv bias, some sizes tying the output layer to the embeddings. So the layouts differ by
renames, by the fused ``c_attn`` (q, k and v rows, one after the other) and by a tied ``lm_head``
that transformers does not store. Every value is copied bit for bit.

The one choice that is not a rename is which of Qwen's ``w1``/``w2`` is the gate. It is read off
the forward pass, not the names: Qwen computes ``c_proj(w1(x) * silu(w2(x)))`` and Qwen2
``down_proj(act(gate_proj(x)) * up_proj(x))``, so the tensor inside the SiLU, ``w2``, is
``gate_proj`` and ``w1`` is ``up_proj``. tests/model/test_convert.py shows that the swapped mapping
gives different logits from transformers.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .qwen import QwenConfig

# Qwen-1's tensor names -> transformers', litgpt's way: one table, inverted for the way back.
# ``{}`` is the layer number.
WEIGHT_MAP = {
    "transformer.wte.weight": "model.embed_tokens.weight",
    "transformer.ln_f.weight": "model.norm.weight",
    "lm_head.weight": "lm_head.weight",
    "transformer.h.{}.attn.c_proj.weight": "model.layers.{}.self_attn.o_proj.weight",
    "transformer.h.{}.mlp.w2.weight": "model.layers.{}.mlp.gate_proj.weight",  # inside the SiLU
    "transformer.h.{}.mlp.w1.weight": "model.layers.{}.mlp.up_proj.weight",
    "transformer.h.{}.mlp.c_proj.weight": "model.layers.{}.mlp.down_proj.weight",
    "transformer.h.{}.ln_1.weight": "model.layers.{}.input_layernorm.weight",
    "transformer.h.{}.ln_2.weight": "model.layers.{}.post_attention_layernorm.weight",
}
OUT_BIAS = {"transformer.h.{}.attn.c_proj.bias": "model.layers.{}.self_attn.o_proj.bias"}  # Qwen3's attention_bias
QK_NORMS = {  # Qwen3 only
    "transformer.h.{}.attn.q_norm.weight": "model.layers.{}.self_attn.q_norm.weight",
    "transformer.h.{}.attn.k_norm.weight": "model.layers.{}.self_attn.k_norm.weight",
}
FUSED = "transformer.h.{}.attn.c_attn.{}"  # weight and bias: rows q, then k, then v
SPLIT = "model.layers.{}.self_attn.{}_proj.{}"


def renames(c: QwenConfig) -> dict[str, str]:
    """Every Qwen-1 name of a model of config ``c`` -> its transformers name, except the fused
    ``c_attn`` (see ``fused``); a tied ``lm_head`` maps to the embeddings."""
    table = dict(WEIGHT_MAP, **(QK_NORMS if c.qk_norm else {}), **(OUT_BIAS if c.out_bias else {}))
    out = {}
    for src, dst in table.items():
        for i in range(c.n_layer) if "{}" in src else [None]:
            out[src.format(i)] = dst.format(i)
    if c.tie_embeddings:
        out["lm_head.weight"] = WEIGHT_MAP["transformer.wte.weight"]
    return out


def fused(c: QwenConfig) -> dict[str, list[str]]:
    """Each fused ``c_attn`` tensor -> its q, k, v parts' transformers names, in row order."""
    kinds = ("weight", "bias") if c.qkv_bias else ("weight",)
    return {FUSED.format(i, kind): [SPLIT.format(i, part, kind) for part in "qkv"]
            for i in range(c.n_layer) for kind in kinds}


def to_hf(state: dict[str, torch.Tensor], c: QwenConfig) -> dict[str, torch.Tensor]:
    """Qwen-1 tensor names -> transformers'; ``c_attn`` split into q, k, v; a tied ``lm_head``
    left out (transformers stores the embeddings once)."""
    out = {dst: state[src] for src, dst in renames(c).items()
           if not (c.tie_embeddings and src == "lm_head.weight")}
    sizes = [c.n_head * c.head_dim, c.n_kv_head * c.head_dim, c.n_kv_head * c.head_dim]
    for src, parts in fused(c).items():
        for name, t in zip(parts, state[src].split(sizes, 0)):
            out[name] = t.contiguous()
    return out


def to_qwen(state: Mapping[str, torch.Tensor], c: QwenConfig) -> dict[str, torch.Tensor]:
    """transformers tensor names -> Qwen-1's; q, k, v fused back into ``c_attn``."""
    view = HFView(state, c)
    return {name: view[name] for name in view}


class HFView(Mapping):
    """A transformers checkpoint's tensors (a ``Tensors`` or a dict) under Qwen-1's names: what
    the model and its low-memory loader read, with no conversion written to disk. ``c_attn`` is
    fused when asked for; a tied ``lm_head`` reads the embeddings (``rows`` a block at a time)."""

    def __init__(self, tensors: Mapping[str, torch.Tensor], c: QwenConfig):
        self.tensors = tensors
        self._renames = renames(c)
        self._fused = fused(c)
        self.shapes = self._shapes(c)

    def _shapes(self, c: QwenConfig) -> dict[str, torch.Size]:
        have = getattr(self.tensors, "shapes", None) or {k: v.shape for k, v in self.tensors.items()}
        shapes = {src: have[dst] for src, dst in self._renames.items() if dst in have}
        for src, parts in self._fused.items():
            if all(p in have for p in parts):
                first = have[parts[0]]
                shapes[src] = torch.Size([sum(have[p][0] for p in parts), *first[1:]])
        return shapes

    def unused(self) -> list[str]:
        """The checkpoint's tensors no Qwen-1 name reads (what a check reports as unexpected)."""
        read = set(self._renames.values()) | {p for parts in self._fused.values() for p in parts}
        return sorted(set(self.tensors) - read)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name in self._fused:
            return torch.cat([self.tensors[p] for p in self._fused[name]])
        return self.tensors[self._renames[name]]

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        if name in self._fused:
            return self[name][start:stop]
        if hasattr(self.tensors, "rows"):
            return self.tensors.rows(self._renames[name], start, stop)
        return self.tensors[self._renames[name]][start:stop]

    def __iter__(self):
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)
