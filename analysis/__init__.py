"""The compression study: how many tokens each tokenizer spends on each language.

>>> from analysis import load_corpus, get_adapter, run_study
>>> study = run_study(load_corpus(langs=["en", "zh"]), [get_adapter("qwen"), get_adapter("xlm-r")])
>>> [round(r["compression"], 2) for r in study.rows if r["tokenizer"] == "xlm-r"]
[1.0, 1.0]
"""

# The public names, imported on first use (PEP 562): importing the package costs nothing, so
# `python -m analysis` can say in one line which extra is missing instead of a traceback.
_HOMES = {"Corpus": "corpora", "CorpusError": "corpora", "load_corpus": "corpora", "add_metrics": "metrics",
          "format_table": "results", "read_results": "results", "verify_results": "results",
          "write_results": "results", "Study": "study", "run_study": "study", "Adapter": "tokenizers",
          "TokenizerError": "tokenizers", "get_adapter": "tokenizers"}

__all__ = ["Corpus", "CorpusError", "load_corpus", "add_metrics", "Study", "format_table",
           "read_results", "run_study", "verify_results", "write_results", "Adapter", "TokenizerError",
           "get_adapter"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
