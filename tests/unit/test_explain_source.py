"""``kgn-align explain SOURCE``: what a backfill does with each of a source's candidates,
in words (pure decision rules; the integration test runs it on both servers against the
edges a backfill wrote)."""

from __future__ import annotations

from kgn_align.explaining import CandidateOutcome, SourceView, render_source, source_outcomes, source_verdict
from kgn_align.writeback import Policy, ScoredPair, Reviews, select


def _pairs(*rows: tuple[str, str, float]) -> list[ScoredPair]:
    return [ScoredPair(source=s, target=t, score=x) for s, t, x in rows]


def _explain(source: str, pairs: list[ScoredPair], labelled=(), policy=Policy.BEST, threshold=0.5):
    reviews = Reviews(labelled)
    chosen = select(reviews.allowed(pairs, policy), policy, threshold)
    mine = [p for p in pairs if p.source == source]
    outcomes = source_outcomes(source, mine, chosen, reviews.rejected, threshold, policy)
    accepted = sorted(t for s, t, r in labelled if s == source and r == "accepted")
    return outcomes, source_verdict(source, outcomes, accepted, threshold, policy, 20)


def test_the_chosen_edge_and_why_the_others_are_not() -> None:
    outcomes, verdict = _explain("s1", _pairs(("s1", "t2", 0.4), ("s1", "t1", 0.9), ("s1", "t3", 0.7)))
    assert [(p.target, why.split(":")[0].split(" (")[0]) for p, why in outcomes] == [
        ("t1", "chosen"), ("t3", "another candidate scores higher"), ("t2", "below the threshold")]
    assert verdict == "a backfill writes SAME_AS to t1 (score 0.9000)"


def test_a_tie_says_the_smaller_key_wins() -> None:
    outcomes, _ = _explain("s1", _pairs(("s1", "t9", 0.9), ("s1", "t1", 0.9)))
    assert outcomes[0][0].target == "t1" and outcomes[0][1].startswith("chosen")
    assert "ties go to the smallest target key" in outcomes[1][1]


def test_below_the_threshold_names_the_best_candidate_and_its_score() -> None:
    outcomes, verdict = _explain("s1", _pairs(("s1", "t1", 0.31), ("s1", "t2", 0.2)))
    assert not any(why.startswith("chosen") for _, why in outcomes)
    assert verdict.startswith("no edge: its best candidate t1 scores 0.3100, below the threshold 0.5")


def test_a_rejected_pair_is_never_written_and_the_next_candidate_is_judged() -> None:
    labelled = [("s1", "t1", "rejected")]
    outcomes, verdict = _explain("s1", _pairs(("s1", "t1", 0.95), ("s1", "t2", 0.6)), labelled)
    assert outcomes[0][1] == "rejected by a review: never written"
    assert verdict == "a backfill writes SAME_AS to t2 (score 0.6000)"
    outcomes, verdict = _explain("s1", _pairs(("s1", "t1", 0.95), ("s1", "t2", 0.2)), labelled)
    assert verdict.startswith("no edge: its best candidate t2 scores 0.2000")
    _, verdict = _explain("s1", _pairs(("s1", "t1", 0.95)), labelled)
    assert verdict == "no edge: every candidate of it was rejected by a review"


def test_one_to_one_names_the_source_that_took_the_target() -> None:
    pairs = _pairs(("s1", "t1", 0.8), ("s2", "t1", 0.95), ("s1", "t2", 0.3))
    outcomes, verdict = _explain("s1", pairs, policy=Policy.ONE_TO_ONE)
    assert outcomes[0][1].startswith("given to source s2 (score 0.9500): one-to-one gives each target once")
    assert verdict.startswith("no edge: its best candidate t1 is given to source s2")
    # under best both sources keep t1
    _, verdict = _explain("s1", pairs, policy=Policy.BEST)
    assert verdict == "a backfill writes SAME_AS to t1 (score 0.8000)"


def test_an_accepted_source_and_a_source_without_candidates() -> None:
    _, verdict = _explain("s1", [], [("s1", "t7", "accepted")])
    assert verdict.startswith("no model edge: it has an accepted SAME_AS to t7")
    _, verdict = _explain("s1", [])
    assert verdict.startswith("no edge: it has no open candidate")


def test_render_lists_the_verdict_the_edges_and_the_candidates() -> None:
    view = SourceView(source="s1", source_name="Paris", model="abc", edges=[
        {"target": "t1", "score": 0.9, "model": "kgn-align/abc", "method": "cg-mualign", "review": None}],
        options={"k": 20, "threshold": 0.5, "policy": "best", "bootstrap": True}, accepted=[],
        candidates=[CandidateOutcome(target="t1", name="Paris", score=0.9, outcome="chosen: a backfill writes this edge"),
                    CandidateOutcome(target="t2", name="Lyon", score=0.1, outcome="below the threshold (0.5)")],
        verdict="a backfill writes SAME_AS to t1 (score 0.9000)")
    text = render_source(view, top=1)
    assert text.splitlines()[1] == "  a backfill writes SAME_AS to t1 (score 0.9000)"
    assert "  -> t1: score 0.9 (cg-mualign, kgn-align/abc)" in text
    assert "0.900000  t1  'Paris'  chosen" in text and "Lyon" not in text  # --top 1
    assert "(1 of 2; --top shows more)" in text
