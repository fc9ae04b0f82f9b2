"""Chat templates rendered as ``transformers`` renders them, so the ids match
``apply_chat_template``.

Each Qwen family member's official template (the Jinja text of its ``tokenizer_config.json``,
vendored in ``qtok/data``) is rendered by ``jinja2``, the engine ``transformers`` uses, with the
same environment: a sandbox, ``trim_blocks`` and ``lstrip_blocks``, the ``loopcontrols``
extension, a ``tojson`` filter that is ``json.dumps`` (no HTML escaping, non-ASCII kept), and the
globals ``raise_exception`` and ``strftime_now``. Messages are prepared as ``transformers`` does:
keys whose value is None are dropped, and a message's reasoning given as ``thinking`` or
``reasoning`` is also passed as ``reasoning_content``, the name the Qwen3 templates read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from .load import read_data_file

_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


class ChatTemplateError(ValueError):
    """The chat template refused the conversation (its own ``raise_exception``)."""


@functools.lru_cache(maxsize=None)
def _compiled(data_file: str):
    # jinja2 is imported here: ~25 ms that only chat templates need, not ``import qtok``.
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise ChatTemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template_text(data_file))


def template_text(data_file: str) -> str:
    """The Jinja text of a vendored chat template."""
    return read_data_file(data_file).decode("utf-8")


def _messages(messages) -> list[dict]:
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts, got "
                        f"{type(messages).__name__}")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise ValueError(f"message {i} must be a dict with a 'role', got {message!r}")
        message = {k: v for k, v in message.items() if v is not None}
        reasoning = next((message[k] for k in _REASONING_FIELDS if k in message), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def render(data_file: str, messages, *, tools=None, documents=None,
           add_generation_prompt: bool = False, **kwargs) -> str:
    """The text ``apply_chat_template(messages, tokenize=False, ...)`` renders with the template
    in ``data_file``. ``tools`` is a list of JSON-schema dicts; extra keyword arguments reach the
    template (Qwen3's ``enable_thinking``)."""
    if tools is not None:
        if isinstance(tools, (str, Mapping)) or not isinstance(tools, Sequence):
            raise TypeError(f"tools must be a list of JSON-schema dicts, got {type(tools).__name__}")
        for tool in tools:
            if not isinstance(tool, Mapping):
                raise TypeError(f"each tool must be a JSON-schema dict, got {type(tool).__name__}; "
                                "describe a Python function as {'type': 'function', 'function': "
                                "{'name': ..., 'description': ..., 'parameters': {...}}}")
        tools = [dict(t) for t in tools]
    template = _compiled(data_file)
    try:
        return template.render(messages=_messages(messages), tools=tools, documents=documents,
                               add_generation_prompt=add_generation_prompt, **kwargs)
    except ChatTemplateError:
        raise
    except Exception as e:  # jinja2's errors name template internals; say which input it was
        raise ChatTemplateError(f"the chat template ({data_file}) could not render these messages: "
                                f"{type(e).__name__}: {e}") from e
