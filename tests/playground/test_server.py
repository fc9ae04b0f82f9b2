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


def test_the_hf_toggle_matches_special_tokens_as_transformers_does(viewers):
    import qtok

    out = encode_request(viewers, {"text": "<|endoftext|>", "compat": "hf"})
    qwen = next(r for r in out["results"] if r["name"] == "qwen")
    assert [t["id"] for t in qwen["tokens"]] == qtok.get_tokenizer("qwen", compat="hf").encode("<|endoftext|>") == [151643]
    safe = next(r for r in encode_request(viewers, {"text": "<|endoftext|>"})["results"] if r["name"] == "qwen")
    assert safe["count"] == 7  # safe: the text is text
