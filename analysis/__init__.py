"""The compression study: how many tokens each tokenizer spends on each language.

>>> from qtok.analysis import load_corpus, get_adapter, run_study
>>> study = run_study(load_corpus(langs=["en", "zh"]), [get_adapter("qwen"), get_adapter("xlm-r")])
>>> [round(r["compression"], 2) for r in study.rows if r["tokenizer"] == "xlm-r"]
[1.0, 1.0]
"""

__all__ = ["Corpus", "CorpusError", "load_corpus", "add_metrics", "Study", "format_table",
           "read_results", "run_study", "verify_results", "write_results", "Adapter", "TokenizerError",
           "get_adapter"]

try:
    from .corpora import Corpus, CorpusError, load_corpus
    from .metrics import add_metrics
    from .results import format_table, read_results, verify_results, write_results
    from .study import Study, run_study
    from .tokenizers import Adapter, TokenizerError, get_adapter
except ImportError as _missing:  # numpy, matplotlib, tokenizers...: the [analysis] extra
    from qtok.progress import names_needing

    __getattr__ = names_needing(__name__, __all__, _missing, "the study", "analysis")
