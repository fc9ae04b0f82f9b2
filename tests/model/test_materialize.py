"""model.materialize: a model built a module at a time, quantized as each arrives, equals one
built whole and quantized after, tensor by tensor; a damaged checkpoint still fails in one line."""

import json

import pytest
import torch
from helpers import assert_same

from qtok.model import CheckpointError, QwenConfig, load_checkpoint, save_checkpoint
from qtok.model.materialize import build, random_weights
from qtok.model.quantize import Int8Embedding, quantize


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_while_built_equals_quantized_after(mode):
    config = QwenConfig.from_name("tiny")
    streamed = build(config, random_weights(3), dtype=torch.bfloat16, quantize=mode)
    after = quantize(build(config, random_weights(3), dtype=torch.bfloat16), mode)
    assert isinstance(streamed.transformer.wte, Int8Embedding)
    assert_same(streamed, after)
    ids = torch.tensor([[1, 50, 900, 7000, 12]])
    with torch.inference_mode():
        assert torch.equal(streamed(ids), after(ids))


def test_a_checkpoint_is_read_a_module_at_a_time_and_quantized_the_same(tiny, tmp_path):
    save_checkpoint(tiny, tmp_path, shards=2)
    streamed = load_checkpoint(tmp_path, dtype=torch.bfloat16, quantize="int8")
    after = quantize(load_checkpoint(tmp_path, dtype=torch.bfloat16), "int8")
    assert_same(streamed, after)
    plain = load_checkpoint(tmp_path)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in tiny.state_dict().items())


def test_a_damaged_checkpoint_fails_in_one_line_before_anything_is_built(tiny, tmp_path):
    save_checkpoint(tiny, tmp_path)
    f = tmp_path / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_checkpoint(tmp_path, dtype=torch.bfloat16, quantize="int4")
    save_checkpoint(tiny, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(cfg, intermediate_size=cfg["intermediate_size"] * 2)))
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_checkpoint(tmp_path, dtype=torch.bfloat16, quantize="int4")
