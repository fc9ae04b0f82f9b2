"""The compression study: how many tokens each tokenizer spends on each language.

>>> from qtok.analysis import load_corpus, get_adapter, run_study
>>> study = run_study(load_corpus(langs=["en", "zh"]), [get_adapter("qwen"), get_adapter("xlm-r")])
>>> [round(r["compression"], 2) for r in study.rows if r["tokenizer"] == "xlm-r"]
[1.0, 1.0]
"""

__all__ = ["Corpus", "CorpusError", "load_corpus", "add_metrics", "Study", "format_table",
           "read_results", "run_study", "verify_results", "write_results", "Adapter", "TokenizerError",
           "get_adapter"]

# Where each public name lives: imported on first use (PEP 562), so that ``python -m
# qtok.analysis`` configures numpy (__main__.py) before anything imports it.
_WHERE = {"Corpus": "corpora", "CorpusError": "corpora", "load_corpus": "corpora", "add_metrics": "metrics",
          "format_table": "results", "read_results": "results", "verify_results": "results",
          "write_results": "results", "Study": "study", "run_study": "study", "Adapter": "tokenizers",
          "TokenizerError": "tokenizers", "get_adapter": "tokenizers"}


def __getattr__(name: str):
    import importlib

    if name not in _WHERE:  # a module of the package (qtok.analysis.count), as when all were imported here
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    try:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
    except ImportError as missing:  # numpy, matplotlib, tokenizers...: the [analysis] extra
        from qtok.progress import names_needing

        return names_needing(__name__, __all__, missing, "the study", "analysis")(name)  # raises what to install
    value = globals()[name] = getattr(module, name)
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
