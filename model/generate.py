"""Generation with a KV cache: greedy, or sampling with temperature / top-k / top-p (seeded)."""

from __future__ import annotations

from collections.abc import Callable

import torch

import qtok
from qtok.encodings import ENDOFTEXT, IM_END

from .qwen import KVCache, Qwen



def qwen_stop_ids() -> tuple[int, ...]:
    """<|endoftext|> and <|im_end|>: where Qwen (base and chat) stops; ids from the encoding
    itself, looked up when generating (building the tokenizer is not an import's job)."""
    specials = qtok.get_tokenizer("qwen").special_tokens
    return tuple(specials[t] for t in (ENDOFTEXT, IM_END))


def sample_next(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Next ids (B,) from last-position logits (B, vocab). temperature 0 is greedy."""
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
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


@torch.inference_mode()
def generate(model: Qwen, ids: torch.Tensor, max_new_tokens: int = 32, *, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = 0,
             stop_ids: tuple[int, ...] | None = None,
             on_token: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """New ids (B, <= max_new_tokens) after ``ids`` (B, T); a row stops at a stop id (kept)
    and is padded with that id until every row has stopped or the budget is spent (``stop_ids``
    defaults to Qwen's <|endoftext|> and <|im_end|>).
    ``on_token(ids)`` is called with each step's ids (B,) as they are sampled (streaming)."""
    if ids.dim() == 1:
        ids = ids[None]
    B, T = ids.shape
    total = T + max_new_tokens
    if total > model.config.max_positions:
        raise ValueError(f"prompt ({T}) + max_new_tokens ({max_new_tokens}) exceeds max_positions "
                         f"{model.config.max_positions}")
    dtype = next(model.parameters()).dtype
    cache = KVCache(model.config, B, total, dtype, ids.device)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    logits = model(ids, cache=cache, start=0, last_only=True)[:, -1]  # (B, vocab)
    out = []
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    stops = torch.tensor(qwen_stop_ids() if stop_ids is None else stop_ids, device=ids.device)
    pos = T
    for _ in range(max_new_tokens):
        nxt = sample_next(logits, temperature, top_k, top_p, generator)  # (B,)
        nxt = torch.where(done, out[-1] if out else nxt, nxt)
        out.append(nxt)
        if on_token is not None:
            on_token(nxt)
        done |= torch.isin(nxt, stops)
        if bool(done.all()):
            break
        logits = model(nxt[:, None], cache=cache, start=pos)[:, -1]
        pos += 1
    return torch.stack(out, dim=1) if out else ids.new_zeros((B, 0))
