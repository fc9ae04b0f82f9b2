"""Building a model one layer at a time, quantizing each layer as it arrives.

Quantizing after loading holds the whole bf16 model and its quantized copy at once (6 GiB for
the 1.8B shape with int4). Here the model is made on the meta device (shapes, no memory), then
each module with weights is given real memory, filled from a tensor source (a checkpoint read
tensor by tensor, or seeded random weights), and quantized at once if asked; so the peak is the
quantized model plus one module in bf16. Each linear layer is quantized alone with the same
torchao config, and the embedding into the same int8 rows, as ``quantize.quantize`` does on a
whole model, so the two give identical tensors (tests/model/test_materialize.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import torch
import torch.nn as nn

from .qwen import Qwen, QwenConfig
from .quantize import Int8Embedding, linear_config, quantized_rows, release_freed_memory

# fill(name, param, rows): write the values of the parameter called ``name`` into ``param``
# (allocated, in the model's dtype, on its device); with ``rows = (start, stop)`` only those rows
# of it, ``param`` being that block.
Fill = Callable[..., None]


def from_tensors(tensors) -> Fill:
    """Values from a checkpoint's ``Tensors``, read one by one (and a block of rows at a time for
    the output layer)."""
    def fill(name: str, param: torch.Tensor, rows: tuple[int, int] | None = None) -> None:
        param.copy_(tensors[name] if rows is None else tensors.rows(name, *rows))

    return fill


RANDOM_ROWS = 4096  # rows drawn from one generator: a block of rows is the same drawn alone


def random_weights(seed: int = 0) -> Fill:
    """Seeded random weights made in place, in the model's dtype (no float32 copy of a 0.6 GB
    embedding on the way): normal(0, 0.02) matrices, norms at 1, biases at 0. Each block of
    ``RANDOM_ROWS`` rows of a matrix has its own generator (seeded by the seed, the name and
    the block), so the values do not depend on how the rows are asked for."""
    def fill(name: str, param: torch.Tensor, rows: tuple[int, int] | None = None) -> None:
        if param.dim() < 2:
            param.fill_(0.0 if name.endswith(".bias") else 1.0)
            return
        start, stop = rows or (0, param.shape[0])
        assert start % RANDOM_ROWS == 0, "blocks of rows start at a multiple of RANDOM_ROWS"
        for a in range(start, stop, RANDOM_ROWS):
            g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(f"{name}:{a}".encode()))
            param[a - start:min(a + RANDOM_ROWS, stop) - start].normal_(0, 0.02, generator=g)

    return fill


def build(config: QwenConfig, fill: Fill, *,
          dtype: torch.dtype = torch.bfloat16, device: str | torch.device = "cpu",
          quantize: str | None = None, group_size: int = 128) -> Qwen:
    """A ``Qwen`` whose parameters ``fill`` writes, module by module in ``named_modules`` order,
    each module quantized (``quantize``: ``int8`` or ``int4``) as soon as it is filled."""
    with torch.device("meta"):
        model = Qwen(config)
    q, qconfig = linear_config(quantize, torch.device(device), dtype, group_size) if quantize else (None, None)
    # A tied output layer is the embedding table: its rows are read under that name.
    head = "transformer.wte.weight" if config.tie_embeddings else "lm_head.weight"
    for module_name, module in list(model.named_modules()):
        own = list(module.named_parameters(recurse=False))
        if not own:
            continue
        if quantize and module is model.lm_head:  # 0.6 GB in bf16: made and quantized in blocks
            model.lm_head = quantized_rows(
                config.vocab_size, config.d_model,
                lambda w, a, b: fill(head, w, (a, b)), q, qconfig, dtype, device)
            continue
        if module is model.lm_head and config.tie_embeddings:
            model.lm_head.weight = model.transformer.wte.weight  # the table filled above, shared
            continue
        module.to(dtype)
        module.to_empty(device=device, recurse=False)
        with torch.no_grad():
            for name, p in module.named_parameters(recurse=False):
                full = f"{module_name}.{name}" if module_name else name
                fill(full, p)
        if quantize and isinstance(module, nn.Linear):
            q.quantize_(module, qconfig)
            release_freed_memory(collect=False)
        elif quantize and module is model.transformer.wte:
            model.transformer.wte = Int8Embedding(module.weight)
            # The list being walked still holds the old module: drop its 0.6 GB bf16 table now.
            module.weight = None
            del own
            release_freed_memory()
    for module in model.modules():  # buffers that hold no weights (positions): empty, on the device
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf is not None and buf.is_meta:
                module._buffers[name] = torch.empty(buf.shape, dtype=buf.dtype, device=device)
    model._init_rope()  # the RoPE tables, computed on the device the weights are on
    if quantize:
        release_freed_memory()
    if quantize:
        model.quantization = {"mode": quantize, "group_size": group_size if quantize == "int4" else None,
                              "linear": type(qconfig).__name__, "embedding": "int8 per row (qtok)",
                              "loaded": "layer by layer"}
    return model.eval()
