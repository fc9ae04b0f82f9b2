"""What a language costs under each tokenizer: money per 1,000 words at the user's price per
million tokens, the whole corpus's price, and how many words fit in a context of N tokens.

A "word" is a whitespace word; for scripts written without spaces (Chinese, Japanese, Thai...) the
unit is the character instead, and the ``unit`` column says which. Each per-unit figure is a
ratio over a language's documents (tokens / units), so it gets the same 95% paired bootstrap
interval as NSL, through the same draws (``uncertainty.Resampler``). Prices are the user's: no
default pretends to be a current price list.

>>> parse_prices("0.30", ["qwen", "xlm-r"])
{'qwen': 0.3, 'xlm-r': 0.3}
>>> parse_prices("qwen=0.30,o200k_base=2.50", ["qwen", "o200k_base", "xlm-r"])
{'qwen': 0.3, 'o200k_base': 2.5}
"""

from __future__ import annotations

import math

from .metrics import without_spaces
from .uncertainty import Resampler

COST_COLUMNS = ["unit", "cost_per_1k", "cost_per_1k_lo", "cost_per_1k_hi", "corpus_cost",
                "context_fit", "context_fit_lo", "context_fit_hi"]
NAN = math.nan


def parse_prices(spec: str | None, tokenizers: list[str]) -> dict[str, float]:
    """``--price``: one price per million tokens for every tokenizer, or ``NAME=PRICE,...``
    (tokenizers left out get no cost). A name that is not among the tokenizers, or a price that
    is not a non-negative number, is refused in one line."""
    if spec is None:
        return {}
    spec = spec.strip()

    def number(text: str, name: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = NAN
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"--price {name}: {text!r} is not a price (a number >= 0, per million "
                             "tokens, in the currency you choose)")
        return value

    if "=" not in spec:
        price = number(spec, "for every tokenizer")
        return dict.fromkeys(tokenizers, price)
    prices = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in tokenizers:
            raise ValueError(f"--price names {name!r}, which is not among the tokenizers "
                             f"{', '.join(tokenizers)}; write NAME=PRICE,... or one price for all")
        prices[name] = number(value.strip(), name)
    return prices


def check_context(context: int | None) -> None:
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise ValueError(f"--context must be a positive number of tokens, got {context!r}")


def unit_of(row: dict) -> str:
    """``word``, or ``character`` for a script written without spaces."""
    return "character" if without_spaces(row["lang"], row.get("script")) else "word"


def add_costs(rows: list[dict], doc_tokens: dict, doc_units: dict, prices: dict[str, float],
              context: int | None, resampler: Resampler, min_docs: int) -> None:
    """The cost columns (``COST_COLUMNS``), in place: NaN where no price or no context was given,
    or where a language has too few documents for an interval (its ``reason`` says so already)."""
    for r in rows:
        t, lang = r["tokenizer"], r["lang"]
        unit = unit_of(r)
        key = "chars" if unit == "character" else "words"
        units = doc_units.get((key, lang), [])
        r.update(unit=unit, **{c: NAN for c in COST_COLUMNS[1:]})
        n_units = sum(units)
        if not n_units:
            continue
        per_unit = r["n_tokens"] / n_units  # tokens per word (or character)
        # Keyed apart from the tokenizers' (name, lang): the draws are shared with NSL's.
        lo, hi = (resampler.interval((t, lang), doc_tokens[t, lang], (("units", key), lang), units)
                  if len(units) >= min_docs else (NAN, NAN))
        if t in prices:
            scale = prices[t] * 1000 / 1e6  # per 1,000 units, at a price per million tokens
            r["cost_per_1k"], r["cost_per_1k_lo"], r["cost_per_1k_hi"] = per_unit * scale, lo * scale, hi * scale
            r["corpus_cost"] = r["n_tokens"] * prices[t] / 1e6
        if context is not None:
            # More tokens per unit, fewer units in the window: the interval's ends swap.
            r["context_fit"] = context / per_unit
            r["context_fit_lo"], r["context_fit_hi"] = context / hi, context / lo
