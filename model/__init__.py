"""A minimal Qwen forward pass that consumes qtok ids. Requires torch (pip install 'qtok[model]')."""

__all__ = ["Qwen", "QwenConfig", "PRESETS", "n_params", "generate", "generate_stream", "sample_next",
           "load_checkpoint", "save_checkpoint", "CheckpointError"]

try:
    from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from .generate import generate, generate_stream, sample_next
    from .qwen import PRESETS, Qwen, QwenConfig, n_params
except ImportError as _missing:  # torch, safetensors: the [model] extra
    from qtok.progress import names_needing

    __getattr__ = names_needing(__name__, __all__, _missing, "the model", "model")
