"""playground.server, without a browser: the API's answers and the start-up refusals."""

import pytest

from playground.server import ServeError, encode_request, load_viewers


@pytest.fixture(scope="module")
def viewers():
    return load_viewers("qwen,cl100k_base")


def test_answers_count_like_the_tokenizers(viewers):
    import qtok

    out = encode_request(viewers, {"text": "价格 42 元"})
    by_name = {r["name"]: r for r in out["results"]}
    assert by_name["qwen"]["count"] == qtok.count("价格 42 元")
    assert "".join(t["text"] for t in by_name["qwen"]["tokens"]) == "价格 42 元"  # shares tile the text
    assert by_name["cl100k_base"]["count"] == qtok.get_tokenizer("cl100k_base").count("价格 42 元")


def test_bad_requests_and_bad_tokenizers_are_one_line(viewers, tmp_path):
    with pytest.raises(ValueError, match="must be a string"):
        encode_request(viewers, {"text": 5})
    with pytest.raises(ValueError, match='compat must be "safe" or "hf"'):
        encode_request(viewers, {"text": "x", "compat": "nope"})
    with pytest.raises(ServeError, match="is neither qwen"):
        load_viewers(f"mine={tmp_path / 'missing.tiktoken'}")
    with pytest.raises(ServeError, match="given twice"):
        load_viewers("qwen,qwen")
