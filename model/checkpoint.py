"""Reading and writing Qwen checkpoint directories, in Qwen's own layout.

A directory holds ``config.json`` and either ``model.safetensors`` / ``pytorch_model.bin``, or
shards listed by ``model.safetensors.index.json`` / ``pytorch_model.bin.index.json``
(``{"weight_map": {tensor_name: shard_file}}``). Tensors keep Qwen's names, so the files of a
real Qwen-1.8B load without renaming or permuting anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .qwen import Qwen, QwenConfig


# Buffers some exports include that this model derives instead of storing.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


class CheckpointError(ValueError):
    """A checkpoint directory that does not fit the model: the message lists what is wrong."""


def _read_shard(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = directory / index_name
        if index.exists():
            weight_map = json.loads(index.read_text())["weight_map"]
            state = {}
            for shard in sorted(set(weight_map.values())):
                if not (directory / shard).exists():
                    raise CheckpointError(f"{index_name} names the shard {shard}, which is missing")
                state.update(_read_shard(directory / shard))
            return state
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (directory / single).exists():
            return _read_shard(directory / single)
    raise CheckpointError(f"{directory} has no model.safetensors, pytorch_model.bin or index json")


def load_checkpoint(directory: str | Path, dtype: torch.dtype | None = None,
                    device: str | torch.device = "cpu") -> Qwen:
    """A ``Qwen`` with the weights of a checkpoint directory (config from its config.json)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"weights directory {str(directory)!r} does not exist")
    config_path = directory / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{directory} has no config.json")
    config = QwenConfig.from_qwen_config(json.loads(config_path.read_text()))
    state = {k: v for k, v in read_state_dict(directory).items() if not k.endswith(IGNORED_SUFFIXES)}
    with torch.device("meta"):
        model = Qwen(config)
    expected = {name: p.shape for name, p in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(f"{n}: {tuple(state[n].shape)} (expected {tuple(expected[n])})"
                       for n in set(expected) & set(state) if state[n].shape != expected[n])
    if missing or unexpected or misshaped:
        problems = [f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
                    for label, items in (("missing", missing), ("unexpected", unexpected),
                                         ("mis-shaped", misshaped)) if items]
        raise CheckpointError(f"checkpoint {directory} does not fit the model: " + "; ".join(problems))
    if dtype is None:
        dtype = next(iter(state.values())).dtype
    model = model.to_empty(device=device).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    return model.eval()


def save_checkpoint(model: Qwen, directory: str | Path, fmt: str = "safetensors", shards: int = 1) -> None:
    """Write ``model`` as a Qwen checkpoint directory (``fmt`` safetensors or bin, optionally sharded)."""
    if fmt not in ("safetensors", "bin"):
        raise ValueError(f"fmt must be 'safetensors' or 'bin', not {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(model.config.to_qwen_config(), indent=2))
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    names = list(state)
    stem, ext = ("model", "safetensors") if fmt == "safetensors" else ("pytorch_model", "bin")
    groups = [names[i::shards] for i in range(shards)]
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"{stem}.{ext}" if shards == 1 else f"{stem}-{i + 1:05d}-of-{shards:05d}.{ext}"
        part = {n: state[n] for n in group}
        if fmt == "safetensors":
            from safetensors.torch import save_file

            save_file(part, str(directory / fname), metadata={"format": "pt"})
        else:
            torch.save(part, directory / fname)
        weight_map.update(dict.fromkeys(group, fname))
    if shards > 1:
        (directory / f"{stem}.{ext}.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))
