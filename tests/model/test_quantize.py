"""Weight-only int8 / int4 (torchao for the linear layers, int8 rows for the embedding)."""


import pytest
import torch
from helpers import run_main

import qtok
from qtok.model import Qwen, QwenConfig, generate
from qtok.model.__main__ import main as model_main
from qtok.model.quantize import Int8Embedding, quantize, weight_bytes


def bf16_tiny():
    return Qwen(QwenConfig.from_name("tiny")).init_weights(0).to(torch.bfloat16).eval()


@pytest.mark.parametrize("mode,ratio", [("int8", 0.6), ("int4", 0.45)])
def test_quantized_model_is_smaller_and_agrees(mode, ratio):
    ref = bf16_tiny()
    model = quantize(bf16_tiny(), mode, group_size=32)
    assert isinstance(model.transformer.wte, Int8Embedding)
    # lm_head as blocks of rows, each a torchao tensor subclass, together the whole vocabulary
    blocks = model.lm_head.blocks
    assert all(type(b.weight).__name__ != "Parameter" for b in blocks)
    assert sum(b.weight.shape[0] for b in blocks) == model.config.vocab_size
    assert weight_bytes(model) < ratio * weight_bytes(ref)
    x = torch.tensor([qtok.encode("The capital of Iceland is Reykjavik. 冰岛的首都是")])
    with torch.inference_mode():
        a, b = ref(x).float(), model(x).float()
    agree = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
    assert agree >= 0.8, agree
    assert generate(model, x, 4).shape == (1, 4)


def test_int8_embedding_rows():
    w = torch.randn(10, 8, dtype=torch.bfloat16)
    e = Int8Embedding(w)
    ids = torch.tensor([[0, 9, 3]])
    got = e(ids)
    assert got.dtype == torch.bfloat16
    assert (got.float() - w[ids].float()).abs().max() <= w.abs().max().float() / 127 + 1e-2


def test_bad_mode_and_dtype():
    with pytest.raises(ValueError, match="unknown quantization 'int3'"):
        quantize(bf16_tiny(), "int3")
    with pytest.raises(ValueError, match="bfloat16"):
        quantize(Qwen(QwenConfig.from_name("tiny")).init_weights(0), "int4")


def test_cli_quantize():
    r = run_main(model_main, "hello", "--dtype", "bfloat16", "--quantize", "int8", "--max-new-tokens", "3")
    assert r.returncode == 0, r.stderr
    assert "quantized: int8 weight-only" in r.stdout
    r = run_main(model_main, "hello", "--quantize", "int4")
    assert r.returncode == 2 and "needs --dtype bfloat16" in r.stderr
