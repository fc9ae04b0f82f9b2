"""qtok.encode -> Qwen forward -> generation -> qtok.decode, from the command line.

    python -m qtok.model $'蒙古国的首都是乌兰巴托（Ulaanbaatar）\\n冰岛的首都是雷克雅未克（Reykjavik）\\n埃塞俄比亚的首都是'
    (bash's $'...' makes \\n a newline; in "..." it would be a backslash and an n)
    python -m qtok.model "..." --weights /path/to/Qwen-1_8B --max-new-tokens 16
    python -m qtok.model "What is the capital of Iceland?" --chat --weights /path/to/Qwen-1_8B-Chat
    python -m qtok.model "..." --weights ... --dtype bfloat16 --quantize int8 --compile
    python -m qtok.model "Why is the sky blue?" --chat --weights /path/to/Qwen3-1.7B   # any dense member

The tokenizer is the checkpoint's family member (its tokenizer_config.json's added tokens, else
its model_type) unless --encoding names one; --chat renders that member's chat template
(Qwen-1: Qwen-Chat's make_context) and stops at its stop tokens.

Without --weights the model has seeded random weights (and says so): the continuation is noise,
but every step of the pipeline runs.
"""

from __future__ import annotations

import argparse
import math
import sys

import qtok
from qtok.chat import DEFAULT_SYSTEM
from qtok.progress import Status, import_for

# Before the modules that need it: run as a program without torch, one line says what to install.
torch = import_for("torch", "python -m qtok.model", "model", __name__ == "__main__")  # the [model] extra

from .checkpoint import CheckpointError, load_checkpoint
from .generate import generate_stream
from .materialize import build, random_weights
from .qwen import PRESETS, QwenConfig

EXAMPLE = "蒙古国的首都是乌兰巴托（Ulaanbaatar）\n冰岛的首都是雷克雅未克（Reykjavik）\n埃塞俄比亚的首都是"


def _check_args(args) -> str | None:
    """What is wrong with the command line, in one line (None when nothing is)."""
    if not args.text:
        return "the prompt is empty; give a text to continue"
    if args.max_new_tokens < 0:
        return f"--max-new-tokens must be >= 0, got {args.max_new_tokens}"
    if not math.isfinite(args.temperature) or args.temperature < 0:
        return f"--temperature must be a finite number >= 0 (0 = greedy), got {args.temperature}"
    if args.top_k is not None and args.top_k <= 0:
        return f"--top-k must be a positive int, got {args.top_k}"
    if args.top_p is not None and not 0 < args.top_p <= 1:
        return f"--top-p must be in (0, 1], got {args.top_p}"
    if args.quantize == "int4" and args.dtype != "bfloat16":
        return "--quantize int4 needs --dtype bfloat16 (the int4 kernels take bf16 activations)"
    return None


def checkpoint_encoding(directory: str) -> tuple[str, str]:
    """The family member whose tokenizer a checkpoint directory uses, and how that was decided:
    its ``tokenizer_config.json``'s added tokens (what tells Qwen2 from Qwen2.5 from Qwen3),
    else its ``config.json``'s model_type (qwen2: Qwen2.5's, whose ids for text and ChatML are
    those of Qwen1.5/2 too)."""
    import json
    from pathlib import Path

    from qtok.family import MEMBERS

    path = Path(directory) / "tokenizer_config.json"
    try:
        added = json.loads(path.read_text(encoding="utf-8")).get("added_tokens_decoder") or {}
        found = tuple(v["content"] for _, v in sorted(added.items(), key=lambda kv: int(kv[0])))
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        found = ()
    for name, member in MEMBERS.items():
        if found and found == member.added:
            return name, f"{path.name}'s added tokens"
    try:
        kind = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8")).get("model_type", "qwen")
    except (OSError, ValueError, AttributeError):
        kind = "qwen"
    member = {"qwen2": "qwen2.5", "qwen3": "qwen3"}.get(kind, "qwen")
    return member, f"config.json's model_type {kind!r} (--encoding to choose another)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qtok.model", description=__doc__.splitlines()[0])
    p.add_argument("text", nargs="?", default=EXAMPLE, help="the prompt (default: the capitals example)")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="shape without --weights")
    p.add_argument("--weights", help="a Qwen checkpoint directory (config.json + safetensors/bin)")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoding", help="the tokenizer (qwen, qwen2, qwen2.5, qwen3, or a model id such as "
                                      "Qwen/Qwen3-8B); default: the checkpoint's")
    p.add_argument("--chat", action="store_true",
                   help="treat the text as a user message in the member's chat template; stop at its stop tokens")
    p.add_argument("--system", help=f"with --chat: the system message (Qwen-1's default: {DEFAULT_SYSTEM!r}; "
                                    "the family's templates: their own)")
    p.add_argument("--compile", action="store_true",
                   help="compile the decode step (torch.compile; CUDA graphs on a GPU)")
    p.add_argument("--quantize", choices=["int8", "int4"], help="weight-only quantization (torchao)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    status = Status("model", quiet=args.quiet)
    if problem := _check_args(args):
        print(f"model: error: {problem}", file=sys.stderr)
        return 2
    dtype = getattr(torch, args.dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        # Built a module at a time and, with --quantize, quantized as each arrives: the bf16
        # model is never held whole (model/materialize.py).
        if args.weights:
            status(f"loading the weights of {args.weights} ({args.dtype}"
                   f"{', quantized to ' + args.quantize + ' layer by layer' if args.quantize else ''})")
            model = load_checkpoint(args.weights, dtype=dtype, device=device, quantize=args.quantize)
            print(f"weights: {args.weights}")
        else:
            status(f"making seeded random weights of the {args.preset} preset"
                   f"{', quantized to ' + args.quantize + ' layer by layer' if args.quantize else ''}")
            model = build(QwenConfig.from_name(args.preset), random_weights(args.seed), dtype=dtype,
                          device=device, quantize=args.quantize)
            print(f"weights: none given, seeded random weights (preset {args.preset}, seed {args.seed}): "
                  "the continuation is noise")
        if args.quantize:
            print(f"quantized: {args.quantize} weight-only")
        if args.encoding:
            encoding, why = args.encoding, "--encoding"
        elif args.weights:
            encoding, why = checkpoint_encoding(args.weights)
        else:
            encoding, why = "qwen", "the preset's"
        tok = qtok.get_tokenizer(encoding)
        print(f"tokenizer: {tok.name} ({why})")
        if tok.n_vocab > model.config.vocab_size:
            raise ValueError(f"the tokenizer {tok.name} has {tok.n_vocab:,} ids, more than the model's "
                             f"vocabulary of {model.config.vocab_size:,}: choose --encoding")
        if args.chat:
            system = args.system if args.system is not None else (None if tok.spec.family else DEFAULT_SYSTEM)
            messages = ([{"role": "system", "content": system}] if system is not None else []) + \
                [{"role": "user", "content": args.text}]
            ids = tok.encode_chat(messages)
            stop_ids = tok.stop_tokens
        else:
            ids = tok.encode(args.text)
            stop_ids = None
        print(f"ids ({len(ids)}): {ids}")
        x = torch.tensor([ids], device=device)
        model.check_ids(x)
        with torch.inference_mode():
            probs = model(x, last_only=True)[0, -1].float().softmax(-1)
        top = torch.topk(probs, 5)
        print("top-5 next tokens:")
        for prob, i in zip(top.values.tolist(), top.indices.tolist()):
            text = tok.decode([i]) if i < tok.n_vocab else "<pad>"
            print(f"  {i:>6}  {prob:.3g}  {text!r}")
        # Printed as it is generated, whole characters only: the stream decoder holds back the
        # bytes of a character split across tokens until the token that completes it.
        stream = tok.decode_stream()
        print("continuation: ", end="", flush=True)

        new = []
        for step in generate_stream(model, x, args.max_new_tokens, temperature=args.temperature,
                                    top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                                    stop_ids=stop_ids, compile=args.compile):
            i = int(step[0])
            new.append(i)
            if args.chat and i in stop_ids:
                break
            if i < tok.n_vocab:  # padded-vocabulary ids have no text
                print(stream.feed(i), end="", flush=True)
        print(stream.flush())
        print(f"continuation ids: {[i for i in new if i < tok.n_vocab]}")
    except (CheckpointError, ValueError, TypeError, ImportError) as e:
        print(f"model: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
