"""qtok: Qwen's exact tokenizer, standalone. See README.md.

>>> import qtok
>>> qtok.encode("你好，世界")
[108386, 3837, 99489]
"""

from .chat import encode_chat
from .core import Piece, Tokenizer, get_tokenizer
from .encodings import ENCODINGS, EncodingSpec
from .engine import Engine, engines

__all__ = [
    "encode", "decode", "count", "encode_chat", "get_tokenizer", "list_encodings",
    "engines", "Tokenizer", "EncodingSpec", "Engine", "Piece",
]
__version__ = "0.1.0"


def encode(text: str, **kwargs) -> list[int]:
    """Qwen's ids for ``text`` (safe default: special-token text is plain text)."""
    return get_tokenizer().encode(text, **kwargs)


def decode(ids, errors: str = "replace") -> str:
    """The text of Qwen ids."""
    return get_tokenizer().decode(ids, errors=errors)


def count(text: str, **kwargs) -> int:
    """The number of Qwen tokens in ``text``."""
    return get_tokenizer().count(text, **kwargs)


def list_encodings() -> list[str]:
    return sorted(ENCODINGS)
