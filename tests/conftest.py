import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis: no deadline (the first call of an engine builds caches), and the number of examples
# from the environment so CI or a curious user can turn the sweep up.
settings.register_profile(
    "qtok",
    deadline=None,
    max_examples=int(os.environ.get("QTOK_HYPOTHESIS_MAX_EXAMPLES", "200")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("qtok")

UDHR = Path(__file__).resolve().parents[1] / "analysis" / "data" / "udhr"


@pytest.fixture(scope="session")
def multilingual() -> dict[str, str]:
    """The embedded UDHR, one text per language (real parallel text in 18 scripts/languages)."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(UDHR.glob("*.txt"))}


@pytest.fixture(scope="session")
def qwen_fast():
    from qtok import get_tokenizer

    return get_tokenizer("qwen", engine="fast")


@pytest.fixture(scope="session")
def qwen_tiktoken():
    from qtok import get_tokenizer

    return get_tokenizer("qwen", engine="tiktoken")


@pytest.fixture(scope="session")
def qwen_ref():
    from qtok import get_tokenizer

    return get_tokenizer("qwen", engine="reference")
