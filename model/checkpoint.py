"""Reading and writing Qwen checkpoint directories: Qwen-1's own layout, and transformers' Qwen2
(Qwen1.5/2/2.5) and Qwen3 layouts as they are saved.

A directory holds ``config.json`` and either ``model.safetensors`` / ``pytorch_model.bin``, or
shards listed by ``model.safetensors.index.json`` / ``pytorch_model.bin.index.json``
(``{"weight_map": {tensor_name: shard_file}}``). ``config.json``'s ``model_type`` says the layout:
Qwen-1's tensors load under their own names; a Qwen2/Qwen3 directory is read through
``layout.HFView`` (its names mapped to Qwen-1's, q/k/v fused as they are read), so nothing is
converted on disk. Mixture-of-experts and Qwen3.5's hybrid layers are refused in one line.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from qtok.files import atomic_write, make_dir

from .layout import HFView, to_hf
from .materialize import build, from_tensors
from .qwen import DENSE_TYPES, REFUSED_TYPES, Qwen, QwenConfig

# Buffers some exports include that this model derives instead of storing.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


class CheckpointError(ValueError):
    """A checkpoint directory that does not fit the model: the message lists what is wrong."""

def check_state(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], problem: str) -> None:
    """Refuse, in one line that begins with ``problem``, tensors that are missing, unexpected, or
    of another shape than ``expected`` (name -> tensor, on the meta device is enough)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(f"{n}: {tuple(state[n].shape)} (expected {tuple(expected[n].shape)})"
                       for n in set(expected) & set(state) if state[n].shape != expected[n].shape)
    if missing or unexpected or misshaped:
        problems = [f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
                    for label, items in (("missing", missing), ("unexpected", unexpected),
                                         ("mis-shaped", misshaped)) if items]
        raise CheckpointError(f"{problem}: " + "; ".join(problems))


class Tensors(Mapping):
    """The tensors of a checkpoint by name, each read from its file only when asked for (a
    safetensors file is opened once and read tensor by tensor), with every shape known first:
    a model can be checked against a checkpoint, then built from it a layer at a time."""

    def __init__(self):
        self._where: dict[str, tuple[Path, object]] = {}  # name -> (file, open file or dict)
        self.shapes: dict[str, torch.Size] = {}

    def add(self, path: Path) -> None:
        """One weights file, or a one-line ``CheckpointError`` naming it: empty, truncated, not
        safetensors, or a pickle that is not a plain state dict. A ``.bin`` is read with
        ``weights_only=True`` only (memory-mapped where torch can): tensors and containers,
        never code to run."""
        if path.stat().st_size == 0:
            raise CheckpointError(f"{path} is empty; re-download or re-convert the checkpoint")
        if path.suffix == ".safetensors":
            from safetensors import safe_open  # heavy: only when a checkpoint is read

            try:
                f = safe_open(str(path), framework="pt")
                shapes = {k: torch.Size(f.get_slice(k).get_shape()) for k in f.keys()}
            except Exception as e:  # SafetensorError: truncated or not safetensors
                raise CheckpointError(f"{path} is not a valid safetensors file ({e}); it may be "
                                      "truncated: re-download or re-convert it") from None
        else:
            f = self._load_bin(path)
            shapes = {k: v.shape for k, v in f.items()}
        for name, shape in shapes.items():
            self._where[name] = (path, f)
            self.shapes[name] = shape

    @staticmethod
    def _load_bin(path: Path) -> dict[str, torch.Tensor]:
        state = None
        for mmap in (True, False):  # a legacy (non-zip) pickle cannot be memory-mapped
            try:
                with warnings.catch_warnings():  # torch warns about legacy pickles on stderr
                    warnings.simplefilter("ignore")
                    state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
                break
            except Exception:  # UnpicklingError, struct.error, IndexError...: whatever the bytes make torch say
                continue
        else:
            raise CheckpointError(f"{path} is not a plain state dict of tensors (it is truncated, or "
                                  "its pickle holds other objects); it is read with weights_only=True "
                                  "and never executed: convert it to safetensors with the tools that "
                                  "made it")
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                  for k, v in state.items()):
            raise CheckpointError(f"{path} does not hold a state dict (names -> tensors) but a "
                                  f"{type(state).__name__}; save model.state_dict(), not the model")
        return state

    def __getitem__(self, name: str) -> torch.Tensor:
        path, f = self._where[name]
        if isinstance(f, dict):
            return f[name]
        try:
            return f.get_tensor(name)
        except Exception as e:  # the data of a cut file
            raise CheckpointError(f"{path}: the tensor {name} cannot be read ({e}); the file may be "
                                  "truncated: re-download or re-convert it") from None

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of a tensor, read alone where the file allows (safetensors)."""
        path, f = self._where[name]
        if isinstance(f, dict):
            return f[name][start:stop]
        try:
            return f.get_slice(name)[start:stop]
        except Exception as e:
            raise CheckpointError(f"{path}: rows {start}:{stop} of {name} cannot be read ({e}); the file "
                                  "may be truncated: re-download or re-convert it") from None

    def __iter__(self):
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def open_tensors(directory: Path) -> Tensors:
    """The tensors of a checkpoint directory, not read yet: ``model.safetensors`` or
    ``pytorch_model.bin``, or the shards an index lists (files of the directory only)."""
    tensors = Tensors()
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = directory / index_name
        if index.exists():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
                raise CheckpointError(f"{index} is not a valid index (a JSON object with a "
                                      f"weight_map): {e}") from None
            if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
                raise CheckpointError(f"{index} is not a valid index: its weight_map must map tensor "
                                      "names to shard file names")
            root = directory.resolve()
            for shard in sorted(set(weight_map.values())):
                path = (directory / shard).resolve()
                # A shard is a file of this checkpoint: never "../elsewhere" or "/etc/passwd".
                if path.parent != root:
                    raise CheckpointError(f"{index_name} names the shard {shard!r}, which is not a file "
                                          f"in {directory}; an index lists files beside it")
                if not path.is_file():
                    raise CheckpointError(f"{index_name} names the shard {shard}, which is missing")
                tensors.add(path)
            return tensors
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (directory / single).exists():
            tensors.add(directory / single)
            return tensors
    raise CheckpointError(f"{directory} has no model.safetensors, pytorch_model.bin or index json")


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint directory, read (see ``open_tensors``)."""
    tensors = open_tensors(directory)
    return {name: tensors[name] for name in tensors}


def load_checkpoint(directory: str | Path, dtype: torch.dtype | None = None,
                    device: str | torch.device = "cpu", quantize: str | None = None) -> Qwen:
    """A ``Qwen`` with the weights of a checkpoint directory (config from its config.json),
    weight-only quantized while it is read with ``quantize`` (``int8`` or ``int4``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"weights directory {str(directory)!r} does not exist")
    config_path = directory / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{directory} has no config.json")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{config_path} is not valid JSON: {e}") from None
    config, kind = config_of(raw, config_path)
    tensors = open_tensors(directory)
    if kind == "qwen":
        shapes = {n: tensors.shapes[n] for n in tensors if not n.endswith(IGNORED_SUFFIXES)}
    else:
        tensors = HFView(tensors, config)
        shapes = dict(tensors.shapes, **{n: tensors.tensors.shapes[n] for n in tensors.unused()})
    with torch.device("meta"):
        expected = Qwen(config).state_dict()
        shapes = {n: torch.empty(shape) for n, shape in shapes.items()}
    check_state(shapes, expected, f"checkpoint {directory} ({kind} layout) does not fit the model")
    if dtype is None:
        dtype = tensors["transformer.ln_f.weight"].dtype
    # One module at a time: its tensors read, converted, and (with quantize) quantized before the
    # next is read, so the weights are never held twice.
    return build(config, from_tensors(tensors), dtype=dtype, device=device, quantize=quantize)


def config_of(raw, config_path: Path) -> tuple[QwenConfig, str]:
    """The model's configuration and its layout (``qwen``, ``qwen2`` or ``qwen3``) from the
    contents of ``config.json``, or one line saying why it cannot run here."""
    kind = raw.get("model_type", "qwen") if isinstance(raw, dict) else None
    dense = ", ".join(DENSE_TYPES)
    if kind in REFUSED_TYPES:
        raise CheckpointError(f"{config_path}: model_type {kind!r} is {REFUSED_TYPES[kind]}; only the "
                              f"dense layouts run here ({dense})")
    if isinstance(raw, dict) and kind not in DENSE_TYPES:
        raise CheckpointError(f"{config_path}: model_type {kind!r} is not a Qwen layout ({dense})")
    if kind == "qwen" or kind is None:  # Qwen-1's own (from_qwen_config says what a non-dict lacks)
        return QwenConfig.from_qwen_config(raw), "qwen"
    try:
        return QwenConfig.from_hf_config(raw), kind
    except ValueError as e:
        raise CheckpointError(f"{config_path}: {e}") from None


def save_checkpoint(model: Qwen, directory: str | Path, fmt: str = "safetensors", shards: int = 1,
                    layout: str = "qwen") -> None:
    """Write ``model`` as a checkpoint directory (``fmt`` safetensors or bin, optionally
    sharded) in Qwen-1's layout or, ``layout="hf"``, transformers' Qwen2/Qwen3 layout (the only
    one for grouped-query attention, q/k norms or tied embeddings). Every file is written
    atomically, config.json last."""

    if fmt not in ("safetensors", "bin"):
        raise ValueError(f"fmt must be 'safetensors' or 'bin', not {fmt!r}")
    if layout not in ("qwen", "hf"):
        raise ValueError(f"layout must be 'qwen' or 'hf', not {layout!r}")
    config = model.config.to_qwen_config() if layout == "qwen" else model.config.to_hf_config(
        str(model.transformer.ln_f.weight.dtype).removeprefix("torch."))
    directory = make_dir(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if layout == "hf":
        state = to_hf(state, model.config)
    names = list(state)
    stem, ext = ("model", "safetensors") if fmt == "safetensors" else ("pytorch_model", "bin")
    groups = [names[i::shards] for i in range(shards)]
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"{stem}.{ext}" if shards == 1 else f"{stem}-{i + 1:05d}-of-{shards:05d}.{ext}"
        part = {n: state[n] for n in group}
        if fmt == "safetensors":
            from safetensors.torch import save

            data = save(part, metadata={"format": "pt"})
        else:
            buf = io.BytesIO()
            torch.save(part, buf)
            data = buf.getvalue()
        atomic_write(directory / fname, data)
        weight_map.update(dict.fromkeys(group, fname))
    if shards > 1:
        atomic_write(directory / f"{stem}.{ext}.index.json",
                     json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))
    atomic_write(directory / "config.json", json.dumps(config, indent=2))
