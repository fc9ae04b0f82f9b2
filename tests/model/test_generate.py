"""Generation: the static KV cache equals the full forward, compiled or not; sampling; stopping."""

import pytest
import torch

import qtok
from qtok.model import Qwen, generate, generate_stream
from qtok.model.generate import sample_next


def ids_of(text):
    return torch.tensor([qtok.encode(text)])



def test_static_cache_equals_full_forward_in_chunks(tiny):
    ids = ids_of("The quick brown fox jumps over the lazy dog. 你好世界")
    T = ids.shape[1]
    with torch.no_grad():
        full = tiny(ids)
        tiny.setup_cache(1, T + 7)  # a cache longer than needed: the mask hides the rest
        try:
            pieces = [tiny(ids[:, :5], torch.arange(5))]  # a prefix chunk,
            pieces.append(tiny(ids[:, 5:9], torch.arange(5, 9)))  # a middle chunk,
            for t in range(9, T):  # then one token at a time
                pieces.append(tiny(ids[:, t : t + 1], torch.tensor([t])))
        finally:
            tiny.clear_cache()
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("compile", [False, True])
def test_static_decode_equals_full_forward_batch_2(tiny, compile):
    """Prefill, then 20 decode steps through the (compiled) static path, for 2 sequences: every
    step's logits equal the full forward over the sequence so far. fullgraph=True compiles only
    if forward reads nothing back to the host."""
    from qtok.model.generate import decode_step

    torch._dynamo.reset()
    a, b = ids_of("first sequence here, in English"), ids_of("第二个序列，中文的，长度一样吗")
    n = min(a.shape[1], b.shape[1])
    ids = torch.cat([a[:, :n], b[:, :n]])
    step = decode_step(tiny, compile=compile)
    with torch.inference_mode():
        tiny.setup_cache(2, n + 20)
        try:
            logits = tiny(ids, torch.arange(n), last_only=True)[:, -1]
            seq = ids
            for t in range(20):
                torch.testing.assert_close(logits, tiny(seq)[:, -1], atol=1e-5, rtol=1e-5)
                nxt = logits.argmax(-1)[:, None]
                seq = torch.cat([seq, nxt], dim=1)
                logits = step(nxt.clone(), torch.tensor([n + t]))
        finally:
            tiny.clear_cache()
    gen = generate(tiny, ids, 20, compile=compile)
    assert torch.equal(gen, seq[:, n:]) or torch.isin(gen, torch.tensor([151643, 151645])).any()


def test_generate_streams_the_ids_generate_returns(tiny):
    ids = ids_of("stream me")
    steps = list(generate_stream(tiny, ids, 6, temperature=0.8, seed=1))
    assert all(s.shape == (1,) for s in steps)
    assert torch.equal(torch.stack(steps, 1), generate(tiny, ids, 6, temperature=0.8, seed=1))


def test_exponential_race_samples_the_distribution():
    probs = torch.tensor([[0.5, 0.3, 0.2]])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_next(probs.log().expand(1000, 3), 1.0, generator=g) for _ in range(10)])
    freq = torch.bincount(draws.flatten(), minlength=3).float() / draws.numel()
    assert torch.allclose(freq, probs[0], atol=0.02), freq


def test_generation_greedy_and_sampled(tiny):
    ids = ids_of("埃塞俄比亚的首都是")
    greedy = generate(tiny, ids, 8)
    with torch.no_grad():
        assert greedy[0, 0] == tiny(ids)[0, -1].argmax()
    assert torch.equal(generate(tiny, ids, 8, temperature=1.0, top_k=50, seed=3),
                       generate(tiny, ids, 8, temperature=1.0, top_k=50, seed=3))
    assert greedy.shape == (1, 8)
    with pytest.raises(ValueError, match="exceeds max_positions 256"):
        generate(tiny, ids, 1000)


def test_sampling_filters():
    logits = torch.tensor([[5.0, 4.0, 1.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next(logits, 1.0, top_k=2, generator=g)) for _ in range(200)}
    assert draws == {0, 1}
    draws = {int(sample_next(logits, 1.0, top_p=0.5, generator=g)) for _ in range(100)}
    assert draws == {0}
    assert int(sample_next(logits)) == 0


def test_generation_stops_at_end_of_text(tiny):
    # Make <|endoftext|> the model's certain next token: generation stops right there.
    model = Qwen(tiny.config).eval()
    model.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.weight[151643] = 1.0
        model.transformer.ln_f.weight.fill_(1.0)
        model.transformer.h[-1].mlp.c_proj.weight.zero_()
        model.transformer.h[-1].attn.c_proj.weight.zero_()
        model.transformer.wte.weight.abs_()
    out = generate(model, ids_of("hi"), 10)
    assert out[0].tolist() == [151643]
