"""Speed and memory of the model at a real shape (random weights), beside transformers' Qwen2 or
Qwen3 at the same shape and dtype, in one process.

    python benchmarks/model.py --preset qwen2.5-1.5b   # or qwen3-1.7b; default qwen-1.8b (the card's)

    python benchmarks/model.py                 # CPU: prefill and decode tok/s (ours eager and
                                               # static, transformers), bf16; memory and quality
                                               # of bf16 / int8 / int4 (each in a fresh process)
    python benchmarks/model.py --compile       # also our compiled decode step on the CPU
    python benchmarks/model.py --gpu           # CUDA, under 5 minutes: prefill B1/B8 x T2048,
                                               # decode B1/B32 (eager, compiled static, transformers),
                                               # peak memory generating 2,048 tokens, bf16/int8/int4

Both models get the same random weights (ours converted with model.convert.to_hf). "Generating
2,048 tokens" is measured as a prompt of 2,016 tokens plus 32 new ones: the KV cache is static, so
memory is the same at step 32 as at step 2,048 of a short prompt, and the long prefill is the
worst case. Random weights make the quantization quality figures a weak proxy: real checkpoints
have outlier channels that random ones lack.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

# This file is named model.py, like the package it measures: take its folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from qtok.model import Qwen, QwenConfig  # noqa: E402
from qtok.model.generate import generate  # noqa: E402

UDHR = Path(__file__).resolve().parent.parent / "analysis" / "data" / "udhr"


PRESET = "qwen-1.8b"  # set by --preset


def random_model(dtype, device, seed: int = 0) -> Qwen:
    from qtok.model.materialize import build, random_weights

    # Allocated in dtype a module at a time: no float32 copy on the way.
    return build(QwenConfig.from_name(PRESET), random_weights(seed), dtype=dtype, device=device)


def hf_twin(model: Qwen, dtype, device):
    """transformers' Qwen2ForCausalLM or Qwen3ForCausalLM with our weights (SDPA attention)."""
    import transformers

    from qtok.model.convert import qwen2_config, to_hf

    cfg = qwen2_config(model.config, dtype)
    kind = "Qwen3" if cfg.pop("model_type") == "qwen3" else "Qwen2"
    cfg.pop("architectures"), cfg.pop("torch_dtype")
    config = getattr(transformers, f"{kind}Config")(**cfg)
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        hf = getattr(transformers, f"{kind}ForCausalLM")(config)
    hf = hf.to_empty(device=device).to(dtype)
    hf.load_state_dict(to_hf(model.state_dict(), model.config), strict=False)
    if model.config.tie_embeddings:
        hf.lm_head.weight = hf.model.embed_tokens.weight
    return hf.eval()


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


def prompt_ids(n: int, batch: int = 1, device="cpu") -> torch.Tensor:
    """A fixed multilingual prompt (the UDHR in 18 languages, interleaved), n ids per row."""
    import qtok

    text = "\n".join(p.read_text(encoding="utf-8")[:3000] for p in sorted(UDHR.glob("*.txt")))
    ids = qtok.encode(text)
    while len(ids) < n:
        ids = ids + ids
    return torch.tensor([ids[:n]] * batch, device=device)


def decode_rate(model, ids, n, sync, compile=False) -> float:
    """New tokens per second of our generate (static path), prefill excluded."""
    generate(model, ids, 4, stop_ids=(), compile=compile)  # warm-up (and compile)
    sync()
    t0 = time.perf_counter()
    generate(model, ids, 1, stop_ids=())
    sync()
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    generate(model, ids, n + 1, stop_ids=(), compile=compile)
    sync()
    return ids.shape[0] * n / max(1e-9, time.perf_counter() - t0 - prefill)


def hf_decode_rate(hf, ids, n, sync) -> float:
    kw = dict(do_sample=False, eos_token_id=None, pad_token_id=0, attention_mask=torch.ones_like(ids))
    hf.generate(ids, max_new_tokens=4, **kw)
    sync()
    t0 = time.perf_counter()
    hf.generate(ids, max_new_tokens=1, **kw)
    sync()
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    hf.generate(ids, max_new_tokens=n + 1, min_new_tokens=n + 1, **kw)
    sync()
    return ids.shape[0] * n / max(1e-9, time.perf_counter() - t0 - prefill)


def speed(args, device: str) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    # Built outside inference mode: weights made inside it ran 7x slower on this CPU, ours and
    # transformers' alike (bf16 matmuls took another path); before 2026-12-06 this function was
    # decorated with inference_mode and every CPU speed here was measured that way.
    model = random_model(torch.bfloat16, device)
    hf = hf_twin(model, torch.bfloat16, device)
    with torch.inference_mode():
        _timings(args, device, model, hf, sync)


def _timings(args, device, model, hf, sync) -> None:
    T = args.t
    shapes = [(1, T)] if device == "cpu" else [(1, 2048), (8, 2048)]
    for B, t in shapes:
        ids = prompt_ids(t, B, device)
        ours = timed(lambda: model(ids, last_only=True), sync, repeat=2)
        theirs = timed(lambda: hf(ids, logits_to_keep=1), sync, repeat=2)
        print(f"prefill B={B} T={t}: ours {B * t / ours:,.0f} tok/s, transformers {B * t / theirs:,.0f} tok/s "
              f"({theirs / ours:.2f}x)", flush=True)
    batches = [1] if device == "cpu" else [1, 32]
    n = args.new_tokens
    for B in batches:
        ids = prompt_ids(64, B, device)
        eager = decode_rate(model, ids, n, sync)
        line = f"decode B={B} ({n} tokens after 64): ours static {eager:,.1f} tok/s"
        if args.compile or device == "cuda":
            compiled = decode_rate(model, ids, n, sync, compile=True)
            line += f", ours compiled {compiled:,.1f} tok/s"
        hf_rate = hf_decode_rate(hf, ids, n, sync)
        line += f", transformers {hf_rate:,.1f} tok/s"
        best = max(eager, compiled) if (args.compile or device == "cuda") else eager
        print(line + f" (best/transformers {best / hf_rate:.2f}x)", flush=True)


def memory_one(mode: str, device: str) -> dict:
    """In a fresh process: memory after load (and quantization), the peak while loading, and the
    peak while generating 2,048 tokens (on the CPU the kernel's high-water mark is reset between
    the two through /proc/self/clear_refs)."""
    from qtok.model.materialize import build, random_weights
    from qtok.model.quantize import weight_bytes

    def status(field: str) -> float:
        with open("/proc/self/status") as f:
            line = next(ln for ln in f if ln.startswith(field + ":"))
        return int(line.split()[1]) / 2**20  # kB -> GiB

    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # Built a module at a time and quantized as each arrives (model/materialize.py), as
    # `python -m qtok.model --quantize` and load_checkpoint(..., quantize=) do.
    model = build(QwenConfig.from_name(PRESET), random_weights(0), dtype=torch.bfloat16,
                  device=device, quantize=None if mode == "bf16" else mode)
    import gc

    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        loaded, load_peak = torch.cuda.memory_allocated() / 2**30, torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    else:
        loaded, load_peak = status("VmRSS"), status("VmHWM")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    with torch.inference_mode():
        generate(model, prompt_ids(2016, 1, device), 32, stop_ids=())
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else status("VmHWM")
    return {"mode": mode, "weights_gib": weight_bytes(model) / 2**30, "loaded_gib": loaded,
            "load_peak_gib": load_peak, "peak_gib": peak}


def quality(device: str) -> None:
    """Top-1 agreement and KL(bf16 || quantized) of the next-token distributions on 512 ids."""
    from qtok.model.quantize import quantize

    ids = prompt_ids(512, 1, device)
    reference = random_model(torch.bfloat16, device)  # built outside inference mode (see speed())
    with torch.inference_mode():
        ref = reference(ids)[0].float().log_softmax(-1)
    del reference
    for mode in ("int8", "int4"):
        model = quantize(random_model(torch.bfloat16, device), mode)
        with torch.inference_mode():
            out = model(ids)[0].float().log_softmax(-1)
        agree = (out.argmax(-1) == ref.argmax(-1)).float().mean().item()
        kl = (ref.exp() * (ref - out)).sum(-1).mean().item()
        print(f"quality {mode} vs bf16 (random weights: a weak proxy): top-1 agreement {agree:.3f}, "
              f"KL {kl:.4f} nats/token", flush=True)
        del model


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--compile", action="store_true", help="CPU: also the compiled decode step (slow to compile)")
    p.add_argument("--t", type=int, default=128, help="CPU prefill length")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--skip", default="", help="comma-separated: speed, memory, quality")
    p.add_argument("--preset", default="qwen-1.8b", choices=["qwen-1.8b", "qwen2.5-1.5b", "qwen3-1.7b"])
    p.add_argument("--memory-one", help=argparse.SUPPRESS)
    args = p.parse_args()
    global PRESET
    PRESET = args.preset
    device = "cuda" if args.gpu else "cpu"
    if args.memory_one:
        print(json.dumps(memory_one(args.memory_one, device)))
        return
    name = torch.cuda.get_device_name() if args.gpu else f"CPU, {torch.get_num_threads()} threads"
    from qtok.model import n_params

    with torch.device("meta"):
        size = n_params(Qwen(QwenConfig.from_name(PRESET)))
    print(f"# {PRESET} shape ({size / 1e9:.2f} B parameters), bf16, random weights; {name}; "
          f"torch {torch.__version__}", flush=True)
    skip = set(args.skip.split(","))
    if "speed" not in skip:
        speed(args, device)
    if "memory" not in skip:
        for mode in ("bf16", "int8", "int4"):
            cmd = [sys.executable, __file__, "--memory-one", mode, "--preset", PRESET] + (["--gpu"] if args.gpu else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                print(f"memory {mode}: failed: {r.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            m = json.loads(r.stdout.strip().splitlines()[-1])
            what = "allocated" if args.gpu else "resident (RSS)"
            print(f"memory {mode:>4}: weights {m['weights_gib']:.2f} GiB, {what} after load "
                  f"{m['loaded_gib']:.2f} GiB (peak while loading {m['load_peak_gib']:.2f}), peak "
                  f"generating 2,048 tokens {m['peak_gib']:.2f} GiB", flush=True)
    if "quality" not in skip:
        quality(device)


if __name__ == "__main__":
    main()
