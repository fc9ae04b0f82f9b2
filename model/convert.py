"""Qwen-1 checkpoints <-> the ``transformers`` Qwen2 layout, both ways, tensors unchanged.

    python -m model.convert SRC DST --to hf      # Qwen-1 (QWenLMHeadModel) -> Qwen2ForCausalLM
    python -m model.convert SRC DST --to qwen    # and back

Qwen-1 is Qwen2's architecture with a fused attention projection: the same RMSNorm, RoPE in the
split-half (``rotate_half``) layout, biases on q/k/v only, a SwiGLU MLP and untied embeddings. So
the conversion renames and splits tensors and nothing else; every value is copied bit for bit.

The only choice that is not a rename is which of Qwen's ``w1``/``w2`` is the gate. It is read off
the forward pass, not the names: Qwen computes ``c_proj(w1(x) * silu(w2(x)))`` and Qwen2
``down_proj(act(gate_proj(x)) * up_proj(x))``, so the tensor inside the SiLU, ``w2``, is
``gate_proj`` and ``w1`` is ``up_proj``. tests/test_convert.py shows that the swapped mapping
gives different logits from ``transformers``.

A Qwen2 directory written here loads in ``transformers`` (and in vLLM and llama.cpp, which read the
same layout) without ``trust_remote_code``; with ``tokenizer=True`` it also gets qtok's
``tokenizer.json`` and ``tokenizer_config.json`` (ChatML template), so ``AutoTokenizer`` gives
qtok's ids.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import qtok
from qtok.encodings import ENDOFTEXT
from qtok.export import export_hf
from qtok.files import atomic_write, make_dir
from qtok.progress import Status, import_for

# Before the modules that need it: run as a program without torch, one line says what to install.
torch = import_for("torch", "python -m model.convert", "model", __name__ == "__main__")  # the [model] extra

from .checkpoint import CheckpointError, check_state, read_state_dict
from .qwen import Qwen, QwenConfig, check_sizes

MAX_SHARD_BYTES = 2 << 30  # shards of at most 2 GiB, listed by model.safetensors.index.json


def qwen2_config(c: QwenConfig, dtype: torch.dtype = torch.bfloat16) -> dict:
    """The ``transformers`` Qwen2 ``config.json`` of a model of this shape."""
    eot = qtok.get_tokenizer("qwen").special_tokens[ENDOFTEXT]
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "hidden_size": c.d_model, "intermediate_size": c.ffn_dim,  # Qwen2: the MLP width itself
        "num_hidden_layers": c.n_layer, "num_attention_heads": c.n_head,
        "num_key_value_heads": c.n_head,  # Qwen-1 has no grouped-query attention
        "head_dim": c.head_dim,
        "hidden_act": "silu", "rms_norm_eps": c.norm_eps, "rope_theta": c.rope_base,
        "max_position_embeddings": c.max_positions, "vocab_size": c.vocab_size,
        "tie_word_embeddings": False, "use_sliding_window": False, "attention_dropout": 0.0,
        "bos_token_id": eot, "eos_token_id": eot, "torch_dtype": str(dtype).removeprefix("torch."),
    }


def config_from_qwen2(cfg: dict) -> QwenConfig:
    """A ``QwenConfig`` from a Qwen2 ``config.json``; refuses what Qwen-1 cannot express."""
    try:
        check_sizes(cfg, ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                          "vocab_size"), ("num_key_value_heads", "head_dim", "max_position_embeddings"),
                    "a transformers Qwen2")
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    nh = cfg["num_attention_heads"]
    if cfg.get("num_key_value_heads", nh) != nh:
        raise CheckpointError(f"num_key_value_heads {cfg['num_key_value_heads']} != num_attention_heads "
                              f"{nh}: grouped-query attention has no Qwen-1 form")
    if cfg.get("tie_word_embeddings", False):
        raise CheckpointError("tie_word_embeddings is true: Qwen-1 has a separate lm_head")
    if cfg.get("rope_scaling"):
        raise CheckpointError(f"rope_scaling {cfg['rope_scaling']} has no Qwen-1 form")
    if cfg.get("hidden_act", "silu") != "silu":
        raise CheckpointError(f"hidden_act {cfg['hidden_act']!r}: Qwen-1 uses silu")
    return QwenConfig(
        vocab_size=cfg["vocab_size"], n_layer=cfg["num_hidden_layers"], n_head=nh,
        d_model=cfg["hidden_size"], head_dim=cfg.get("head_dim") or cfg["hidden_size"] // nh,
        ffn_dim=cfg["intermediate_size"], rope_base=float(cfg.get("rope_theta", 10000.0)),
        norm_eps=cfg.get("rms_norm_eps", 1e-6), max_positions=cfg.get("max_position_embeddings", 8192))


# Qwen-1's tensor names -> Qwen2's, litgpt's way: one table, inverted for the way back. ``{}`` is
# the layer number. The fused attention ``c_attn`` is the one tensor that is not a rename: it is
# split into q, k, v (and fused back) by the helpers below.
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
FUSED = "transformer.h.{}.attn.c_attn.{}"  # weight and bias: rows q, then k, then v
SPLIT = "model.layers.{}.self_attn.{}_proj.{}"


def _rename(state: dict[str, torch.Tensor], table: dict[str, str], n_layer: int) -> dict[str, torch.Tensor]:
    out = {}
    for src, dst in table.items():
        for i in range(n_layer) if "{}" in src else [None]:
            out[dst.format(i)] = state[src.format(i)]
    return out


def to_hf(state: dict[str, torch.Tensor], c: QwenConfig) -> dict[str, torch.Tensor]:
    """Qwen-1 tensor names -> Qwen2's; the fused ``c_attn`` split into q, k, v (rows, then bias)."""
    out = _rename(state, WEIGHT_MAP, c.n_layer)
    width = c.n_head * c.head_dim
    for i in range(c.n_layer):
        for kind in ("weight", "bias"):
            for part, t in zip("qkv", state[FUSED.format(i, kind)].split(width, 0)):
                out[SPLIT.format(i, part, kind)] = t.contiguous()
    return out


def to_qwen(state: dict[str, torch.Tensor], c: QwenConfig) -> dict[str, torch.Tensor]:
    """Qwen2 tensor names -> Qwen-1's; q, k, v fused back into ``c_attn``."""
    out = _rename(state, {v: k for k, v in WEIGHT_MAP.items()}, c.n_layer)
    for i in range(c.n_layer):
        for kind in ("weight", "bias"):
            out[FUSED.format(i, kind)] = torch.cat([state[SPLIT.format(i, p, kind)] for p in "qkv"])
    return out


def write_safetensors(state: dict[str, torch.Tensor], directory: Path,
                      max_shard_bytes: int = MAX_SHARD_BYTES) -> list[Path]:
    """``model.safetensors``, or shards plus ``model.safetensors.index.json`` when larger than
    ``max_shard_bytes``; each file written atomically (temporary name, then rename)."""
    from safetensors.torch import save


    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in state.items():
        n = t.numel() * t.element_size()
        if shards[-1] and size + n > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t.contiguous()
        size += n
    if len(shards) == 1:
        return [atomic_write(directory / "model.safetensors", save(shards[0], metadata={"format": "pt"}))]
    paths, weight_map = [], {}
    for i, part in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        paths.append(atomic_write(directory / fname, save(part, metadata={"format": "pt"})))
        weight_map.update(dict.fromkeys(part, fname))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    paths.append(atomic_write(directory / "model.safetensors.index.json", json.dumps(index, indent=2)))
    return paths


def convert(src: str | Path, dst: str | Path, to: str, *, tokenizer: bool = True,
            max_shard_bytes: int = MAX_SHARD_BYTES, status=lambda message: None) -> list[Path]:
    """Convert the checkpoint directory ``src`` into ``dst`` (``to``: ``hf`` or ``qwen``);
    returns the files written. Safetensors in (or a ``.bin`` read with ``weights_only=True``),
    safetensors out. ``status(message)`` is told each step (the CLI prints them on stderr)."""

    if to not in ("hf", "qwen"):
        raise ValueError(f"--to must be 'hf' or 'qwen', got {to!r}")
    src, dst = Path(src), Path(dst)
    if not (src / "config.json").is_file():
        raise CheckpointError(f"{src} has no config.json: give a checkpoint directory")
    if dst.resolve() == src.resolve():
        raise CheckpointError("the destination is the source; give another directory")
    make_dir(dst)
    try:
        cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{src / 'config.json'} is not valid JSON: {e}") from None
    # The config first: a layout Qwen-1 cannot express is refused before any weights are read.
    c = QwenConfig.from_qwen_config(cfg) if to == "hf" else config_from_qwen2(cfg)
    status(f"reading the weights of {src}")
    state = read_state_dict(src)
    dtype = next(iter(state.values())).dtype if state else torch.float32
    if to == "hf":
        state = {k: v for k, v in state.items() if not k.endswith("rotary_emb.inv_freq")}
        with torch.device("meta"):
            check_state(state, Qwen(c).state_dict(), f"{src} is not a Qwen-1 checkpoint of its config")
        out, out_cfg = to_hf(state, c), qwen2_config(c, dtype)
    else:
        with torch.device("meta"):
            check_state(state, to_hf(Qwen(c).state_dict(), c), f"{src} is not a Qwen2 checkpoint of its config")
        out, out_cfg = to_qwen(state, c), c.to_qwen_config()
    size = sum(t.numel() * t.element_size() for t in out.values())
    status(f"writing {len(out)} tensors ({size / 2**30:.2f} GiB) to {dst} in the {to} layout")
    paths = write_safetensors(out, dst, max_shard_bytes)
    if to == "hf" and tokenizer:
        status("writing tokenizer.json and tokenizer_config.json")

        paths += list(export_hf(qtok.get_tokenizer("qwen", compat="hf"), dst).values())
    # config.json last: a directory without it is not taken for a checkpoint.
    paths.append(atomic_write(dst / "config.json", json.dumps(out_cfg, indent=2) + "\n"))
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.convert", description=__doc__.splitlines()[0])
    p.add_argument("src", help="checkpoint directory (config.json + safetensors or bin)")
    p.add_argument("dst", help="output directory (created)")
    p.add_argument("--to", required=True, choices=["hf", "qwen"],
                   help="hf: transformers Qwen2 layout; qwen: Qwen-1 (this package's) layout")
    p.add_argument("--no-tokenizer", action="store_true",
                   help="with --to hf: do not write tokenizer.json / tokenizer_config.json")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    try:
        paths = convert(args.src, args.dst, args.to, tokenizer=not args.no_tokenizer,
                        status=Status("model.convert", quiet=args.quiet))
    except (CheckpointError, ValueError, OSError) as e:
        print(f"model.convert: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} files to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
