"""Reviews rule what the model may write (kgn_align.writeback.Reviews)."""

from __future__ import annotations

from kgn_align.writeback import Policy, Reviews, ScoredPair, select, shared_targets


def pairs(*rows: tuple[str, str, float]) -> list[ScoredPair]:
    return [ScoredPair(source=s, target=t, score=p) for s, t, p in rows]


def test_accepted_sources_get_nothing_rejected_pairs_are_skipped() -> None:
    reviews = Reviews([("s1", "t1", "accepted"), ("s2", "t2", "rejected")])
    scored = pairs(("s1", "t9", 0.99), ("s2", "t2", 0.95), ("s2", "t3", 0.6), ("s3", "t1", 0.9))
    allowed = reviews.allowed(scored, Policy.BEST)
    # best falls back to s2's next candidate; s3 may still take t1 under 'best'
    assert [(p.source, p.target) for p in select(allowed, Policy.BEST, 0.5)] == [("s3", "t1"), ("s2", "t3")]
    one_to_one = reviews.allowed(scored, Policy.ONE_TO_ONE)
    assert [(p.source, p.target) for p in one_to_one] == [("s2", "t3")]  # t1 is taken by s1


def test_no_reviews_change_nothing_and_shared_targets_are_counted() -> None:
    scored = pairs(("a", "x", 0.9), ("b", "x", 0.8), ("c", "y", 0.7))
    assert Reviews().allowed(scored, Policy.BEST) == scored and not Reviews()
    assert shared_targets(select(scored, Policy.BEST, 0.5)) == 1
    assert shared_targets(select(scored, Policy.ONE_TO_ONE, 0.5)) == 0
