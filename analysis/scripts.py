"""The writing system of a text or a token, one rule for the whole study: each letter votes for
its script (from its Unicode name: ``CYRILLIC SMALL LETTER PE`` is Cyrillic, CJK ideographs are
Han, Hiragana and Katakana are Kana), and the most voted script wins."""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter

# First words of Unicode character names that are not the script's usual name.
_ALIASES = {"CJK": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana", "FULLWIDTH": "Latin"}


@functools.lru_cache(maxsize=1 << 16)
def char_script(c: str) -> str:
    """The script of one letter, ``"none"`` for anything that is not a letter.

    >>> char_script("ж"), char_script("字"), char_script("ア"), char_script("3")
    ('Cyrillic', 'Han', 'Kana', 'none')
    """
    if not c.isalpha():
        return "none"
    name = unicodedata.name(c, "")
    if not name:
        return "Other"
    word = name.split(" ")[0]
    if word == "HALFWIDTH":  # halfwidth forms are Katakana or Hangul
        word = name.split(" ")[1]
    return _ALIASES.get(word) or word.title()


# Scripts written without spaces between words: whitespace words are not words there.
NO_SPACE_SCRIPTS = frozenset({"Han", "Kana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan"})


def dominant_script(text: str) -> str:
    """The script most of a text's letters are written in (``"none"`` without letters).

    >>> dominant_script("Привет, мир"), dominant_script("你好，世界"), dominant_script("12 ...")
    ('Cyrillic', 'Han', 'none')
    """
    votes = Counter()
    # Each distinct character once, with its count: scripts still first seen in the text's order,
    # which breaks ties the same way.
    for c, k in Counter(text).items():
        if (s := char_script(c)) != "none":
            votes[s] += k
    return votes.most_common(1)[0][0] if votes else "none"
