import pytest
import torch

from qtok.model import Qwen, QwenConfig


@pytest.fixture(scope="module")
def tiny():
    """The tiny preset with seeded random weights, in eval mode."""
    torch.manual_seed(0)
    return Qwen(QwenConfig.from_name("tiny")).init_weights(0).eval()
