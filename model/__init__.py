"""A minimal Qwen forward pass that consumes qtok ids. Requires torch (pip install 'qtok[model]')."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .generate import generate, generate_stream, sample_next
from .qwen import PRESETS, Qwen, QwenConfig, n_params

__all__ = ["Qwen", "QwenConfig", "PRESETS", "n_params", "generate", "generate_stream", "sample_next",
           "load_checkpoint", "save_checkpoint", "CheckpointError"]
