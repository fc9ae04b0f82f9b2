"""The parity objective (qtok/parity.py) on a corpus small enough to check by hand.

Three languages on a base of single bytes. Training text: x has " ab" 30 times, y " cd" 20
times, z " ef" 5 times. The parallel development set says one word in x and y and three in z,
so z is the language worst served (9 tokens against 3).
- frequency: (" ", "a") 30 -> " a", then (" a", "b") 30 -> " ab", then (" ", "c") 20 -> " c";
  z is starved.
- parity: z is worst; its pairs (" ", "e") and ("e", "f") both occur 5 times, the smaller pair
  wins: " e"; z still costs 6 tokens, the most: " ef"; now every language costs 3, and the
  first of them (x) gets " a".
- hybrid:M: the first M merges are frequency's, then parity's.
"""

import json

import pytest
from helpers import run_main

from qtok.load import dump_ranks, load_ranks_file
from qtok.parity import extend_parity, parse_objective
from qtok.train import extend

BYTES = {bytes([i]): i for i in range(256)}
TRAIN = {"x": [" ab" * 30], "y": [" cd" * 20], "z": [" ef" * 5]}
DEV = {"x": [" ab"], "y": [" cd"], "z": [" ef ef ef"]}


def learned(ranks):
    return [t.decode() for t, _ in sorted(ranks.items(), key=lambda kv: kv[1])[256:]]


def test_frequency_starves_z_and_parity_lifts_it():
    frequency = extend(BYTES, [t for texts in TRAIN.values() for t in texts], 3)
    assert learned(frequency) == [" a", " ab", " c"]
    assert learned(extend_parity(BYTES, TRAIN, DEV, 3)) == [" e", " ef", " a"]


@pytest.mark.parametrize("m,want", [(1, [" a", " e", " ef"]), (2, [" a", " ab", " e"]),
                                    (3, [" a", " ab", " c"])])
def test_hybrid_switches_after_exactly_m_merges(m, want):
    assert learned(extend_parity(BYTES, TRAIN, DEV, 3, global_merges=m)) == want


def test_parity_is_deterministic_and_checks_its_input():
    reordered = {lang: TRAIN[lang] for lang in ("z", "x", "y")}
    assert extend_parity(BYTES, reordered, DEV, 3) == extend_parity(BYTES, TRAIN, DEV, 3)
    with pytest.raises(ValueError, match="no development text for z"):
        extend_parity(BYTES, TRAIN, {"x": [" ab"], "y": [" cd"]}, 3)
    with pytest.raises(ValueError, match="hybrid:M"):
        parse_objective("hybrid")
    # When no pair occurs twice any more, learning stops early rather than inventing tokens.
    assert len(learned(extend_parity(BYTES, TRAIN, DEV, 50))) < 50


def test_the_command_line(tmp_path):
    from qtok.cli import main

    for kind, texts in (("train", TRAIN), ("dev", DEV)):
        (tmp_path / kind).mkdir()
        for lang, lines in texts.items():
            (tmp_path / kind / f"{lang}.txt").write_text("\n".join(lines) + "\n")
    base = tmp_path / "bytes.tiktoken"
    base.write_bytes(dump_ranks(BYTES))
    out = tmp_path / "p.tiktoken"
    r = run_main(main, "train", "--base", base, "--corpus", tmp_path / "train", "--dev-corpus",
                 tmp_path / "dev", "--objective", "hybrid:1", "--new-tokens", "3", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert learned(load_ranks_file(out)) == [" a", " e", " ef"]
    assert json.loads((tmp_path / "p.tiktoken.json").read_text())["counts"]["objective"] == "hybrid:1"
    r = run_main(main, "train", "--base", base, "--corpus", tmp_path / "train", "--objective", "parity",
                 "--new-tokens", "3", "--out", out, "--quiet")
    assert r.returncode == 2 and "needs --dev-corpus" in r.stderr and r.stderr.count("\n") == 1
