"""qtok: Qwen's exact tokenizer, standalone. See README.md.

>>> import qtok
>>> qtok.encode("你好，世界")
[108386, 3837, 99489]
"""

from .core import Call as _Call
from .core import Piece, Tokenizer, get_tokenizer
from .encodings import DESCRIPTIONS, ENCODINGS, EncodingSpec
from .engine import Engine, engines
from .export import export_hf
from .stream import StreamDecoder

__all__ = [
    "encode", "decode", "count", "encode_chat", "get_tokenizer", "list_encodings",
    "engines", "export_hf", "Tokenizer", "EncodingSpec", "Engine", "Piece", "StreamDecoder",
]
__version__ = "0.1.0"


def _beside_a_checkout() -> None:
    """The study, the model and the playground are the folders analysis/, model/ and playground/
    beside qtok/ in the repository, installed as qtok.analysis, qtok.model, qtok.playground
    (package-dir in pyproject.toml). qtok imported from a checkout (a Python run in its root,
    whatever is installed) finds them there too: the checkout's root joins the package's path."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as f:
            ours = 'name = "qtok"' in f.read()
    except OSError:  # installed: site-packages holds no pyproject.toml
        return
    if ours:  # not someone else's project that happens to hold a copy of qtok/
        __path__.append(root)


_beside_a_checkout()


# The default tokenizer, held here once built: the module-level functions cost one global lookup
# more than a call on a tokenizer the user holds.
_default: Tokenizer | None = None


def _tokenizer() -> Tokenizer:
    global _default
    _default = get_tokenizer()
    if isinstance(encode, _Call):  # from now on encode(text) goes straight to its engine
        _default._follow(encode)
    return _default


def encode(text: str, **kwargs) -> list[int]:
    """Qwen's ids for ``text`` (safe default: special-token text is plain text)."""
    tok = _default or _tokenizer()
    return tok.encode(text, **kwargs) if kwargs else tok.encode(text)


if _Call is not None:  # one str: the default tokenizer's engine, called directly (core.Call)
    encode = _Call(encode)


def decode(ids, errors: str = "replace") -> str:
    """The text of Qwen ids."""
    return (_default or _tokenizer()).decode(ids, errors)


def count(text: str, **kwargs) -> int:
    """The number of Qwen tokens in ``text``."""
    tok = _default or _tokenizer()
    return len(tok.encode(text, **kwargs) if kwargs else tok.encode(text))


def encode_chat(messages, **kwargs) -> list[int]:
    """Qwen-Chat's ids for ``messages`` (a list of ``{"role", "content"}``); see
    ``Tokenizer.encode_chat``.

    >>> encode_chat([{"role": "user", "content": "hi"}])
    [151644, 872, 198, 6023, 151645, 198, 151644, 77091, 198]
    """
    return (_default or _tokenizer()).encode_chat(messages, **kwargs)


def list_encodings(describe: bool = False) -> list[str] | dict[str, str]:
    """The named encodings; with ``describe=True``, what each one is.

    >>> list_encodings()
    ['cl100k_base', 'qwen', 'qwen2', 'qwen2.5', 'qwen3', 'qwen3.5']
    """
    return dict(sorted(DESCRIPTIONS.items())) if describe else sorted(ENCODINGS)
