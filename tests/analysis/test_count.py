"""analysis.count: a sample or a cap travels with each block as the documents it selects."""

import numpy as np

from analysis.count import Selection, select_docs, selected
from qtok.blocks import docs_blocks, number


def test_first_documents_and_samples_select_the_same_documents_for_parallel_languages():
    blocks = number(b for lang in ("en", "de") for b in docs_blocks([f"{lang} {i}" for i in range(50)], lang, 100))
    sizes = {b.index: np.array([len(d) for d in b.docs]) for b in blocks}
    first = select_docs(blocks, sizes, sample=None, seed=0, max_docs=7, max_bytes=None)
    assert all(isinstance(b, Selection) for b in first)
    got = {lang: [d for b in first if b.group == lang for d in selected(b)] for lang in ("en", "de")}
    assert got["en"] == [f"en {i}" for i in range(7)] and len(got["de"]) == 7
    drawn = select_docs(blocks, sizes, sample=10, seed=3, max_docs=None, max_bytes=None)
    picked = {lang: [d.split()[1] for b in drawn if b.group == lang for d in selected(b)] for lang in ("en", "de")}
    assert len(picked["en"]) == 10 and picked["en"] == picked["de"]  # the same draw: still parallel
    assert list(selected(blocks[0])) == blocks[0].docs  # a plain block: all its documents
