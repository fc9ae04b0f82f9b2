"""A minimal Qwen forward pass that consumes qtok ids. Requires torch (pip install 'qtok[model]')."""

__all__ = ["Qwen", "QwenConfig", "PRESETS", "n_params", "generate", "generate_stream", "sample_next",
           "load_checkpoint", "save_checkpoint", "CheckpointError"]

try:
    from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from .generate import generate, generate_stream, sample_next
    from .qwen import PRESETS, Qwen, QwenConfig, n_params
except ImportError as _missing:
    # Without torch the package still imports (so `python -m model` can say in one line what to
    # install); its names then raise that ImportError, with the extra to install.
    _why = f"{_missing.name or _missing} is not installed; the model needs pip install 'qtok[model]'"

    def __getattr__(name: str):
        if name in __all__:
            raise ImportError(_why)
        raise AttributeError(f"module 'model' has no attribute {name!r}")
