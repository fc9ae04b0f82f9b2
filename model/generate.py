"""Generation with the static KV cache: greedy, or sampling with temperature / top-k / top-p
(seeded), streamed step by step, optionally with a compiled decode step."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

import qtok
from qtok.encodings import ENDOFTEXT, IM_END

from .qwen import Qwen


def qwen_stop_ids() -> tuple[int, ...]:
    """<|endoftext|> and <|im_end|>: where Qwen (base and chat) stops; ids from the encoding
    itself, looked up when generating (building the tokenizer is not an import's job)."""
    specials = qtok.get_tokenizer("qwen").special_tokens
    return tuple(specials[t] for t in (ENDOFTEXT, IM_END))


def sample_next(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Next ids (B,) from last-position logits (B, vocab). temperature 0 is greedy. Sampling
    stays on the logits' device (no copy to the host): the index of the largest p / E, with E
    exponential noise, is a draw from p (the exponential race)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the ones before it already reach top_p (the first always stays).
        drop = cumulative - sorted_logits.softmax(-1) >= top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = logits.softmax(-1)
    noise = torch.empty_like(probs).exponential_(1, generator=generator)
    return (probs / noise).argmax(dim=-1)


def _decode_step(model: Qwen, ids: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
    return model(ids, input_pos)[:, -1]


def decode_step(model: Qwen, compile: bool = False):
    """One decode step, ``(ids (B, 1), input_pos (1,)) -> logits (B, vocab)``; with ``compile``,
    compiled once per model (CUDA graphs on a GPU: ``mode="reduce-overhead"``)."""
    if not compile:
        return lambda ids, pos: _decode_step(model, ids, pos)
    fn = getattr(model, "_compiled_decode", None)
    if fn is None:
        mode = "reduce-overhead" if model.transformer.ln_f.weight.is_cuda else None
        fn = torch.compile(_decode_step, mode=mode, fullgraph=True, dynamic=False)
        model._compiled_decode = fn
    return lambda ids, pos: fn(model, ids, pos)


def cache_length(total: int, max_positions: int, compile: bool) -> int:
    """The KV cache's length: exactly what is needed, or, compiled, rounded up to a multiple of
    256 so that prompts of similar length reuse one compiled graph."""
    return min(max_positions, -(-total // 256) * 256) if compile else total


@torch.inference_mode()
def generate_stream(model: Qwen, ids: torch.Tensor, max_new_tokens: int = 32, *,
                    temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
                    seed: int | None = 0, stop_ids: tuple[int, ...] | None = None,
                    compile: bool = False) -> Iterator[torch.Tensor]:
    """Yield each step's new ids (B,) as they are sampled; a row that reached a stop id keeps
    repeating it until every row has stopped or the budget is spent (``stop_ids`` defaults to
    Qwen's <|endoftext|> and <|im_end|>)."""
    if isinstance(ids, torch.Tensor) and ids.dim() == 1:
        ids = ids[None]
    model.check_ids(ids)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    B, T = ids.shape
    if T == 0:
        raise ValueError("the prompt is empty: give at least one id")
    total = T + max_new_tokens
    if total > model.config.max_positions:
        raise ValueError(f"prompt ({T}) + max_new_tokens ({max_new_tokens}) exceeds max_positions "
                         f"{model.config.max_positions}")
    if max_new_tokens == 0:
        return
    device = ids.device
    model.setup_cache(B, cache_length(total, model.config.max_positions, compile))
    try:
        generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
        step = decode_step(model, compile)
        logits = model(ids, torch.arange(T, device=device), last_only=True)[:, -1]  # (B, vocab)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        stops = torch.tensor(qwen_stop_ids() if stop_ids is None else tuple(stop_ids), dtype=torch.long,
                             device=device)
        pos = torch.tensor([T], device=device)
        prev = None
        for i in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)  # (B,)
            if prev is not None:
                nxt = torch.where(done, prev, nxt)
            yield nxt
            done |= torch.isin(nxt, stops)
            # The one read back to the host per step, outside the model: has every row stopped?
            if i + 1 == max_new_tokens or bool(done.all()):
                break
            prev = nxt
            logits = step(nxt[:, None].clone(), pos)
            pos = pos + 1
    finally:
        if not compile:  # a compiled step keeps its buffers for the next call
            model.clear_cache()


def generate(model: Qwen, ids: torch.Tensor, max_new_tokens: int = 32, *, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = 0,
             stop_ids: tuple[int, ...] | None = None, compile: bool = False,
             on_token: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """New ids (B, <= max_new_tokens) after ``ids`` (B, T), as ``generate_stream`` yields them;
    ``on_token(ids)`` is called with each step's ids (B,) as they come (streaming)."""
    out = []
    for nxt in generate_stream(model, ids, max_new_tokens, temperature=temperature, top_k=top_k,
                               top_p=top_p, seed=seed, stop_ids=stop_ids, compile=compile):
        out.append(nxt)
        if on_token is not None:
            on_token(nxt)
    if not out:
        ids = ids if ids.dim() == 2 else ids[None]
        return ids.new_zeros((ids.shape[0], 0))
    return torch.stack(out, dim=1)
