"""Checkpoints: saved and loaded (safetensors and .bin, sharded), damaged ones refused in one line."""

import json

import pytest
import torch

import qtok
from qtok.model import CheckpointError, QwenConfig, load_checkpoint, save_checkpoint


def ids_of(text):
    return torch.tensor([qtok.encode(text)])


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


def test_config_from_qwen_config_json():
    cfg = QwenConfig.from_qwen_config({"hidden_size": 2048, "num_attention_heads": 16, "num_hidden_layers": 24,
                                       "intermediate_size": 11008, "kv_channels": 128, "rotary_emb_base": 10000,
                                       "layer_norm_epsilon": 1e-6, "vocab_size": 151936, "seq_length": 8192})
    assert cfg == QwenConfig.from_name("qwen-1.8b")
    with pytest.raises(ValueError, match="lacks"):
        QwenConfig.from_qwen_config({"hidden_size": 8})


def test_shards_are_files_of_the_checkpoint_never_paths_elsewhere(tiny, tmp_path):
    outside = tmp_path / "outside"
    save_checkpoint(tiny, outside)
    ckpt = tmp_path / "ckpt"
    save_checkpoint(tiny, ckpt, shards=2)
    index = ckpt / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    for target in ("../outside/model.safetensors", "/etc/passwd"):
        doc["weight_map"] = dict.fromkeys(doc["weight_map"], target)
        index.write_text(json.dumps(doc))
        with pytest.raises(CheckpointError, match="which is not a file in"):
            load_checkpoint(ckpt)


@pytest.mark.parametrize("garbage", [b"GARBAGE", b"."])
def test_a_bin_file_of_garbage_is_one_line(tiny, tmp_path, garbage):
    save_checkpoint(tiny, tmp_path, fmt="bin")
    (tmp_path / "pytorch_model.bin").write_bytes(garbage)
    with pytest.raises(CheckpointError, match="is not a plain state dict"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("key,value", [("num_attention_heads", 0), ("seq_length", -5), ("hidden_size", "64"),
                                       ("hidden_size", 64.0), ("hidden_size", None), ("vocab_size", 10**13)])
def test_config_sizes_must_be_positive_integers(tiny, tmp_path, key, value):
    save_checkpoint(tiny, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(cfg, **{key: value})))
    with pytest.raises(ValueError, match=f"config.json: {key} is .*; it must be a positive integer"):
        load_checkpoint(tmp_path)
