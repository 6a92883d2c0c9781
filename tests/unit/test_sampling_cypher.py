"""The sampling queries agree with each other and with kgn_align.sampling.keys (no server)."""

from __future__ import annotations

import re

from kgn_align.cypher import load_text, placeholders
from kgn_align.sampling import keys as rk

DRAW_RE = re.compile(r"// draw:begin[^\n]*\n(.*?)// draw:end", re.S)


def draws(name: str) -> list[str]:
    return ["\n".join(line.strip() for line in block.splitlines()) for block in DRAW_RE.findall(load_text(name))]


def test_every_draw_is_the_same_text() -> None:
    lists, trees = draws("sampling_lists"), draws("sampling_trees")
    assert len(lists) == 1 and len(trees) == 2
    assert trees[0] == trees[1] == lists[0]


def test_constants_match_the_python_keys() -> None:
    text = load_text("sampling_lists") + load_text("sampling_trees")
    for constant in (rk.P, rk.M_NODE, rk.M1, rk.M2, rk.M3):
        assert str(constant) in text
    assert set(re.findall(r"\b\d{9,10}\b", text)) == {str(c) for c in (rk.P, rk.M_NODE, rk.M1, rk.M2, rk.M3)}


def test_slots_are_identifiers_only() -> None:
    for name in ("sampling_lists", "sampling_trees", "sampling_entities", "sampling_set_hash"):
        assert placeholders(load_text(name)) <= {"label", "key_property", "hash_property"}


CANDIDATES_RE = re.compile(r"// candidates:begin[^\n]*\n(.*?)// candidates:end", re.S)


def test_candidates_are_those_the_draw_starts_from() -> None:
    """sampling_candidates (no stored hash, the draw in Python) lists the candidates and
    group sizes that sampling_lists' draw starts from, line for line but the hash."""
    (block,) = CANDIDATES_RE.findall(load_text("sampling_candidates"))
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    draw = [line.replace("hx, ", "") for line in draws("sampling_lists")[0].splitlines()]
    assert draw[: len(lines)] == lines
    assert lines[-1] == "UNWIND grp AS m"
    for name in ("sampling_candidates", "sampling_seed_ids"):
        text = load_text(name)
        assert placeholders(text) == {"label", "key_property"}  # no hash read, none written
        assert "kgnHash" not in text and " SET " not in text
