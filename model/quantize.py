"""Weight-only int8 / int4 quantization, for the Qwen-1.8B card's low-memory deployment.

The linear layers go through torchao (PyTorch's own quantization library, kept in step with
torch.compile): ``Int8WeightOnlyConfig`` (per-channel int8), and for int4 the group-wise
(128) format of the device: on CUDA ``Int4WeightOnlyConfig`` (tinygemm's tile-packed layout), on
the CPU torchao's packed CPU layout (``PrototypeInt4WeightOnlyConfig``, the one torchao has for
CPU int4 kernels in 0.18). Activations stay in the model's dtype (bf16).

The embedding table (151,936 x 2,048: 0.6 GB in bf16, a third of the 1.8B model's weights after
int8) has no torchao weight-only config, so it is quantized here: int8 per row with a bf16 scale,
dequantized only for the rows looked up. Without it, int8 would not fit the card's 2 GB.
"""

from __future__ import annotations

import ctypes
import gc

import torch
import torch.nn as nn

MODES = ("int8", "int4")


class Int8Embedding(nn.Module):
    """An embedding stored as int8 rows and one scale per row (absmax / 127)."""
    # Rows quantized at a time: each row has its own scale, so chunks give the same values as
    # the whole table, without a float32 copy of it (1.2 GB for Qwen-1.8B's).
    CHUNK_ROWS = 8192

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        weight = weight.detach()
        qweight = torch.empty(weight.shape, dtype=torch.int8, device=weight.device)
        scale = torch.empty((weight.shape[0], 1), dtype=weight.dtype, device=weight.device)
        for start in range(0, weight.shape[0], self.CHUNK_ROWS):
            w = weight[start:start + self.CHUNK_ROWS].float()
            s = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
            qweight[start:start + self.CHUNK_ROWS] = torch.round(w / s).clamp(-127, 127).to(torch.int8)
            scale[start:start + self.CHUNK_ROWS] = s.to(weight.dtype)
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale)
        self.dtype = weight.dtype

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.qweight[ids].to(self.dtype) * self.scale[ids]


class RowChunkedLinear(nn.Module):
    """A bias-free linear layer kept as quantized blocks of output rows (``lm_head``: 151,936 x
    2,048). Each row's quantization (per-row int8 scales, int4 groups along the input) does not
    depend on the other rows, so blocks quantize to the same values as the whole; but quantizing
    the whole at once held 2.4 GB of temporaries for Qwen-1.8B's, and a block holds 1/37 of it."""

    def __init__(self, blocks: list[nn.Linear]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.blocks], dim=-1)


# Rows of lm_head quantized at a time (a multiple of every group and tile size involved).
LM_HEAD_ROWS = 4096


def quantized_rows(n_rows: int, d_in: int, fill_rows, q, config, dtype, device) -> RowChunkedLinear:
    """``RowChunkedLinear`` of ``n_rows`` x ``d_in``: ``fill_rows(weight, start, stop)`` writes
    rows ``start:stop`` into a bf16 block, which is quantized before the next is made."""
    blocks = []
    for start in range(0, n_rows, LM_HEAD_ROWS):
        stop = min(start + LM_HEAD_ROWS, n_rows)
        block = nn.Linear(d_in, stop - start, bias=False, dtype=dtype, device=device)
        with torch.no_grad():
            fill_rows(block.weight, start, stop)
        q.quantize_(block, config)
        blocks.append(block)
        release_freed_memory(collect=False)
    return RowChunkedLinear(blocks)


def _torchao():
    try:
        import torchao.quantization as q
    except ImportError:
        raise ImportError("--quantize needs torchao: pip install 'qtok[quant]' (or pip install torchao)") from None
    return q


def linear_config(mode: str, device: torch.device, dtype: torch.dtype, group_size: int = 128):
    """(torchao's quantization module, the weight-only config of ``mode`` for linear layers on
    ``device``): one choice for quantizing a built model and for building one quantized."""
    if mode not in MODES:
        raise ValueError(f"unknown quantization {mode!r}; use one of {', '.join(MODES)}")
    if mode == "int4" and dtype != torch.bfloat16:
        raise ValueError("int4 weight-only kernels take bfloat16 activations: load the model with "
                         "--dtype bfloat16 (dtype=torch.bfloat16)")
    q = _torchao()
    if mode == "int8":
        return q, q.Int8WeightOnlyConfig()
    if device.type == "cuda":
        return q, q.Int4WeightOnlyConfig(group_size=group_size, int4_packing_format="tile_packed_to_4d")
    from torchao.prototype.quantization.int4 import PrototypeInt4WeightOnlyConfig

    return q, PrototypeInt4WeightOnlyConfig(group_size=group_size)


def quantize(model: nn.Module, mode: str, group_size: int = 128) -> nn.Module:
    """Quantize ``model`` in place (weight-only ``int8`` or ``int4``) and return it. (To never
    hold the bf16 model whole, build it quantized: ``model.materialize.build``.)"""
    norm = model.transformer.ln_f.weight
    q, config = linear_config(mode, norm.device, norm.dtype, group_size)
    head = model.lm_head.weight
    model.lm_head = None  # the full bf16 weight goes as its blocks are made
    model.lm_head = quantized_rows(head.shape[0], head.shape[1], lambda w, a, b: w.copy_(head[a:b]),
                                   q, config, head.dtype, head.device)
    del head
    q.quantize_(model, config, filter_fn=lambda m, fqn: isinstance(m, nn.Linear) and not fqn.startswith("lm_head"))
    model.transformer.wte = Int8Embedding(model.transformer.wte.weight)
    release_freed_memory()
    model.quantization = {"mode": mode, "group_size": group_size if mode == "int4" else None,
                          "linear": type(config).__name__, "embedding": "int8 per row (qtok)"}
    return model


def release_freed_memory(collect: bool = True) -> None:
    """Give the bf16 weights just freed back to the OS (glibc keeps freed heap pages otherwise:
    measured, int4's resident memory stayed at 3.1 GiB for 1.05 GiB of weights). ``collect``
    also runs the cycle collector (0.16 s with torch loaded): once at the end, not per module,
    since tensors are freed by their reference counts."""
    if collect:
        gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        pass


def weight_bytes(model: nn.Module) -> int:
    """Bytes the weights occupy (quantized tensors counted by their stored data)."""
    total = 0
    seen = set()
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) in seen:
            continue
        seen.add(id(t))
        total += _tensor_bytes(t)
    return total


def _tensor_bytes(t: torch.Tensor) -> int:
    names = getattr(t, "__tensor_flatten__", None)
    if names is not None and type(t) not in (torch.Tensor, nn.Parameter):
        inner, _ = t.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(t, n)) for n in inner)
    return t.numel() * t.element_size()
