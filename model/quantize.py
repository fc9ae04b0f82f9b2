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
    def __init__(self, weight: torch.Tensor):
        super().__init__()
        w = weight.detach().float()
        scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
        self.register_buffer("qweight", torch.round(w / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(weight.dtype))
        self.dtype = weight.dtype

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.qweight[ids].to(self.dtype) * self.scale[ids]


def _torchao():
    try:
        import torchao.quantization as q
    except ImportError:
        raise ImportError("--quantize needs torchao: pip install 'qtok[quant]' (or pip install torchao)") from None
    return q


def quantize(model: nn.Module, mode: str, group_size: int = 128) -> nn.Module:
    """Quantize ``model`` in place (weight-only ``int8`` or ``int4``) and return it."""
    if mode not in MODES:
        raise ValueError(f"unknown quantization {mode!r}; use one of {', '.join(MODES)}")
    q = _torchao()
    device = model.transformer.ln_f.weight.device
    if mode == "int8":
        config = q.Int8WeightOnlyConfig()
    elif device.type == "cuda":
        config = q.Int4WeightOnlyConfig(group_size=group_size, int4_packing_format="tile_packed_to_4d")
    else:
        from torchao.prototype.quantization.int4 import PrototypeInt4WeightOnlyConfig

        config = PrototypeInt4WeightOnlyConfig(group_size=group_size)
    if mode == "int4" and model.transformer.ln_f.weight.dtype != torch.bfloat16:
        raise ValueError("int4 weight-only kernels take bfloat16 activations: load the model with "
                         "--dtype bfloat16 (dtype=torch.bfloat16)")
    q.quantize_(model, config, filter_fn=lambda m, fqn: isinstance(m, nn.Linear))
    model.transformer.wte = Int8Embedding(model.transformer.wte.weight)
    _release_freed_memory()
    model.quantization = {"mode": mode, "group_size": group_size if mode == "int4" else None,
                          "linear": type(config).__name__, "embedding": "int8 per row (qtok)"}
    return model


def _release_freed_memory() -> None:
    """Give the bf16 weights just freed back to the OS (glibc keeps freed heap pages otherwise:
    measured, int4's resident memory stayed at 3.1 GiB for 1.05 GiB of weights)."""
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
