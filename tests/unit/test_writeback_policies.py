"""Matching policies: pure functions over scored pairs."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import ValidationError

from kgn_align.writeback import (
    Policy,
    ScoredPair,
    WriteReport,
    above_threshold,
    best_per_source,
    one_to_one_greedy,
    one_to_one_hungarian,
    report_from,
    select,
)


def P(s: str, t: str, score: float) -> ScoredPair:
    return ScoredPair(source=s, target=t, score=score)


PAIRS = [P("a", "x", 0.9), P("a", "y", 0.8), P("b", "x", 0.85), P("b", "z", 0.4),
         P("c", "y", 0.7), P("d", "w", 0.2)]


def keys(pairs: list[ScoredPair]) -> list[tuple[str, str]]:
    return [(p.source, p.target) for p in pairs]


def test_threshold_keeps_pairs_at_or_above_best_first() -> None:
    assert keys(above_threshold(PAIRS, 0.7)) == [("a", "x"), ("b", "x"), ("a", "y"), ("c", "y")]
    assert above_threshold(PAIRS, 0.95) == []


def test_duplicate_pair_keeps_its_best_score() -> None:
    got = above_threshold([P("a", "x", 0.6), P("a", "x", 0.9)], 0.5)
    assert [p.score for p in got] == [0.9]


def test_best_per_source() -> None:
    assert keys(best_per_source(PAIRS, 0.5)) == [("a", "x"), ("b", "x"), ("c", "y")]
    # a tie goes to the smallest target key, whatever the input order
    tie = [P("a", "y", 0.8), P("a", "x", 0.8)]
    assert keys(best_per_source(tie, 0.0)) == [("a", "x")]
    assert keys(best_per_source(list(reversed(tie)), 0.0)) == [("a", "x")]


def test_one_to_one_greedy() -> None:
    # a-x (0.9) first; b-x blocked, a-y blocked; c-y (0.7) taken; b-z below threshold
    assert keys(one_to_one_greedy(PAIRS, 0.5)) == [("a", "x"), ("c", "y")]
    assert keys(one_to_one_greedy(PAIRS, 0.3)) == [("a", "x"), ("c", "y"), ("b", "z")]


def test_hungarian_beats_greedy_where_greedy_is_suboptimal() -> None:
    pairs = [P("a", "x", 0.9), P("a", "y", 0.85), P("b", "x", 0.8)]
    assert keys(one_to_one_greedy(pairs, 0.0)) == [("a", "x")]  # total 0.9
    assert keys(one_to_one_hungarian(pairs, 0.0)) == [("a", "y"), ("b", "x")]  # total 1.65


def _brute_force_best_total(pairs: list[ScoredPair]) -> float:
    best = 0.0
    for r in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, r):
            if len({p.source for p in combo}) == r and len({p.target for p in combo}) == r:
                best = max(best, sum(p.score for p in combo))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_hungarian_is_optimal_and_one_to_one(seed: int) -> None:
    rng = random.Random(seed)
    pairs = [P(f"s{rng.randrange(4)}", f"t{rng.randrange(5)}", round(rng.random(), 3))
             for _ in range(9)]
    got = one_to_one_hungarian(pairs, 0.1)
    assert len({p.source for p in got}) == len(got) == len({p.target for p in got})
    kept = above_threshold(pairs, 0.1)
    assert sum(p.score for p in got) == pytest.approx(_brute_force_best_total(kept))
    greedy = one_to_one_greedy(pairs, 0.1)
    assert sum(p.score for p in got) >= sum(p.score for p in greedy) - 1e-9


def test_select_dispatches_and_validates() -> None:
    assert select(PAIRS, "all", 0.7) == above_threshold(PAIRS, 0.7)
    assert select(PAIRS, Policy.BEST, 0.5) == best_per_source(PAIRS, 0.5)
    assert select(PAIRS, "one-to-one", 0.5) == one_to_one_greedy(PAIRS, 0.5)
    assert select(PAIRS, "one-to-one", 0.5, one_to_one="hungarian") == one_to_one_hungarian(PAIRS, 0.5)
    with pytest.raises(ValueError):
        select(PAIRS, "nearest", 0.5)
    with pytest.raises(ValueError):
        select(PAIRS, "all", 1.5)
    with pytest.raises(ValueError):
        select(PAIRS, "one-to-one", 0.5, one_to_one="auction")
    assert Policy.BEST.is_local and not Policy.ONE_TO_ONE.is_local


def test_policies_do_not_depend_on_input_order() -> None:
    shuffled = PAIRS[:]
    random.Random(3).shuffle(shuffled)
    for policy in Policy:
        assert select(shuffled, policy, 0.3) == select(PAIRS, policy, 0.3)


def test_scored_pair_validation() -> None:
    with pytest.raises(ValidationError):
        P("a", "x", 1.2)
    with pytest.raises(ValidationError):
        P("a", "x", float("nan"))
    with pytest.raises(ValidationError):
        P("", "x", 0.5)


def test_report_from_query_rows() -> None:
    rep = report_from([{"outcome": "created", "pairs": 3}, {"outcome": "reviewed", "pairs": 1}], 5)
    assert rep == WriteReport(pairs=5, created=3, reviewed=1, skipped=1, batches=1)
    assert (rep + rep).created == 6


def test_both_merge_templates_share_their_rules() -> None:
    """Two templates differ only in how they find the endpoints (index-friendly for
    property-filtered sides); what they do to the edge must stay identical."""
    from kgn_align.cypher import load_text

    fast, generic = load_text("writeback_merge"), load_text("writeback_merge_generic")
    tail = fast[fast.index("MERGE (a)"):]
    assert tail == generic[generic.index("MERGE (a)"):]


def test_both_retract_templates_share_their_rules_and_keep_what_the_batch_writes() -> None:
    """Like the merge templates: the edges a retraction may delete are decided alike in
    both; the step lists every source of the batch, with what it keeps (none: all go)."""
    from kgn_align.config import AlignConfig, GraphSide
    from kgn_align.cypher import load_text
    from kgn_align.writeback import ScoredPair, retract_step

    fast, generic = load_text("writeback_retract"), load_text("writeback_retract_generic")
    rules = "  AND r.review IS NULL AND r.model IS NOT NULL"
    assert fast[fast.index(rules):] == generic[generic.index(rules):]
    config = AlignConfig(source=GraphSide(name="a", label="E", property="graph", value="a"),
                         target=GraphSide(name="b", label="E", property="graph", value="b"))
    name, params, _ = retract_step(config, ["s1", "s2", "s3"],
                                   [ScoredPair(source="s1", target="t1", score=0.9),
                                    ScoredPair(source="s1", target="t2", score=0.6),
                                    ScoredPair(source="s3", target="t3", score=0.7)])
    assert name == "writeback_retract"
    assert params["sources"] == [{"key": "s1", "keep": ["t1", "t2"]}, {"key": "s2", "keep": []},
                                 {"key": "s3", "keep": ["t3"]}]


def test_merge_template_follows_the_sides() -> None:
    from kgn_align.config import AlignConfig, GraphSide
    from kgn_align.writeback import ModelStamp, merge_step

    stamp = ModelStamp(model="m", method="x")
    both = AlignConfig(source=GraphSide(name="a", label="E", property="graph", value="a"),
                       target=GraphSide(name="b", label="E", property="graph", value="b"))
    labels = AlignConfig(source=GraphSide(name="a", label="A"),
                         target=GraphSide(name="b", label="B", property="graph", value="b"))
    assert merge_step(both, [], stamp)[0] == "writeback_merge"
    name, params, identifiers = merge_step(labels, [], stamp)
    assert name == "writeback_merge_generic"
    assert identifiers["source_property"] == "key" and params["source_value"] is None


def test_preview_follows_the_merge_and_retraction_rules() -> None:
    """A dry run's preview: a new pair is created; one with the same model, method and a
    score within the tolerance unchanged; another model's updated; a reviewed edge kept;
    a model edge of a batch source no longer chosen retracted, but never an imported link
    (no model), a reviewed edge, or another source's edge."""
    from kgn_align.writeback import Edge, ModelStamp, ScoredPair, preview_batch

    stamp = ModelStamp(model="m2", method="gnn")
    existing = [
        Edge(source="s1", target="t1", score=0.9, model="m2", method="gnn"),
        Edge(source="s2", target="t2", score=0.8, model="m1", method="gnn"),
        Edge(source="s3", target="t3", review="accepted"),
        Edge(source="s4", target="t4", score=0.7, model="m1", method="gnn"),
        Edge(source="s4", target="t9", score=None, model=None),  # imported link
        Edge(source="s4", target="t8", review="rejected"),
        Edge(source="s9", target="t9", score=0.6, model="m1", method="gnn"),  # not in the batch
    ]
    pairs = [ScoredPair(source="s1", target="t1", score=0.9 + 1e-7),
             ScoredPair(source="s2", target="t2", score=0.8),
             ScoredPair(source="s3", target="t3", score=0.95),
             ScoredPair(source="s5", target="t5", score=0.6)]
    report, rows = preview_batch(existing, ["s1", "s2", "s3", "s4", "s5"], pairs, stamp)
    change = {(r[0], r[1]): r[-1] for r in rows}
    assert change == {("s1", "t1"): "unchanged", ("s2", "t2"): "updated", ("s3", "t3"): "reviewed",
                      ("s5", "t5"): "created", ("s4", "t4"): "retracted"}
    assert (report.created, report.updated, report.unchanged, report.reviewed, report.retracted) == (1, 1, 1, 1, 1)
    assert report.pairs == 4 and report.batches == 1
    retracted = next(r for r in rows if r[-1] == "retracted")
    assert retracted[2:5] == (0.7, "m1", "gnn")  # what the edge holds now
