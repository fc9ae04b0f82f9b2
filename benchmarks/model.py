"""Speed of the Qwen-1.8B-shaped forward pass (random weights).

    python benchmarks/model.py                 # CPU: forward tokens/s, float32 and bfloat16, T = 128
    python benchmarks/model.py --gpu           # CUDA: prefill tok/s + MFU at T = 2048, 8192 (bf16),
                                               # greedy decode tok/s at batch 1 and 32, peak memory
                                               # generating 2048 tokens

Peer figures (HF transformers' Qwen2 at the same shape, H200, bf16, SDPA) are in
benchmarks/README.md; compare only numbers from the same card.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

# This file is named model.py, like the package it measures: take its folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from model import Qwen, QwenConfig  # noqa: E402
from model.generate import generate  # noqa: E402
from model.qwen import flops_per_token  # noqa: E402


def random_model(dtype, device) -> Qwen:
    with torch.device("meta"):
        model = Qwen(QwenConfig.from_name("qwen-1.8b"))
    model = model.to_empty(device=device).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0, 0.02) if p.dim() > 1 else p.fill_(1.0 if "ln" in name else 0.0)
    return model.eval()


def timed(fn, sync, repeat=3) -> float:
    fn()  # warm-up
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


@torch.inference_mode()
def cpu(args) -> None:
    print(f"# CPU, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for dtype in (torch.float32, torch.bfloat16):
        model = random_model(dtype, "cpu")
        ids = torch.randint(0, 151851, (1, args.t))
        s = timed(lambda: model(ids), lambda: None, repeat=2)
        print(f"forward 1.8B {str(dtype):>15}  B=1 T={args.t}: {args.t / s:8.1f} tok/s ({s:.2f} s)")
        model = None  # free the weights before building the next dtype


@torch.inference_mode()
def gpu(args) -> None:
    dev = "cuda"
    sync = torch.cuda.synchronize
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    peak_flops = args.peak_tflops * 1e12
    model = random_model(torch.bfloat16, dev)
    c = model.config
    for T in (2048, 8192):
        ids = torch.randint(0, 151851, (1, T), device=dev)
        s = timed(lambda: model(ids, last_only=True), sync)
        tps = T / s
        print(f"prefill B=1 T={T}: {tps:,.0f} tok/s, MFU {tps * flops_per_token(c, T) / peak_flops:.2f}")
    for B in (1, 32):
        ids = torch.randint(0, 151851, (B, 128), device=dev)
        n = 128
        s = timed(lambda: generate(model, ids, n, stop_ids=()), sync, repeat=1)
        print(f"greedy decode B={B}: {B * n / s:,.0f} tok/s ({n / s:.0f} steps/s, incl. prefill of 128)")
    torch.cuda.reset_peak_memory_stats()
    generate(model, torch.randint(0, 151851, (1, 16), device=dev), 2048, stop_ids=())
    print(f"peak memory generating 2048 tokens: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--t", type=int, default=128)
    p.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak of the card (H100 SXM: 989)")
    args = p.parse_args()
    gpu(args) if args.gpu else cpu(args)


if __name__ == "__main__":
    main()
