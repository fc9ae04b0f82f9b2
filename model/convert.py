"""Qwen-1 checkpoints <-> the ``transformers`` Qwen2 layout, both ways, tensors unchanged.

    python -m qtok.model.convert SRC DST --to hf      # Qwen-1 (QWenLMHeadModel) -> Qwen2ForCausalLM
    python -m qtok.model.convert SRC DST --to qwen    # and back

Qwen-1 is Qwen2's architecture with a fused attention projection (model/layout.py has the names
and why ``w2`` is the gate), so the conversion renames and splits tensors and nothing else; every
value is copied bit for bit. Qwen2 and Qwen3 directories need no conversion: ``load_checkpoint``
reads them as they are. A Qwen2 that Qwen-1 cannot express (grouped-query attention, tied
embeddings) is refused by ``--to qwen`` in one line.

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
torch = import_for("torch", "python -m qtok.model.convert", "model", __name__ == "__main__")  # the [model] extra

from .checkpoint import CheckpointError, check_state, read_state_dict
from .layout import to_hf, to_qwen  # noqa: F401 - the conversions, re-exported
from .qwen import Qwen, QwenConfig

MAX_SHARD_BYTES = 2 << 30  # shards of at most 2 GiB, listed by model.safetensors.index.json


def qwen2_config(c: QwenConfig, dtype: torch.dtype = torch.bfloat16) -> dict:
    """The ``transformers`` ``config.json`` of a model of this shape (Qwen2, or Qwen3 with q/k
    norms), its end-of-text token Qwen's."""
    eot = qtok.get_tokenizer("qwen").special_tokens[ENDOFTEXT]
    return c.to_hf_config(str(dtype).removeprefix("torch."), eos=eot)


def config_from_qwen2(cfg: dict) -> QwenConfig:
    """A ``QwenConfig`` from a Qwen2 ``config.json``; refuses what Qwen-1 cannot express."""
    try:
        c = QwenConfig.from_hf_config(cfg)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if cfg.get("model_type") != "qwen2":
        raise CheckpointError(f"model_type {cfg.get('model_type')!r}: only a Qwen2 converts to Qwen-1 "
                              "(a Qwen3 directory loads as it is: load_checkpoint DIR)")
    if c.n_kv_head != c.n_head:
        raise CheckpointError(f"num_key_value_heads {c.n_kv_head} != num_attention_heads {c.n_head}: "
                              "grouped-query attention has no Qwen-1 form (load_checkpoint reads the "
                              "directory as it is)")
    if c.tie_embeddings:
        raise CheckpointError("tie_word_embeddings is true: Qwen-1 has a separate lm_head "
                              "(load_checkpoint reads the directory as it is)")
    if not c.qwen1:
        raise CheckpointError("head_dim * num_attention_heads != hidden_size: no Qwen-1 form")
    return c


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
    p = argparse.ArgumentParser(prog="python -m qtok.model.convert", description=__doc__.splitlines()[0])
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
