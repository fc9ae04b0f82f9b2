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


def test_the_nfd_sample_and_the_split_rate_of_one_block():
    import unicodedata

    from analysis.count import NFD_SAMPLE_CHARS, count_block
    from analysis.tokenizers import get_adapter
    from qtok import get_tokenizer

    qwen = get_tokenizer("qwen")
    doc = "Việt Nam é ꙮ 𓀀 " * 20_000  # one document far past the sample's budget; ꙮ and 𓀀 split
    (block,) = docs_blocks([doc], "vi")
    part = count_block(block, [get_adapter("qwen")], "NFC")
    head = unicodedata.normalize("NFC", doc)[:NFD_SAMPLE_CHARS]  # cut there, not taken whole
    assert part["nfd"]["qwen"] == (qwen.count(unicodedata.normalize("NFD", head)), qwen.count(head))
    # Characters whose bytes two tokens share, counted from the tokens' byte lengths.
    text = unicodedata.normalize("NFC", doc)
    ends, pos = set(), 0
    for t in qwen.decode_tokens_bytes(qwen.encode(text)):
        pos += len(t)
        ends.add(pos)
    starts = np.cumsum([0] + [len(c.encode()) for c in text])
    split = sum(1 for a, b in zip(starts, starts[1:]) if any(e in ends for e in range(a + 1, b)))
    assert part["split"]["qwen"] == split == 40_000
