"""qtok.runner: every block's result comes back once, wherever it was counted."""

from collections import Counter

import pytest

from qtok.blocks import docs_blocks, number
from qtok.runner import run
from qtok.train import PieceCounter, count_pieces


@pytest.mark.parametrize("how", [{"jobs": 1}, {"jobs": 2, "threads": True}, {"jobs": 2}])
def test_each_block_once_with_its_index(how):
    docs = [f"doc {i} " * (i % 7 + 1) + "价格 42 ไทย" for i in range(400)]
    blocks = number(docs_blocks(docs, "x", block_bytes=300))
    results = dict(run(PieceCounter(), blocks, progress=False, **how))  # processes: spawn, pickled
    assert sorted(results) == [b.index for b in blocks] and len(blocks) > 5
    assert sum(results.values(), Counter()) == count_pieces(docs)


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(ValueError, match="unknown backend 'spark'"):
        list(run(PieceCounter(), [], backend="spark"))
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        list(run(PieceCounter(), [], jobs=0))
