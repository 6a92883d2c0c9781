"""Reviews rule what the model may write (kgn_align.writeback.Reviews)."""

from __future__ import annotations

from kgn_align.writeback import Policy, Reviews, ScoredPair, select, shared_targets


def pairs(*rows: tuple[str, str, float]) -> list[ScoredPair]:
    return [ScoredPair(source=s, target=t, score=p) for s, t, p in rows]


def test_accepted_sources_get_nothing_rejected_pairs_are_skipped() -> None:
    reviews = Reviews([("s1", "t1", "accepted"), ("s2", "t2", "rejected")])
    scored = pairs(("s1", "t9", 0.99), ("s2", "t2", 0.95), ("s2", "t3", 0.6), ("s3", "t1", 0.9))
    # best falls back to s2's next candidate; t1, accepted for s1, goes to no other source
    # under any policy (the trained model's scorer never offered it; the names scorer did)
    for policy in Policy:
        allowed = reviews.allowed(scored, policy)
        assert [(p.source, p.target) for p in allowed] == [("s2", "t3")], policy


def test_no_reviews_change_nothing_and_shared_targets_are_counted() -> None:
    scored = pairs(("a", "x", 0.9), ("b", "x", 0.8), ("c", "y", 0.7))
    assert Reviews().allowed(scored, Policy.BEST) == scored and not Reviews()
    assert shared_targets(select(scored, Policy.BEST, 0.5)) == 1
    assert shared_targets(select(scored, Policy.ONE_TO_ONE, 0.5)) == 0


def test_targets_held_outside_the_run_are_reviews_the_resume_applies() -> None:
    """A partial one-to-one run's targets held by other sources' model edges rule like a
    review: a resume's retraction looks at them too (it returned at once when there were no
    accepted or rejected pairs, as the reviews then counted as none; a code review)."""
    held = Reviews()
    held.held_targets = {"t1"}
    assert held and held.rules_out("s1", "t1", one_to_one=True) and not held.rules_out("s1", "t1")
